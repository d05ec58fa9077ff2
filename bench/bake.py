"""Blender bake benchmark: 60 s of audio onto a 52-shape-key mesh, headless, with PyPI bpy.

    .venv-bpy-4.5/bin/python -m bench.bake [--seconds 60]

`bake_seconds()` times the whole bake as the add-on does it, audio file to keys (read and
resample the audio, load the checkpoint, run the network, write 52 F-curves in bulk), and
the same keys written one `keyframe_insert` at a time, the way UI code and naive add-ons do.
Target: <= 0.5 s per minute of audio.
"""

import argparse
import json
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402  (PyPI bpy: run under a .venv-bpy-* venv)

from a2f_core.arkit import ARKIT_NAMES  # noqa: E402
from a2f_core.checkpoint import random_checkpoint  # noqa: E402
from blender_addon import audio_source, bake, checkpoints, compat  # noqa: E402

FPS = 30


def _speech_wav(path: Path, seconds: float, rate=44100):
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 140 * t) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((x * 32767).astype("<i2").tobytes())


def _face():
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = FPS, 1.0
    mesh = bpy.data.meshes.new("Face")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    obj = bpy.data.objects.new("Face", mesh)
    bpy.context.scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis")
    for name in ARKIT_NAMES:
        obj.shape_key_add(name=name)
    return obj


def bake_seconds(seconds: float = 60.0) -> dict:
    """Time one bulk bake of `seconds` of audio and the keyframe_insert equivalent."""
    with tempfile.TemporaryDirectory() as tmp:
        wav, ckpt = Path(tmp) / "speech.wav", Path(tmp) / "weights.safetensors"
        _speech_wav(wav, seconds)
        random_checkpoint(ckpt, kind="weights", seed=0)
        obj = _face()
        scene = bpy.context.scene
        start = time.perf_counter()
        checkpoint = checkpoints.load(str(ckpt))
        clip = audio_source.clip_from_file(scene, wav)
        result = bake.BakeJob(obj, clip, checkpoint, checkpoint.emotions["neutral"],
                              bake.BakeSettings()).run()
        bake_s = time.perf_counter() - start
        keys = sum(len(fc.keyframe_points) for fc in compat.active_fcurves(obj.data.shape_keys))

        values = {fc.data_path: [k.co[1] for k in fc.keyframe_points]
                  for fc in compat.active_fcurves(obj.data.shape_keys)}
        obj = _face()
        key = obj.data.shape_keys
        key.animation_data_create().action = None
        start = time.perf_counter()
        for name in ARKIT_NAMES:
            block = key.key_blocks[name]
            for frame, value in zip(clip.frames, values[bake._key_value_path(name)]):
                block.value = value
                block.keyframe_insert("value", frame=frame)
        insert_s = time.perf_counter() - start
    return {"blender": bpy.app.version_string, "audio_seconds": seconds, "frames": clip.frame_count,
            "keys": keys, "channels": len(result.keyed), "bake_s": round(bake_s, 3),
            "bake_s_per_audio_minute": round(bake_s * 60 / seconds, 3),
            "keyframe_insert_s": round(insert_s, 3), "keyframe_insert_ratio": round(insert_s / bake_s, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    print(json.dumps(bake_seconds(parser.parse_args(argv).seconds)))


if __name__ == "__main__":
    main()
