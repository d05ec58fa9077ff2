"""`a2f import blend`: a .blend with sound strips and shape-key animation is made with the PyPI
bpy module (.venv-bpy-4.5), imported through the a2f command, then trained and evaluated on."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from a2f_core.cli.main import main as a2f
from training.dataset import load_dataset
from wav_files import write_wav

REPO = Path(__file__).resolve().parents[1]
BPY_PYTHON = REPO / ".venv-bpy-4.5" / "bin" / "python"
pytestmark = [pytest.mark.blender,  # reads scenes in a Blender child process
              pytest.mark.skipif(not BPY_PYTHON.exists(),
                                 reason="needs .venv-bpy-4.5 (`make bpy-venvs`)")]

# Runs in the bpy venv: a 30 fps scene, strips line_01 (frames 1-60) and line_02 (from 101,
# trimmed to 30 frames), a 4x4 grid "Face" keyed on every frame, lips in vertex groups.
MAKE_SCENE = r"""
import sys, bpy, numpy as np
out, wav1, wav2 = sys.argv[1:4]
bpy.ops.wm.read_homefile(use_empty=True)
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = 30, 1.0
mesh = bpy.data.meshes.new("Face")
mesh.from_pydata([(x, y, 0.0) for y in np.linspace(-1, 1, 4) for x in np.linspace(-1, 1, 4)], [], [])
face = bpy.data.objects.new("Face", mesh)
scene.collection.objects.link(face)
face.shape_key_add(name="Basis")
jaw = face.shape_key_add(name="jawOpen")
close = face.shape_key_add(name="mouthClose")
smile = face.shape_key_add(name="mouthSmileLeft")
for i in range(4):
    jaw.data[i].co.y -= 0.5            # the bottom row drops with the jaw
for group, members in (("lips", [4, 5, 6, 7, 8, 9, 10, 11]), ("upper_lip", [8, 9, 10, 11]),
                       ("lower_lip", [4, 5, 6, 7])):
    face.vertex_groups.new(name=group).add(members, 1.0, 'REPLACE')
for f in range(1, 131):
    jaw.value = 0.5 + 0.4 * np.sin(f / 4.0)
    close.value = 0.1 * (f % 3)
    jaw.keyframe_insert("value", frame=f)
    close.keyframe_insert("value", frame=f)
editor = scene.sequence_editor_create()
strips = editor.strips if hasattr(editor, "strips") else editor.sequences
strips.new_sound("line_01", wav1, 1, 1)
second = strips.new_sound("line_02", wav2, 2, 101)
second.frame_final_end = 131
bpy.ops.wm.save_as_mainfile(filepath=out)
"""


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blend")
    blend = folder / "scene.blend"
    subprocess.run([str(BPY_PYTHON), "-c", MAKE_SCENE, str(blend),
                    str(write_wav(folder / "line_01.wav", 2.0, 22050)),
                    str(write_wav(folder / "line_02.wav", 3.0, 22050))], check=True, cwd=folder)
    return blend


def _import(scene, out, *extra):
    return a2f(["import", "blend", str(scene), "--object", "Face", "--out", str(out),
                "--blender-python", str(BPY_PYTHON), *extra])


def expected_jaw(frames):
    return 0.5 + 0.4 * np.sin(np.asarray(frames) / 4.0)


@pytest.mark.slow  # trains
def test_weights_from_shape_keys_per_strip_then_train_and_eval(scene, tmp_path):
    data = tmp_path / "data"
    assert _import(scene, data, "--val", "line_02") == 0
    ds = load_dataset(data)
    assert ds.kind == "weights" and ds.fps == 30.0
    assert ds.channel_names == ["jawOpen", "mouthClose", "mouthSmileLeft"]
    one, two = ds.takes
    assert one.name == "line_01" and one.targets().shape == (60, 3)
    # keys of a float64 formula stored and read back by Blender in float32 (6e-8 at 1), and
    # Blender's Bezier evaluation at the keyed frames: a few ulps; 1e-5 is about 80 ulps of 1
    assert np.allclose(one.targets()[:, 0], expected_jaw(range(1, 61)), atol=1e-5)
    assert np.allclose(two.targets()[:, 0], expected_jaw(range(101, 131)), atol=1e-5)
    assert len(one.audio()) == 32000 and len(two.audio()) == 16000  # strip trimmed to 1 s
    report = json.loads((data / "import_report.json").read_text())
    notes = [n["message"] for n in report["notes"]]
    assert "1 shape keys do not move: mouthSmileLeft" in notes[0]
    assert "the strip plays 0.000 to 1.000 s of its 3.000 s sound" in notes[-1]
    assert a2f(["train", "--data", str(data), "--out", str(tmp_path / "run"), "--config",
                "configs/tiny.toml", "--steps", "4"]) == 0
    assert a2f(["eval", "--checkpoint", str(tmp_path / "run" / "last.safetensors"), "--data",
                str(data), "--out", str(tmp_path / "eval"), "--plot-takes", "0"]) == 0
    assert np.isfinite(json.loads((tmp_path / "eval" / "metrics.json").read_text())["weight_mae"])


def test_vertices_from_the_evaluated_mesh(scene, tmp_path):
    assert _import(scene, tmp_path / "v", "--kind", "vertices", "--strip", "line_01") == 0
    ds = load_dataset(tmp_path / "v")
    assert ds.template.shape == (16, 3) and ds.lip_vertices.tolist() == list(range(4, 12))
    assert ds.info["upper_lip_vertices"] == [8, 9, 10, 11]
    targets = ds.takes[0].targets()
    drop = ds.template[0, 1] - targets[:, 0, 1]            # bottom row follows jawOpen * 0.5
    # float32 key values through Blender's float32 shape key mix, at coordinates of order 1
    assert np.allclose(drop, 0.5 * expected_jaw(range(1, 61)), atol=1e-5)
    assert np.allclose(targets[:, 12:], ds.template[12:], atol=1e-6)  # a zero key adds 0


def test_scene_errors_are_reported(scene, tmp_path, capfd):
    assert _import(scene, tmp_path / "a", "--strip", "nope") == 1
    assert "no sound strip(s) nope; the scene has line_01, line_02" in capfd.readouterr().err
    assert _import(scene, tmp_path / "b", "--kind", "vertices", "--lip-group", "mouth") == 1
    assert "no vertex group 'mouth'" in capfd.readouterr().err
