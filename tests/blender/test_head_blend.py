"""demo/blender_head.py: the ICT head as objects, its parts driven by the skin's keys."""

import subprocess
import sys

import bpy
import numpy as np
from bpy_fixtures import REPO, configure

from a2f_core.audio import load_audio
from a2f_core.checkpoint import load_checkpoint, random_checkpoint
from a2f_core.infer import Animator
from demo import blender_head
from tests.tolerance import BAKE_ATOL
from training.assets.ict_head import ASSET, load_head
from training.release import stamp_topology

SCRIPT = REPO / "demo" / "blender_head.py"


def _world_positions(obj) -> np.ndarray:
    """(V, 3) evaluated vertex positions (shape keys and drivers applied) in world space."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    mesh = obj.evaluated_get(depsgraph).to_mesh()
    co = np.empty(len(mesh.vertices) * 3, np.float32)
    mesh.vertices.foreach_get("co", co)
    matrix = np.array(obj.matrix_world)
    return co.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]


def test_head_blend_moves_teeth_with_the_skins_jaw(tmp_path):
    out = tmp_path / "head.blend"
    done = subprocess.run([sys.executable, str(SCRIPT), "--", "--out", str(out)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    bpy.ops.wm.open_mainfile(filepath=str(out))
    head = load_head()
    skin = bpy.data.objects["Face"]
    assert sorted(o.name for o in skin.children) == [
        "Face_eye_left", "Face_eye_right", "Face_eyelashes", "Face_gums_tongue", "Face_teeth"]
    names = [k.name for k in skin.data.shape_keys.key_blocks]
    assert names[0] == "Basis" and "jawOpen" in names and "mouthSmileLeft" in names
    teeth = bpy.data.objects["Face_teeth"]
    rest = _world_positions(teeth)
    # the parts rebuild the asset's neutral: float32 positions through one 4x4 transform
    np.testing.assert_allclose(rest, head.vertices[head.objects["teeth"][0]], atol=1e-6)
    np.testing.assert_allclose(_world_positions(skin), head.vertices[head.objects["skin"][0]],
                               atol=1e-6)  # every key at 0 (Blender 5.0 starts new keys at 1)
    skin.data.shape_keys.key_blocks["jawOpen"].value = 1.0
    opened = _world_positions(teeth)
    expected = head.vertices + head.deltas[head.names.index("jawOpen")]
    np.testing.assert_allclose(opened, expected[head.objects["teeth"][0]], atol=1e-6)
    eye = bpy.data.objects["Face_eye_left"]
    eye_points = _world_positions(eye)
    # the eye's origin is its centre: rotating it turns the eye in place
    center = (eye_points.min(0) + eye_points.max(0)) / 2
    np.testing.assert_allclose(np.array(eye.matrix_world.translation), center, atol=1e-6)


def test_a_vertex_model_of_the_skin_bakes_onto_it_as_the_network_says(scene, speech, data_dir):
    """The skin is a vertex model's surface: its bake reproduces the numpy network exactly."""
    head = load_head()
    path = random_checkpoint(data_dir / "skin_vertices.safetensors", kind="vertices",
                             template=head.skin().vertices, seed=3)
    stamp_topology(path, ASSET)  # the add-on checks the skin's edges against the asset's
    ckpt = load_checkpoint(path)
    face = blender_head.add_head(scene, head, "Face", (0.0, 0.0, 0.0), blender_head.materials())
    configure(scene, ckpt, source='FILE', audio_path=str(speech), target=face)
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    fps = scene.render.fps / scene.render.fps_base
    offsets = Animator(ckpt).animate(load_audio(speech), fps, ckpt.emotions["neutral"])
    for i in (0, len(offsets) // 2, len(offsets) - 1):
        scene.frame_set(scene.frame_start + i)
        np.testing.assert_allclose(_world_positions(face), ckpt.template + offsets[i],
                                   atol=BAKE_ATOL)
