"""Read takes out of an animated Blender scene; runs where `bpy` is (Blender or PyPI bpy).

    python -m training.importers.blend_scene FILE.blend --object Face --out DIR   (a bpy Python)
    blender -b --factory-startup --python training/importers/blend_scene.py -- FILE.blend ...

Each sound strip (or each --strip) is one take covering the strip's visible frames, timed by the
add-on's rule (a2f_core.timing). The face is sampled on every
frame after `frame_set`, so drivers, NLA and modifiers count: `--kind weights` records the values
of the object's shape keys (channel names = key names), `--kind vertices` the evaluated mesh in
object space, with the basis shape as template and the vertex group --lip-group as lip region.
`a2f import blend` (training/importers/blend.py) starts this with a Python that has bpy.
"""

import argparse
import os
import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # run by path: find a2f_core and training after bpy's own packages
    sys.path.append(str(Path(__file__).resolve().parents[2]))

import numpy as np

from a2f_core.audio import SAMPLE_RATE, load_audio, prepare
from a2f_core.errors import A2FError
from a2f_core.timing import scene_fps, strip_start_seconds
from training.dataset import write_take
from training.importers import common


def add_arguments(parser) -> None:
    parser.add_argument("blend", help="the animated .blend file")
    parser.add_argument("--object", required=True, help="mesh object carrying the face animation")
    parser.add_argument("--strip", action="append", default=[], metavar="NAME",
                        help="sound strip to import (repeatable; default: every sound strip)")
    parser.add_argument("--kind", choices=("weights", "vertices"), default="weights",
                        help="shape-key values, or evaluated vertex positions (default weights)")
    parser.add_argument("--lip-group", default="lips", help="vertex group of the lips "
                                                            "(--kind vertices; default 'lips')")
    parser.add_argument("--upper-lip-group", default="upper_lip",
                        help="optional vertex group for the bilabial metric")
    parser.add_argument("--lower-lip-group", default="lower_lip",
                        help="optional vertex group for the bilabial metric")
    common.add_common_arguments(parser)


def argv_of(args) -> list:
    """The command line that add_arguments parses into args (to hand over to another Python)."""
    argv = [args.blend, "--object", args.object, "--kind", args.kind, "--out", args.out,
            "--lip-group", args.lip_group, "--upper-lip-group", args.upper_lip_group,
            "--lower-lip-group", args.lower_lip_group,
            "--max-length-mismatch", repr(args.max_length_mismatch)]
    for strip in args.strip:
        argv += ["--strip", strip]
    if args.val:
        argv += ["--val", *args.val]
    return argv + (["--skip-invalid"] if args.skip_invalid else [])


