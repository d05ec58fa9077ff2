"""Vertex checkpoints: basis shape keys (or a point cache) reproduce the network's vertices."""

import bpy
import numpy as np
import pytest
from bpy_fixtures import configure, make_mesh

from a2f_core.audio import load_audio
from a2f_core.checkpoint import load_checkpoint, random_checkpoint
from a2f_core.infer import Animator
from a2f_core.models import DEFAULT_VERTICES
from blender_addon import bake as addon_bake
from blender_addon import checkpoints
from blender_addon.core import A2FError
from tests.tolerance import BAKE_ATOL
from training.synth.demo_head import load_demo_head


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


def grid_mesh(name, order):
    """A 5 x 8 quad grid of 40 vertices, vertex i of the grid stored at index order[i]."""
    g = np.arange(40).reshape(5, 8)
    quads = [[g[r, c], g[r, c + 1], g[r + 1, c + 1], g[r + 1, c]] for r in range(4) for c in range(7)]
    position = np.array([(c, r, 0.0) for r in range(5) for c in range(8)], float)
    vertices = np.empty_like(position)
    vertices[order] = position
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in vertices], [], [[int(order[i]) for i in q] for q in quads])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj, np.array(quads)


@pytest.fixture
def stamped_ckpt(vertex_ckpt, tmp_path):
    from a2f_core import topology
    from a2f_core.checkpoint import update_metadata
    path = tmp_path / "stamped.safetensors"
    path.write_bytes(vertex_ckpt.path.read_bytes())
    _, quads = grid_mesh("Reference", np.arange(40))
    bpy.data.objects.remove(bpy.data.objects["Reference"])
    return update_metadata(path, topology=topology.fingerprint(40, topology.edges_from_faces(quads)))


def test_a_shuffled_vertex_order_is_refused(scene, stamped_ckpt, speech):
    shuffled = np.random.default_rng(3).permutation(40)
    grid_mesh("Shuffled", shuffled)
    with pytest.raises(RuntimeError, match="'Shuffled' is not the mesh stamped.safetensors animates: "
                       r"its vertices are connected differently \(another vertex order"):
        bake(scene, stamped_ckpt, speech)
    assert len(bpy.data.actions) == 0
    face, _ = grid_mesh("Face", np.arange(40))
    assert bake(scene, stamped_ckpt, speech) == {'FINISHED'}
    assert len(face.data.shape_keys.key_blocks) == 152


def test_the_demo_head_passes_the_bundled_models_check(scene, speech):
    head = load_demo_head()
    mesh = bpy.data.meshes.new("Head")
    mesh.from_pydata(head.vertices.tolist(), [], head.faces.tolist())
    obj = bpy.data.objects.new("Head", mesh)
    scene.collection.objects.link(obj)
    ckpt = checkpoints.load(str(DEFAULT_VERTICES))
    assert "topology" in ckpt.meta
    addon_bake._check_vertex_count(obj, ckpt)  # passes
    mesh.vertices.foreach_set("co", head.vertices[::-1].ravel().copy())  # moved, not renumbered
    addon_bake._check_vertex_count(obj, ckpt)
    reversed_mesh = bpy.data.meshes.new("Reversed")
    n = len(head.vertices)
    reversed_mesh.from_pydata(head.vertices[::-1].tolist(), [], (n - 1 - head.faces).tolist())
    obj.data = reversed_mesh
    with pytest.raises(A2FError, match="connected differently"):
        addon_bake._check_vertex_count(obj, ckpt)
