"""A cheap fingerprint of a mesh's connectivity, stored in vertex checkpoints.

A vertex model moves vertex i of its template; a mesh with the same vertex count but another
vertex order (or other edges) would get every offset on the wrong vertex. The fingerprint is the
SHA-256 of the mesh's undirected edges, each as (low, high) vertex index, sorted, as little-endian
int64 pairs: it changes with any renumbering or reconnection and is the same however the edges
(or the faces they come from) are listed. Stored as the checkpoint metadata's "topology":
{"vertices": V, "edges": E, "edges_sha256": "<64 hex digits>"}.
"""

import hashlib

import numpy as np

from .errors import CheckpointError


def edges_from_faces(faces) -> np.ndarray:
    """(E, 2) int64 unique undirected edges of polygons given as lists of vertex indices (or an
    (F, k) array), each edge (low, high)."""
    pairs = []
    for face in faces:
        face = np.asarray(face, np.int64)
        pairs.append(np.stack([face, np.roll(face, -1)], axis=1))
    return canonical_edges(np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64))


def canonical_edges(edges) -> np.ndarray:
    """(E, 2) int64 edges as sorted unique (low, high) pairs."""
    edges = np.sort(np.asarray(edges, np.int64).reshape(-1, 2), axis=1)
    return np.unique(edges, axis=0) if len(edges) else edges


def fingerprint(vertex_count: int, edges) -> dict:
    """The "topology" metadata entry of a mesh with vertex_count vertices and these edges."""
    edges = canonical_edges(edges)
    digest = hashlib.sha256(np.ascontiguousarray(edges, "<i8").tobytes()).hexdigest()
    return {"vertices": int(vertex_count), "edges": int(len(edges)), "edges_sha256": digest}


def parse(raw, vertex_count: int) -> dict:
    """Validate a checkpoint's "topology" entry for a template of vertex_count vertices."""
    if (not isinstance(raw, dict) or set(raw) != {"vertices", "edges", "edges_sha256"}
            or raw["vertices"] != vertex_count or not isinstance(raw["edges"], int)
            or isinstance(raw["edges"], bool) or raw["edges"] < 0
            or not isinstance(raw["edges_sha256"], str) or len(raw["edges_sha256"]) != 64
            or any(c not in "0123456789abcdef" for c in raw["edges_sha256"])):
        raise CheckpointError(f"invalid topology metadata {str(raw)[:80]!r}; expected "
                              f"{{'vertices': {vertex_count}, 'edges': E, 'edges_sha256': HEX}}")
    return raw


def mismatch(expected: dict, vertex_count: int, edges):
    """Why a mesh does not have the expected topology, or None when it does."""
    found = fingerprint(vertex_count, edges)
    if found == expected:
        return None
    if found["vertices"] != expected["vertices"]:
        return f"it has {found['vertices']} vertices, the model {expected['vertices']}"
    if found["edges"] != expected["edges"]:
        return (f"it has {found['edges']} edges where the model's mesh has {expected['edges']} "
                "(another mesh with the same vertex count)")
    return "its vertices are connected differently (another vertex order, or other edges)"
