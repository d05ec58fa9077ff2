"""Headless bakes, one action per audio file.

Inside Blender:  blender -b scene.blend --python blender_addon/batch.py -- --audio A.wav --object Face
With PyPI bpy:   python blender_addon/batch.py -- --scene scene.blend --audio A.wav --object Face

Several --audio files (or folders of them) for one object are laid end to end from the scene's
start frame, each an action in an NLA strip on a track of its own, over the object's own
animation, each with its sound strip; `--map Face=A.wav,Other=B.wav` gives each object its own
audio (several --map, or repeated names, chain more files). Any failure prints one line and
exits with status 1. Run by path with Python, `--help` and the options work without `--`.

Run by path, this file is not part of a package: it puts the folder holding the add-on package
on sys.path and imports the package by its folder name, so the same file works from the source
tree (next to a2f_core) and from an installed add-on (with its vendored a2f_core).
"""

import argparse
import importlib
import os
import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
if __package__ in (None, ""):
    sys.path.insert(0, str(_PACKAGE_DIR.parent))
    _PACKAGE = _PACKAGE_DIR.name
else:
    _PACKAGE = __package__


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"a2f batch: error: {message}\n")


def _parse(argv):
    parser = _Parser(
        prog="batch.py", description="Bake a2f facial animation from audio files, headless.")
    parser.add_argument("--scene", help="open this .blend first (default: Blender's current file, "
                        "or a new empty scene under plain Python)")
    parser.add_argument("--audio", action="append", default=[],
                        help="audio file, or a folder of them baked in name order (repeatable)")
    parser.add_argument("--object", help="mesh (or armature with pose actions) the --audio files "
                        "animate; NAME+NAME+... bakes several (face, teeth, tongue) with the same curves")
    parser.add_argument("--map", action="append", default=[], metavar="OBJ=AUDIO[,OBJ=AUDIO]",
                        help="per-object audio for several characters (repeatable)")
    parser.add_argument("--checkpoint", default="", help="checkpoint file (default: bundled model)")
    parser.add_argument("--emotion", default="", help="e.g. happy or happy=0.8,sad=0.2")
    parser.add_argument("--preset", default="", help="retarget preset: a shipped name "
                        "(oculus_visemes, preston_blair, vrm_vowels, cc4_extended, ...) or a .json file")
    parser.add_argument("--fps", type=float, help="set the scene frame rate, e.g. 24 or 29.97")
    parser.add_argument("--offset-ms", type=float, default=0.0, help="positive: the face lags")
    parser.add_argument("--vertex-output", choices=("SHAPE_KEYS", "POINT_CACHE"),
                        default="SHAPE_KEYS", help="output of vertex checkpoints")
    parser.add_argument("--create-missing-keys", action="store_true",
                        help="add missing ARKit shape keys as empty keys")
    parser.add_argument("--no-lip-contact", dest="lip_contact", action="store_false",
                        help="leave out the checkpoint's lip contact head")
    parser.add_argument("--combine", choices=("REPLACE", "ADD"), default="REPLACE",
                        help="the bake's NLA strips replace (default) or add to the animation below")
    parser.add_argument("--no-sound-strip", dest="sound_strip", action="store_false",
                        help="do not add each audio file to the Sequencer")
    parser.add_argument("--no-frame-range", dest="frame_range", action="store_false",
                        help="leave the scene's frame range as it is")
    parser.add_argument("--save", help="write the result to this .blend")
    for part in ("head", "left-eye", "right-eye"):
        parser.add_argument(f"--{part}", metavar="OBJECT[:BONE]", default="",
                            help=f"key the {part.replace('-', ' ')} rotation on this object, or "
                                 "on a bone of this armature")
    _life_options().add_arguments(parser)
    args = parser.parse_args(argv)
    jobs = {}  # object name -> audio files, in order
    if args.audio:
        if not args.object:
            parser.error("--audio needs --object")
        jobs.setdefault(args.object, []).extend(f for a in args.audio for f in _audio_files(a))
    for entry in ",".join(args.map).split(","):
        if entry:
            name, sep, audio = entry.partition("=")
            if not sep or not name or not audio:
                parser.error(f"--map entry {entry!r} must be OBJECT=AUDIO")
            jobs.setdefault(name, []).extend(_audio_files(audio))
    if not jobs:
        parser.error("give --audio FILE --object NAME, or --map OBJECT=FILE")
    return args, jobs


AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".m4a", ".opus"}


def _audio_files(path) -> list:
    """[path], or a folder's audio files in name order (a folder without any is an error)."""
    folder = Path(path)
    if not folder.is_dir():
        return [path]
    files = sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise SystemExit(f"a2f batch: error: folder {path} holds no audio files "
                         f"({', '.join(sorted(AUDIO_SUFFIXES))})")
    return files