def main(argv=None) -> int:
    argv = sys.argv[sys.argv.index("--") + 1:] if argv is None and "--" in sys.argv else argv
    parser = argparse.ArgumentParser(prog="a2f import blend", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        import_blend(args)
    except A2FError as e:
        print(f"a2f import blend: error: {e}", file=sys.stderr)
        return 1
    return 0


def import_blend(args) -> Path:
    import bpy

    path = Path(args.blend)
    if not path.is_file():
        raise A2FError(f"{path} not found")
    try:
        bpy.ops.wm.open_mainfile(filepath=str(path.resolve()))
    except RuntimeError as e:  # Blender's "Error: Cannot read file ...: File format is not supported"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else "unreadable"
        raise A2FError(f"Blender cannot open {path} ({reason.removeprefix('Error: ')}); give a "
                       ".blend file saved by Blender") from None
    scene = bpy.context.scene
    obj = bpy.data.objects.get(args.object)
    if obj is None or obj.type != 'MESH':
        meshes = ", ".join(o.name for o in bpy.data.objects if o.type == 'MESH') or "none"
        raise A2FError(f"no mesh object {args.object!r} in {path}; meshes: {meshes}")
    strips = _strips(scene, args.strip)
    fps = scene_fps(scene)
    out = common.new_output_folder(args.out)
    report = common.ImportReport("blend")
    names = _channel_names(obj) if args.kind == "weights" else None
    entries = []
    for strip in strips:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", strip.name).lstrip("._-") or "strip"
        first, end = int(strip.frame_final_start), int(strip.frame_final_end)
        motion = _sample(scene, obj, range(first, end), args.kind)
        bad = common.nonfinite_problem(motion, args.kind)
        if bad:
            report.problem(name, bad)
            continue
        if args.kind == "weights":
            _note_still_keys(report, name, names, motion)
        start = strip_start_seconds(strip, fps)
        try:
            sound = _read_sound(strip)
        except A2FError as e:
            report.problem(name, str(e))
            continue
        skip = max(0, int(round(start * SAMPLE_RATE)))
        audio = sound[skip:skip + int(round(len(motion) / fps * SAMPLE_RATE))]
        if skip or len(sound) > skip + len(audio):
            report.note(name, f"the strip plays {start:.3f} to "
                              f"{(skip + len(audio)) / SAMPLE_RATE:.3f} s of its "
                              f"{len(sound) / SAMPLE_RATE:.3f} s sound; only that is imported")
        paired = common.pair(report, name, audio, motion, fps, args.max_length_mismatch)
        if paired is not None:
            entries.append(write_take(out, name, paired[0], paired[1], {
                "voice": None, "language": None, "emotion": None, "phonemes": None,
                "synthesiser": None, "split": common.split_of(name, args.val),
                "strip": strip.name, "frames": [first, end - 1]}))
    dataset = {"fps": fps, "kind": args.kind, "extra_info": None,
               "provenance": {"source": f"Blender scene {path.resolve()}", "licence":
                              "LicenseRef-Proprietary", "object": obj.name,
                              "blender": bpy.app.version_string}}
    if args.kind == "weights":
        dataset["channel_names"] = names
    else:
        dataset.update(_template_and_lips(obj, args))
    return common.finish(out, report, entries, skip_invalid=args.skip_invalid, **dataset)


def _strips(scene, wanted):
    editor = scene.sequence_editor
    every = [] if editor is None else getattr(
        editor, "strips_all" if hasattr(editor, "strips_all") else "sequences_all")
    sounds = sorted((s for s in every if s.type == 'SOUND'), key=lambda s: s.frame_final_start)
    if wanted:
        missing = sorted(set(wanted) - {s.name for s in sounds})
        if missing:
            raise A2FError(f"no sound strip(s) {', '.join(missing)}; the scene has "
                           f"{', '.join(s.name for s in sounds) or 'none'}")
        return [s for s in sounds if s.name in wanted]
    if not sounds:
        raise A2FError("the scene has no sound strips: add the takes' audio in the Sequencer")
    return sounds


def _channel_names(obj):
    keys = obj.data.shape_keys
    if keys is None or len(keys.key_blocks) < 2:
        raise A2FError(f"{obj.name} has no shape keys besides the basis; use --kind vertices")
    return [k.name for k in keys.key_blocks[1:]]


def _sample(scene, obj, frames, kind):
    """(T, C) shape-key values or (T, V, 3) evaluated vertices, one row per scene frame."""
    import bpy

    rows = []
    for f in frames:
        scene.frame_set(f)
        if kind == "weights":
            rows.append([k.value for k in obj.data.shape_keys.key_blocks[1:]])
            continue
        evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        mesh = evaluated.to_mesh()
        co = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        evaluated.to_mesh_clear()
        rows.append(co.reshape(-1, 3))
    return np.asarray(rows, np.float32)


def _note_still_keys(report, name, names, weights):
    still = [n for n, column in zip(names, weights.T) if np.ptp(column) == 0]
    if len(still) == len(names):
        report.problem(name, "no shape key changes during the strip: nothing is animated")
    elif still:
        report.note(name, f"{len(still)} shape keys do not move: {', '.join(still[:8])}"
                          + (" ..." if len(still) > 8 else ""))


def _read_sound(strip):
    """(N,) float32 16 kHz: Blender's decoder (any format it plays) where it has one."""
    import bpy

    sound = strip.sound
    if sound is None:
        raise A2FError(f"sound strip {strip.name!r} has no sound")
    path = bpy.path.abspath(sound.filepath, library=sound.library)
    try:
        import aud
    except ImportError:  # PyPI bpy 4.2 has no Audaspace
        return load_audio(path)
    try:
        data = np.asarray(aud.Sound(path).resample(SAMPLE_RATE, False).rechannel(1).data())
    except Exception as e:  # aud raises plain Exceptions with C messages
        raise A2FError(f"Blender cannot decode {path}: {e}") from None
    return prepare(data.reshape(-1), SAMPLE_RATE, source=strip.name)


def _template_and_lips(obj, args):
    mesh = obj.data
    basis = mesh.shape_keys.reference_key.data if mesh.shape_keys else mesh.vertices
    template = np.empty(len(basis) * 3, np.float32)
    basis.foreach_get("co", template)
    groups = {}
    for label in (args.lip_group, args.upper_lip_group, args.lower_lip_group):
        group = obj.vertex_groups.get(label)
        groups[label] = None if group is None else [
            v.index for v in mesh.vertices if any(g.group == group.index and g.weight > 0
                                                  for g in v.groups)]
    if not groups[args.lip_group]:
        raise A2FError(f"{obj.name} has no vertex group {args.lip_group!r} with vertices: "
                       "assign the lip vertices to it, or name the group with --lip-group")
    upper, lower = groups[args.upper_lip_group], groups[args.lower_lip_group]
    extra = ({"upper_lip_vertices": upper, "lower_lip_vertices": lower}
             if upper and lower else None)
    return {"template": template.reshape(-1, 3), "lip_vertices": groups[args.lip_group],
            "extra_info": extra}


if __name__ == "__main__":
    status = main()
    # The bpy module (4.5) never finishes interpreter shutdown after opening a file with a
    # Python driver, though the work is done and saved: flush and leave without it.
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(status)
