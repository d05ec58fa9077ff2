"""The bundled demo head: the ICT Face Model's scanned head with ARKit-named shape keys.

`load_head()` reads ict_head.npz (built by build_ict.py, which says what is kept and how) into
dense float32 arrays; `Head.pose` applies ARKit weights. numpy only: the Blender scene and the
vertex data synthesis both read it.
"""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().with_name("ict_head.npz")


@dataclass
class Head:
    """The neutral head (V, 3) in metres, its polygons, parts and shape keys (K, V, 3)."""
    vertices: np.ndarray
    polygon_sizes: np.ndarray      # (F,) corners per polygon (3 or 4)
    polygon_vertices: np.ndarray   # (sum of sizes,) vertex indices, polygon after polygon
    polygon_materials: np.ndarray  # (F,) index into material_names
    material_names: list
    objects: dict                  # name -> (vertex slice, polygon slice)
    names: list
    deltas: np.ndarray
    upper_lip_vertices: np.ndarray
    lower_lip_vertices: np.ndarray

    @property
    def lip_vertices(self) -> np.ndarray:
        return np.concatenate([self.upper_lip_vertices, self.lower_lip_vertices])

    def lip_split(self) -> dict:
        """dataset.json's upper/lower lip vertex lists."""
        return {"upper_lip_vertices": self.upper_lip_vertices.tolist(),
                "lower_lip_vertices": self.lower_lip_vertices.tolist()}

    def polygons(self, name: str) -> list:
        """The object's polygons as vertex index arrays local to its own vertices."""
        vertices, polygons = self.objects[name]
        ends = np.cumsum(self.polygon_sizes.astype(np.int64))
        starts = ends - self.polygon_sizes
        return [self.polygon_vertices[s:e].astype(np.int64) - vertices.start
                for s, e in zip(starts[polygons], ends[polygons])]

    def skin(self) -> "Head":
        """The skin alone, the surface a vertex model animates: its vertices, polygons and keys."""
        vertices, polygons = self.objects["skin"]  # the first vertices and polygons
        corners = int(self.polygon_sizes[polygons].astype(np.int64).sum())
        return replace(self, vertices=self.vertices[vertices],
                       polygon_sizes=self.polygon_sizes[polygons],
                       polygon_vertices=self.polygon_vertices[:corners],
                       polygon_materials=self.polygon_materials[polygons],
                       objects={"skin": (vertices, polygons)}, deltas=self.deltas[:, vertices])

    def pose(self, weights: np.ndarray, channel_names) -> np.ndarray:
        """(T, C) weights named by channel_names -> (T, V, 3) float32 absolute positions.
        Keys the channels lack stay at zero."""
        column = {n: i for i, n in enumerate(channel_names)}
        used = [k for k, n in enumerate(self.names) if n in column]
        w = np.asarray(weights, np.float32)[:, [column[self.names[k]] for k in used]]
        flat = self.deltas[used].reshape(len(used), -1)
        return (self.vertices.ravel() + w @ flat).reshape(len(w), *self.vertices.shape)


def load_head(path=ASSET) -> Head:
    """Read the bundled head (or another file build_ict.py wrote)."""
    with np.load(path) as f:
        vertices = f["vertices"].astype(np.float32)
        names = [str(n) for n in f["key_names"]]
        deltas = np.zeros((len(names), *vertices.shape), np.float32)
        ends = np.cumsum(f["key_counts"])
        indices, values = f["key_indices"].astype(np.int64), f["key_deltas"].astype(np.float32)
        for k, (start, end) in enumerate(zip(ends - f["key_counts"], ends)):
            deltas[k, indices[start:end]] = values[start:end]
        objects = {str(n): (slice(*v), slice(*p)) for n, v, p in zip(
            f["object_names"], f["object_vertex_ranges"].tolist(), f["object_polygon_ranges"].tolist())}
        return Head(vertices, f["polygon_sizes"], f["polygon_vertices"].astype(np.int64),
                    f["polygon_materials"], [str(m) for m in f["material_names"]], objects,
                    names, deltas,
                    f["upper_lip_vertices"].astype(np.int64),
                    f["lower_lip_vertices"].astype(np.int64))
