"""The mesh topology fingerprint of vertex checkpoints."""

import json

import numpy as np
import pytest

from a2f_core import topology
from a2f_core.checkpoint import load_checkpoint, random_checkpoint, update_metadata
from a2f_core.errors import CheckpointError
from a2f_core.models import DEFAULT_VERTICES
from training.release import main as release_main
from training.synth.demo_head import load_demo_head

QUADS = [[0, 1, 2, 3], [1, 4, 5, 2]]


def test_the_same_edges_listed_any_way_give_the_same_fingerprint():
    a = topology.fingerprint(6, topology.edges_from_faces(QUADS))
    b = topology.fingerprint(6, topology.edges_from_faces([[5, 2, 1, 4], [2, 3, 0, 1]]))
    assert a == b and a["edges"] == 7


def test_renumbered_vertices_change_the_fingerprint():
    edges = topology.edges_from_faces(QUADS)
    swap = np.array([1, 0, 2, 3, 4, 5])  # vertices 0 and 1 trade places
    expected = topology.fingerprint(6, edges)
    assert topology.mismatch(expected, 6, swap[edges]) == (
        "its vertices are connected differently (another vertex order, or other edges)")
    assert topology.mismatch(expected, 6, edges[:-1]).startswith("it has 6 edges where")
    assert topology.mismatch(expected, 6, edges[::-1]) is None


def test_the_bundled_vertex_model_carries_the_demo_heads_topology():
    ckpt = load_checkpoint(DEFAULT_VERTICES)
    head = load_demo_head()
    np.testing.assert_array_equal(ckpt.template, head.vertices)
    assert ckpt.meta["topology"] == topology.fingerprint(len(head.vertices),
                                                         topology.edges_from_faces(head.faces))


@pytest.fixture
def vertex_ckpt(tmp_path):
    template = np.random.default_rng(0).uniform(-1, 1, (6, 3))
    return random_checkpoint(tmp_path / "v.safetensors", kind="vertices", template=template)


def test_stamping_stores_the_topology_and_keeps_the_tensors(vertex_ckpt, tmp_path):
    before = load_checkpoint(vertex_ckpt)
    assert "topology" not in before.meta  # older checkpoints load without one
    np.savez(tmp_path / "mesh.npz", faces=np.array(QUADS))
    assert release_main(["--stamp", str(vertex_ckpt), "--mesh", str(tmp_path / "mesh.npz")]) == 0
    after = load_checkpoint(vertex_ckpt)
    assert after.meta["topology"] == topology.fingerprint(6, topology.edges_from_faces(QUADS))
    for name, array in before.tensors.items():
        np.testing.assert_array_equal(after.tensors[name], array)


def test_stamping_refuses_faces_of_another_mesh(vertex_ckpt, tmp_path, capsys):
    np.savez(tmp_path / "big.npz", faces=np.array([[0, 1, 9]]))
    assert release_main(["--stamp", str(vertex_ckpt), "--mesh", str(tmp_path / "big.npz")]) == 1
    assert "do not index a mesh of 6 vertices" in capsys.readouterr().err


@pytest.mark.parametrize("entry", [
    {"vertices": 7, "edges": 7, "edges_sha256": "0" * 64},      # another vertex count
    {"vertices": 6, "edges": -1, "edges_sha256": "0" * 64},
    {"vertices": 6, "edges": True, "edges_sha256": "0" * 64},
    {"vertices": 6, "edges": 7, "edges_sha256": "xyz"},
    {"vertices": 6, "edges": 7, "edges_sha256": "0" * 64, "code": "rm -rf"},
    "f5e90c01",
])
def test_hostile_topology_metadata_is_refused(vertex_ckpt, entry):
    with pytest.raises(CheckpointError, match="invalid topology metadata"):
        update_metadata(vertex_ckpt, topology=json.loads(json.dumps(entry)))
