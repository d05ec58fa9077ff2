"""blender_addon/batch.py end to end, run by path with this venv's bpy module."""

import subprocess
import sys

import bpy
import pytest
from bpy_fixtures import REPO, make_mesh, write_wav

from blender_addon import compat

BATCH = REPO / "blender_addon" / "batch.py"


def run_batch(*args, cwd):
    return subprocess.run([sys.executable, str(BATCH), "--", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def scene_file(scene, tmp_path):
    make_mesh("Face", ["jawOpen", "mouthClose"])
    make_mesh("Other", ["A_jawOpen"])
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    write_wav(tmp_path / "a.wav", 1.0, seed=1)
    write_wav(tmp_path / "b.wav", 0.5, seed=2)
    return tmp_path / "scene.blend"


def test_several_files_and_characters(scene_file, weights_ckpt, tmp_path):
    out = tmp_path / "out.blend"
    done = run_batch("--scene", "scene.blend", "--audio", "a.wav", "--audio", "b.wav", "--object", "Face",
                     "--map", "Other=b.wav", "--checkpoint", str(weights_ckpt.path),
                     "--emotion", "happy=0.8", "--fps", "24", "--save", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("a2f: baked") == 3

    bpy.ops.wm.open_mainfile(filepath=str(out))
    face_key = bpy.data.objects["Face"].data.shape_keys
    strips = [s for t in face_key.animation_data.nla_tracks for s in t.strips]
    assert [(s.action.name, s.frame_start, s.frame_end) for s in strips] == [("a", 1, 24), ("b", 25, 36)]
    assert face_key.animation_data.action is None
    other_key = bpy.data.objects["Other"].data.shape_keys
    assert other_key.animation_data.action.name == "b.001"  # Face took "b" first
    assert [fc.data_path for fc in compat.active_fcurves(other_key)] == ['key_blocks["A_jawOpen"].value']


@pytest.mark.parametrize("args, message", [
    (["--audio", "a.wav", "--object", "Nobody"], "no object 'Nobody' in the scene; objects: Face, Other"),
    (["--audio", "missing.wav", "--object", "Face"], "missing.wav does not exist"),
    (["--audio", "a.wav", "--object", "Face", "--checkpoint", "scene.blend"], "scene.blend"),
    (["--audio", "a.wav", "--object", "Face", "--emotion", "furious"], "unknown emotion 'furious'"),
    (["--audio", "a.wav"], "--audio needs --object"),
])
def test_failures_exit_non_zero_with_one_line(scene_file, weights_ckpt, tmp_path, args, message):
    if "--checkpoint" not in args:
        args = args + ["--checkpoint", str(weights_ckpt.path)]
    done = run_batch("--scene", "scene.blend", *args, cwd=tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("a2f batch: error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
