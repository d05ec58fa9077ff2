"""`a2f import vocaset|livelink|blend`: each format's module supplies add_arguments and run."""

import importlib

FORMATS = {
    "vocaset": ("training.importers.vocaset", "VOCASET: FLAME meshes at 60 fps with audio"),
    "livelink": ("training.importers.livelink", "Live Link Face CSV: ARKit weights, paired audio"),
    "blend": ("training.importers.blend", "an animated Blender scene: sound strips + face"),
}


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    for name, (module_name, help_text) in FORMATS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, description=module.__doc__.split("\n\n")[0])
        module.add_arguments(command)
        command.set_defaults(import_run=module.run)


def run(args) -> int:
    return args.import_run(args)