def _life_options():
    """a2f_core.alive.options of the add-on's core (vendored or the source tree's)."""
    core = importlib.import_module(f"{_PACKAGE}.core")
    return importlib.import_module(f"{core.alive.__name__}.options")


def _script_args(argv):
    """The script's own arguments: after `--`, or all of them when Python runs this file."""
    if "--" in argv:
        return argv[argv.index("--") + 1:]
    return argv[1:] if argv and Path(argv[0]).resolve() == Path(__file__).resolve() else []


def run(args, jobs) -> list:
    """Bake every job into the current file; returns one summary line per action."""
    import bpy

    addon = importlib.import_module(_PACKAGE)
    audio_source = importlib.import_module(f"{addon.__name__}.audio_source")
    bake = importlib.import_module(f"{addon.__name__}.bake")
    checkpoints = importlib.import_module(f"{addon.__name__}.checkpoints")
    core = importlib.import_module(f"{addon.__name__}.core")
    life_bake = importlib.import_module(f"{addon.__name__}.life_bake")
    preset = core.retarget.load_preset(args.preset) if args.preset else None

    fps = None if args.fps is None else core.limits.check_fps(args.fps, "--fps")
    if args.scene:
        bpy.ops.wm.open_mainfile(filepath=str(Path(args.scene).resolve()))
    elif not bpy.app.binary_path:  # the bpy module: start from an empty scene
        bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    if fps is not None:
        scene.render.fps = round(fps)
        scene.render.fps_base = scene.render.fps / fps
    checkpoint = checkpoints.load(args.checkpoint)
    emotion_weights = core.emotions.parse_emotion_spec(args.emotion)
    emotion = core.emotions.blend(checkpoint.emotions, emotion_weights)
    life, regions = _life_options().settings_from(args)
    targets = {}
    for part in ("head", "left_eye", "right_eye"):
        name, _, bone = getattr(args, part).partition(":")
        if name:
            if scene.objects.get(name) is None:
                raise core.A2FError(f"--{part.replace('_', '-')}: no object '{name}' in the scene")
            targets[part] = (scene.objects[name], bone)
    mood = life_bake.compose.Mood.from_weights(emotion_weights)
    settings = bake.BakeSettings(vertex_output=args.vertex_output,
                                 create_missing_keys=args.create_missing_keys,
                                 lip_contact=args.lip_contact, blend_type=args.combine, preset=preset,
                                 emotion_label=args.emotion or "neutral",
                                 life=life_bake.LifeBake(life, regions, mood, targets))
    lines = []
    for names, files in jobs.items():
        objs = []
        for name in names.split("+"):
            objs.append(scene.objects.get(name))
            if objs[-1] is None:
                raise core.A2FError(f"no object '{name}' in the scene; objects: "
                                    f"{', '.join(o.name for o in scene.objects) or 'none'}")
        frame = scene.frame_start
        for path in files:
            clip = audio_source.clip_from_file(scene, path, args.offset_ms, frame_first=frame)
            result = bake.BakeJob(objs, clip, checkpoint, emotion, settings).run()
            audio_source.show_in_scene(scene, clip, path, args.sound_strip, args.frame_range)
            frame = clip.frame_first + clip.frame_count
            lines.append(result.summary(clip, objs[0]))
    if args.save:
        _save(bpy, Path(args.save).resolve(), args.save, core.A2FError)
    return lines


def _save(bpy, path: Path, shown: str, error):
    """Save a copy beside path, read it back, then rename it over path. Blender's word is not
    enough: 5.0 reports success for a save cut short by a full disk and leaves the truncated
    file in place, and 4.x says "Error: Success"; a .blend's DNA block is written last, so
    reading the copy back catches a save cut short anywhere."""
    tmp = path.with_name(f".{path.stem}.a2f-saving.blend")
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True)
        with bpy.data.libraries.load(str(tmp)):
            pass
        os.replace(tmp, path)
    except (RuntimeError, OSError):
        tmp.unlink(missing_ok=True)
        raise error(f"cannot save {shown}: Blender could not write it (a full disk, a file size "
                    "limit or no permission); any existing file there is unchanged, free some "
                    "space or choose another path") from None


def main(argv) -> int:
    args, jobs = _parse(_script_args(argv))
    try:
        for line in run(args, jobs):
            print(f"a2f: {line}")
    except Exception as e:  # one line for the user, whatever failed
        print(f"a2f batch: error: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    status = main(sys.argv)
    # The bpy module (4.5) never finishes interpreter shutdown after opening a file with a
    # Python driver, though the work is done and saved: flush and leave without it.
    sys.stdout.flush(), sys.stderr.flush()
    os._exit(status)
