"""`a2f`, the command line. Each subcommand lives in its own module, imported only when used,
so `a2f infer` runs on numpy alone and never imports torch."""

import argparse
import importlib
import signal
import sys

from a2f_core import __version__
from a2f_core.errors import A2FError

# name -> (module with add_arguments(parser) and run(args) -> int, one-line help)
COMMANDS = {
    "infer": ("a2f_core.cli.infer", "animate an audio file with a checkpoint (numpy only)"),
    "synth": ("training.synth.cli", "synthesise a speech + face-motion training dataset"),
    "train": ("training.train", "train a model on a dataset"),
    "eval": ("training.evaluate", "measure a checkpoint on a dataset"),
    "emotions": ("training.emotion_mining", "mine, list and edit a checkpoint's emotions"),
    "contact": ("training.lip_contact.fit", "train a weights model's lip contact head and detector"),
    "import": ("training.importers.cli", "import captures: vocaset, livelink, blend"),
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="a2f", description="Audio-driven facial animation (Karras et al. 2017).",
        epilog="Run 'a2f COMMAND --help' for a command's options.")
    parser.add_argument("--version", action="version", version=f"a2f {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the command being run is imported
            module = importlib.import_module(module_name)
            module.add_arguments(command)
            command.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.run(args) or 0
    except A2FError as e:
        print(f"a2f {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"a2f {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"a2f {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so cleanup (a half-written file's removal) runs as
    it does for Ctrl-C instead of the process vanishing mid-write."""


def _terminate(signum, frame):
    raise Terminated()


if __name__ == "__main__":
    sys.exit(main())
