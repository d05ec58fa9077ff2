"""`python -m demo --fast` end to end: real espeak-ng, the bpy 4.5 venv, real renders.

The demo's output is checked from the outside: the video is read back by Blender (frames and an
audio stream), the .blend is reopened in the bpy venv, the PNGs are decoded.
"""

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BPY_PYTHON = REPO / ".venv-bpy-4.5" / "bin" / "python"
pytestmark = [pytest.mark.slow, pytest.mark.blender]  # renders a scene in Blender

# Runs in the bpy venv: argv = [-c, demo.blend, demo.mp4]; prints one JSON line.
PROBE = """
import json, sys
import bpy, aud
from blender_addon import nla
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
scene = bpy.context.scene
faces = {}
for obj in bpy.data.objects:
    if obj.type == "MESH" and obj.data.shape_keys and obj.parent is None:
        curves = {fc.data_path.split('"')[1]: len(fc.keyframe_points)
                  for fc in nla.latest_bake_fcurves(obj.data.shape_keys)}
        faces[obj.name] = {"action": nla.bake_strips(obj.data.shape_keys)[-1].action.name,
                           "keys": len(obj.data.shape_keys.key_blocks), "curves": curves}
clip = bpy.data.movieclips.load(sys.argv[2])
sound = aud.Sound(sys.argv[2])
parts = sorted(o.name for o in bpy.data.objects if o.parent and o.parent.name == "Face_happy")
turned = sorted(o.name for o in bpy.data.objects if nla.bake_strips(o))
print("PROBE " + json.dumps({"parts": parts, "turned": turned,
    "fps": scene.render.fps / scene.render.fps_base, "range": [scene.frame_start, scene.frame_end],
    "sounds": [s.filepath for s in bpy.data.sounds], "faces": faces, "camera": bool(scene.camera),
    "lights": len(bpy.data.lights), "video_frames": clip.frame_duration,
    "audio_samples": sound.length}))
"""


def run_demo(*args, out):
    return subprocess.run([sys.executable, "-m", "demo", "--bpy-python", str(BPY_PYTHON),
                           "--out", str(out), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, weights_ckpt):
    if not BPY_PYTHON.is_file():
        pytest.fail(f"{BPY_PYTHON} is missing; `make .venv-bpy-4.5/stamp` creates it")
    out = tmp_path_factory.mktemp("demo_out")
    done = run_demo("--fast", "--checkpoint", str(weights_ckpt), out=out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout


def test_prints_where_everything_is(demo):
    out, stdout = demo
    assert f"blender {out}/demo.blend" in stdout
    for name in ("demo.mp4", "contact_sheet.png", "curves.png", "curves.npz", "line.wav"):
        assert name in stdout and (out / name).stat().st_size > 0


def test_blend_has_both_bakes_and_video_has_frames_and_sound(demo):
    out, _ = demo
    done = subprocess.run([str(BPY_PYTHON), "-c", PROBE, str(out / "demo.blend"), str(out / "demo.mp4")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    probe = json.loads(lines[0][len("PROBE "):])
    frames = probe["range"][1] - probe["range"][0] + 1
    assert probe["fps"] == 30 and frames > 150  # ~7 s of speech
    assert probe["sounds"] == ["//line.wav"] and probe["camera"] and probe["lights"] == 3
    assert sorted(probe["faces"]) == ["Face_happy", "Face_neutral"]
    assert probe["parts"] == [f"Face_happy_{p}" for p in ("eye_left", "eye_right", "eyelashes",
                                                          "gums_tongue", "teeth")]
    # the liveliness layer turns the heads and their eyes (objects with rotations, not keys)
    assert probe["turned"] == [f"Face_{e}{s}" for e in ("happy", "neutral")
                               for s in ("", "_eye_left", "_eye_right")]
    for face in probe["faces"].values():
        # Basis + the scan's 51 ARKit keys (no tongueOut) + cheekRaiser, PupilDilateRight
        assert face["action"].startswith("line") and face["keys"] == 55
        assert face["curves"]["jawOpen"] == frames and len(face["curves"]) == 51
    assert probe["video_frames"] == 10  # the fast mode's short video
    assert probe["audio_samples"] > 0.25 * 48000  # AAC track under the 10 frames (1/3 s)


def test_curves_differ_by_emotion_and_move_the_jaw(demo):
    out, _ = demo
    data = np.load(out / "curves.npz")
    weights, names = data["weights"], list(data["names"])
    assert list(data["emotions"]) == ["neutral", "happy"] and weights.shape[:2] == (2, len(data["frames"]))
    jaw = weights[:, :, names.index("jawOpen")]
    assert (jaw.std(axis=1) > 0.05).all()
    assert np.abs(weights[1] - weights[0]).mean() > 0.01


def test_pngs_show_something(demo):
    out, _ = demo
    moments = json.loads((out / "moments.json").read_text())
    assert len(moments) >= 4 and len({m["frame"] for m in moments}) == len(moments)
    for m in moments:
        frame = plt.imread(out / "frames" / f"frame_{m['frame']:04d}.png")
        assert frame.shape[:2] == (100, 160)
        assert frame[..., :3].std() > 0.05  # faces on the background, not a blank image
    for name, min_size in (("contact_sheet.png", (500, 1200)), ("curves.png", (500, 800))):
        image = plt.imread(out / name)
        assert image.shape[0] >= min_size[0] and image.shape[1] >= min_size[1]
        assert image[..., :3].std() > 0.05


def test_unknown_emotion_fails_with_one_line(tmp_path, weights_ckpt):
    done = run_demo("--fast", "--checkpoint", str(weights_ckpt), "--emotion", "furious", out=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "a2f demo: error: --emotion 'furious': choose one of happy, sad"
