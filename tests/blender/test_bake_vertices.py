"""Vertex checkpoints: basis shape keys (or a point cache) reproduce the network's vertices."""

import bpy
import numpy as np
import pytest
from bpy_fixtures import configure, make_mesh

from a2f_core.audio import load_audio
from a2f_core.checkpoint import load_checkpoint, random_checkpoint
from a2f_core.infer import Animator
from tests.tolerance import BAKE_ATOL


@pytest.fixture(scope="session")
def vertex_ckpt(data_dir):
    rng = np.random.default_rng(7)
    template = rng.uniform(-1, 1, (40, 3)).astype(np.float32)
    return load_checkpoint(random_checkpoint(data_dir / "vertices.safetensors", kind="vertices",
                                             template=template, seed=2))


def evaluated_positions(obj, frame):
    bpy.context.scene.frame_set(frame)
    mesh = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    co = np.empty(3 * len(mesh.vertices), np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def bake(scene, ckpt, audio, **settings):
    configure(scene, ckpt, source='FILE', audio_path=str(audio), **settings)
    return bpy.ops.a2f.generate()


@pytest.mark.parametrize("output", ['SHAPE_KEYS', 'POINT_CACHE'])
def test_vertices_equal_the_numpy_output_at_any_frame(scene, vertex_ckpt, speech, tmp_path, output):
    scene.frame_start = 11
    face = make_mesh("Face", vertices=vertex_ckpt.template)
    assert bake(scene, vertex_ckpt, speech, vertex_output=output, cache_dir=str(tmp_path)) == {'FINISHED'}
    fps = scene.render.fps / scene.render.fps_base
    offsets = Animator(vertex_ckpt).animate(load_audio(speech), fps, vertex_ckpt.emotions["neutral"])
    assert np.abs(offsets).max() > 0.1  # the check below compares real motion
    for i in (0, 17, len(offsets) - 1):
        np.testing.assert_allclose(evaluated_positions(face, 11 + i), vertex_ckpt.template + offsets[i],
                                   atol=BAKE_ATOL)
    if output == 'SHAPE_KEYS':
        assert len(face.data.shape_keys.key_blocks) == 1 + 1 + 150
    else:
        assert face.modifiers["a2f cache"].cache_format == 'PC2' and list(tmp_path.glob("*.pc2"))


def test_rebaking_reuses_the_basis_keys(scene, vertex_ckpt, speech):
    face = make_mesh("Face", vertices=vertex_ckpt.template)
    assert bake(scene, vertex_ckpt, speech) == {'FINISHED'}
    assert bake(scene, vertex_ckpt, speech) == {'FINISHED'}
    assert len(face.data.shape_keys.key_blocks) == 152
    assert [a.name for a in bpy.data.actions] == ["line_01"]  # the re-bake replaced the first


def test_a_mismatched_vertex_count_names_both_counts(scene, vertex_ckpt, speech):
    make_mesh("Face")  # a 16-vertex grid
    with pytest.raises(RuntimeError, match="'Face' has 16 vertices but vertices.safetensors animates meshes of 40"):
        bake(scene, vertex_ckpt, speech)
