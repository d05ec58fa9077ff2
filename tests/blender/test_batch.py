"""blender_addon/batch.py end to end, run by path with this venv's bpy module."""

import subprocess
import sys

import bpy
import pytest
from bpy_fixtures import HAS_AUD, REPO, make_mesh, write_wav

from blender_addon import compat, nla

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
    assert [t.name for t in face_key.animation_data.nla_tracks] == ["a2f: a (happy=0.8)", "a2f: b (happy=0.8)"]
    other_key = bpy.data.objects["Other"].data.shape_keys
    (strip,) = nla.bake_strips(other_key)
    assert strip.action.name == "b.001"  # Face took "b" first
    assert [fc.data_path for fc in compat.strip_fcurves(strip)] == ['key_blocks["A_jawOpen"].value']
    assert bpy.context.scene.frame_end == 250  # the default range already covers 36 frames
    if HAS_AUD:
        assert [(s.name, s.frame_start) for s in compat.sound_strips(bpy.context.scene)] == [
            ("a", 1), ("b", 25), ("b.001", 1)]


def test_a_folder_of_audio_and_help_without_dashes(scene_file, weights_ckpt, tmp_path):
    folder = tmp_path / "lines"
    folder.mkdir()
    for name in ("b.wav", "a.wav"):
        (folder / name).write_bytes((tmp_path / name).read_bytes())
    (folder / "notes.txt").write_text("not audio")
    out = tmp_path / "out.blend"
    done = run_batch("--scene", "scene.blend", "--audio", "lines", "--object", "Face",
                     "--checkpoint", str(weights_ckpt.path), "--save", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    bpy.ops.wm.open_mainfile(filepath=str(out))
    strips = nla.bake_strips(bpy.data.objects["Face"].data.shape_keys)
    assert [s.action.name for s in strips] == ["a", "b"]

    shown = subprocess.run([sys.executable, str(BATCH), "--help"], capture_output=True, text=True,
                           timeout=120)
    assert shown.returncode == 0 and "--audio" in shown.stdout and "folder" in shown.stdout


@pytest.mark.parametrize("args, message", [
    (["--audio", "a.wav", "--object", "Nobody"], "no object 'Nobody' in the scene; objects: Face, Other"),
    (["--audio", "missing.wav", "--object", "Face"], "missing.wav does not exist"),
    (["--audio", "a.wav", "--object", "Face", "--checkpoint", "scene.blend"], "scene.blend"),
    (["--audio", "a.wav", "--object", "Face", "--emotion", "furious"], "unknown emotion 'furious'"),
    (["--audio", "a.wav"], "--audio needs --object"),
    (["--audio", "empty", "--object", "Face"], "folder empty holds no audio files"),
])
def test_failures_exit_non_zero_with_one_line(scene_file, weights_ckpt, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    if "--checkpoint" not in args:
        args = args + ["--checkpoint", str(weights_ckpt.path)]
    done = run_batch("--scene", "scene.blend", *args, cwd=tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("a2f batch: error:")]
    assert len(errors) == 1 and message in errors[0], done.stderr
