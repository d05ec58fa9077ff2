"""Blender benchmarks (items 3, 4 and 6 of `make bench`), headless, with PyPI bpy.

    .venv-bpy-4.5/bin/python -m bench.bake --wav SPEECH.wav [--batch-files 50]

Prints one JSON object:
- `bake_weights`, `bake_vertices`: the whole bake as the add-on does it, audio file to keys
  (read and resample the audio, load the checkpoint, run the network, write F-curves in bulk),
  onto a 52-shape-key mesh and onto the demo head's skin (14,062 vertices) as a vertex-basis bake;
  and the same keys written one `keyframe_insert` at a time, the way UI code and naive add-ons do.
- `numpy_inference`: the network alone on the same audio, with Blender's numpy.
- `batch`: N short files baked onto one mesh by one `batch.py` process (one Blender start and
  one model load), its wall time, and how much of it is starting bpy and loading the model.
- `register`: the add-on's register() in a fresh process, after `import bpy`.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402  (PyPI bpy: run under a .venv-bpy-* venv)

from a2f_core.arkit import ARKIT_NAMES  # noqa: E402
from a2f_core.checkpoint import random_checkpoint  # noqa: E402
from blender_addon import audio_source, bake, checkpoints, nla  # noqa: E402
from training.assets.ict_head import load_head  # noqa: E402

FPS = 30


def _mesh(name, vertices, faces, shape_keys=()):
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = FPS, 1.0
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in vertices], [], [tuple(f) for f in faces])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for key in shape_keys:
        obj.shape_key_add(name=key)
    return obj


def _arkit_face():
    return _mesh("Face", [(0, 0, 0), (1, 0, 0), (0, 1, 0)], [(0, 1, 2)], ARKIT_NAMES)


def _demo_skin():
    skin = load_head().skin()
    return _mesh("Head", skin.vertices, skin.polygons("skin"))


def bake_seconds(make_obj, ckpt: Path, wav: Path) -> dict:
    """Time one bulk bake of wav onto make_obj() and the keyframe_insert equivalent."""
    obj = make_obj()
    scene = bpy.context.scene
    start = time.perf_counter()
    checkpoint = checkpoints.load(str(ckpt))
    clip = audio_source.clip_from_file(scene, wav)
    bake.BakeJob(obj, clip, checkpoint, checkpoint.emotions["neutral"], bake.BakeSettings()).run()
    bake_s = time.perf_counter() - start
    fcurves = list(nla.latest_bake_fcurves(obj.data.shape_keys))
    values = {fc.data_path: [k.co[1] for k in fc.keyframe_points] for fc in fcurves}
    keys = sum(len(v) for v in values.values())

    obj = make_obj()
    key = obj.data.shape_keys
    for path in values:  # the vertex basis creates its shape keys when baking
        name = path.split('"')[1]
        if name not in key.key_blocks:
            obj.shape_key_add(name=name)
    key.animation_data_create().action = None
    start = time.perf_counter()
    for path, column in values.items():
        block = key.key_blocks[path.split('"')[1]]
        for frame, value in zip(clip.frames, column):
            block.value = value
            block.keyframe_insert("value", frame=frame)
    insert_s = time.perf_counter() - start
    seconds = len(clip.samples) / 16000
    return {"audio_seconds": round(seconds, 2), "frames": clip.frame_count, "fcurves": len(values),
            "keys": keys, "bake_s": round(bake_s, 3),
            "bake_s_per_audio_minute": round(bake_s * 60 / seconds, 3),
            "keyframe_insert_s": round(insert_s, 3),
            "keyframe_insert_ratio": round(insert_s / bake_s, 1)}


def inference_seconds(ckpt: Path, wav: Path, repeats=3) -> dict:
    """The network alone (numpy inside Blender), best of a few runs."""
    from a2f_core.audio import load_audio
    from a2f_core.checkpoint import load_checkpoint
    from a2f_core.infer import Animator

    samples = load_audio(wav)
    animator = Animator(load_checkpoint(ckpt))
    emotion = animator.checkpoint.emotions["neutral"]
    best = min(_timed(lambda: animator.animate(samples, FPS, emotion)) for _ in range(repeats))
    return {"numpy": np.__version__, "s_per_audio_minute": round(best * 60 * 16000 / len(samples), 3)}


def batch(ckpt: Path, wav: Path, tmp: Path, files: int) -> dict:
    """`files` short clips (3 s each, cut from wav) baked by one batch.py process."""
    import wave

    with wave.open(str(wav), "rb") as f:
        rate, width, channels = f.getframerate(), f.getsampwidth(), f.getnchannels()
        raw = f.readframes(f.getnframes())
    step = 3 * rate * width * channels
    paths = []
    for i in range(files):
        path = tmp / f"clip{i:02d}.wav"
        with wave.open(str(path), "wb") as f:
            f.setnchannels(channels), f.setsampwidth(width), f.setframerate(rate)
            f.writeframes(raw[i * step % (len(raw) - step):][:step])
        paths.append(path)
    scene = tmp / "scene.blend"
    _arkit_face()
    bpy.ops.wm.save_as_mainfile(filepath=str(scene))
    command = [sys.executable, str(ROOT / "blender_addon" / "batch.py"), "--", "--scene", str(scene),
               "--object", "Face", "--checkpoint", str(ckpt)]
    for path in paths:
        command += ["--audio", str(path)]
    wall = _timed(lambda: subprocess.run(command, check=True, capture_output=True))
    startup = _timed(lambda: subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); import bpy; "
         f"from blender_addon import checkpoints; checkpoints.load({str(ckpt)!r})"], check=True))
    return {"files": files, "seconds_each": 3, "wall_s": round(wall, 2),
            "files_per_minute": round(files * 60 / wall, 1),
            "bpy_start_and_model_load_s": round(startup, 2)}


_REGISTER = """
import os, sys, time
sys.path.insert(0, {root!r})
import bpy
before = set(sys.modules)
start = time.perf_counter()
import blender_addon
blender_addon.register()
ms = (time.perf_counter() - start) * 1000
heavy = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("numpy", "a2f_core")
               or m.startswith("blender_addon."))
blender_addon.unregister()
print(ms)
print(" ".join(heavy), flush=True)
os._exit(0)  # bpy can hang in its atexit handlers after an add-on was registered
"""


def register_ms(repeats=5) -> dict:
    """register() of the add-on in a fresh process, after bpy is imported (best of a few)."""
    code = _REGISTER.format(root=str(ROOT))
    runs = [subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                           text=True, timeout=120).stdout.split("\n") for _ in range(repeats)]
    imported = runs[0][1].split()
    return {"register_ms": round(min(float(r[0]) for r in runs), 1),
            "addon_modules_imported": [m for m in imported if m.startswith(("blender_addon.", "a2f_core."))]}


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wav", type=Path, required=True, help="speech to bake (WAV)")
    parser.add_argument("--batch-files", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = random_checkpoint(tmp / "weights.safetensors", seed=0)
        vertices = random_checkpoint(tmp / "vertices.safetensors", kind="vertices",
                                     template=load_head().skin().vertices, seed=0)
        result = {"blender": bpy.app.version_string,
                  "numpy_inference": inference_seconds(weights, args.wav),
                  "bake_weights": bake_seconds(_arkit_face, weights, args.wav),
                  "bake_vertices": bake_seconds(_demo_skin, vertices, args.wav),
                  "batch": batch(weights, args.wav, tmp, args.batch_files),
                  "register": register_ms()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
