"""The demo's Blender half, run by path with the bpy venv's Python (or `blender -b --python`).

    python demo/blender_main.py -- --audio A.wav --checkpoint C --emotion happy --out DIR [--fast]

Builds the scene (blender_scene), bakes each head with the add-on's batch script exactly as a
user would (one call per emotion, saving the .blend in between), then writes the baked curves
(curves.npz), picks the contact-sheet moments (moments.json), renders them and the preview
video. The main venv draws the figures from these files; this process needs only bpy and numpy.
"""

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from a2f_core.timing import scene_fps  # noqa: E402
from blender_addon import batch, nla  # noqa: E402
from demo import blender_render, blender_scene, moments  # noqa: E402
from training.assets.ict_head import load_head  # noqa: E402

FAST_PERCENTAGE, FAST_VIDEO_FRAMES = 25, 10


def _parse(argv):
    parser = argparse.ArgumentParser(prog="blender_main.py")
    parser.add_argument("--audio", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--emotion", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--fast", action="store_true")
    return parser.parse_args(argv[argv.index("--") + 1:] if "--" in argv else [])


def _bake(blend: Path, audio: Path, object_name: str, checkpoint: str, emotion: str):
    status = batch.main(["batch.py", "--", "--scene", str(blend), "--audio", str(audio),
                         "--object", object_name, "--head", object_name,
                         "--left-eye", f"{object_name}_eye_left",
                         "--right-eye", f"{object_name}_eye_right", "--checkpoint", checkpoint,
                         "--emotion", emotion, "--no-sound-strip", "--save", str(blend)])
    if status:
        sys.exit(status)


def _baked_weights(scene, obj, names, frames) -> np.ndarray:
    """(T, C) values the object's bake gives its shape keys names on frames."""
    values = np.zeros((len(frames), len(names)), np.float32)
    for fcurve in nla.latest_bake_fcurves(obj.data.shape_keys):
        name = fcurve.data_path.split('"')[1]
        if name in names:
            values[:, names.index(name)] = [fcurve.evaluate(f) for f in frames]
    return values


def main(argv) -> int:
    args = _parse(argv)
    out, audio = Path(args.out).resolve(), Path(args.audio).resolve()
    blend = out / "demo.blend"
    emotions = ("neutral", args.emotion)
    bpy.context.preferences.filepaths.save_version = 0  # no demo.blend1 backups
    head = load_head()
    heads = blender_scene.build(head, str(audio), emotions)
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    for emotion in emotions:
        _bake(blend, audio, heads[emotion], args.checkpoint, emotion)
    bpy.ops.file.make_paths_relative()  # the sound as //line.wav: demo_out can move
    bpy.ops.wm.save_mainfile(compress=True)

    scene = bpy.context.scene
    frames = np.arange(scene.frame_start, scene.frame_end + 1)
    faces = [bpy.data.objects[heads[e]] for e in emotions]
    weights = np.stack([_baked_weights(scene, f, head.names, frames) for f in faces])
    fps = scene_fps(scene)
    np.savez(out / "curves.npz", fps=fps, frames=frames, names=np.array(head.names),
             emotions=np.array(emotions), weights=weights)
    picked = moments.pick(weights[0], weights[1], head.names)
    (out / "moments.json").write_text(json.dumps(
        [{"frame": int(frames[i]), "seconds": float(i / fps), "label": label} for i, label in picked],
        indent=1))

    if args.fast:
        blender_render.shrink(scene, FAST_PERCENTAGE, FAST_VIDEO_FRAMES)
    blender_render.video(scene, out / "demo.mp4")
    blender_render.stills(scene, [int(frames[i]) for i, _ in picked], out / "frames")
    print(f"a2f demo: baked {len(frames)} frames at {fps:g} fps for {', '.join(emotions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
