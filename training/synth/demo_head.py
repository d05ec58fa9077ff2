"""A procedural demo head: fixed topology, ARKit-named shape keys, a jaw that really rotates.

The vertex-output model (the paper's main path) needs a mesh to train on; no scan can be
downloaded here, so this module builds one from a deformed ellipsoid with a nose, brows, eye
sockets, cheeks, a chin and lips split along a mouth line so the jaw can open them. Shape keys are
smooth displacement fields over the face's (azimuth, elevation) coordinates.

`python -m training.synth.demo_head` regenerates training/assets/demo_head.npz; `load_demo_head`
reads it. jawOpen and mouthClose are rotations about a hinge below the ears (non-linear in the
weight); the file also stores their w = 1 deltas as ordinary shape keys for tools such as Blender.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().parents[1] / "assets" / "demo_head.npz"
_COLUMNS, _ROWS = 84, 56          # azimuth x elevation samples: 84 * 56 + 1 pole + slit ~ 4.7k
_MOUTH_ELEVATION, _MOUTH_HALF_AZIMUTH = -0.34, 0.27   # radians on the ellipsoid
_JAW_MAX_ANGLE = 0.38                                  # radians at jawOpen = 1
_HALF_SIZE = np.array([0.075, 0.095, 0.115])           # head half width, depth, height (m)


@dataclass
class DemoHead:
    """Template (V, 3), triangles (F, 3), shape keys (S, V, 3) and the jaw hinge."""
    vertices: np.ndarray
    faces: np.ndarray
    names: list
    deltas: np.ndarray
    lip_vertices: np.ndarray
    jaw_pivot: np.ndarray
    jaw_mask: np.ndarray     # (V,) how much each vertex follows the jaw
    close_mask: np.ndarray   # (V,) how much mouthClose pulls it back up

    def lip_split(self) -> dict:
        """dataset.json's upper/lower lip vertex lists: lower-lip vertices follow the jaw."""
        lower = self.jaw_mask[self.lip_vertices] > 0.5
        return {"upper_lip_vertices": self.lip_vertices[~lower].tolist(),
                "lower_lip_vertices": self.lip_vertices[lower].tolist()}

    def pose(self, weights: np.ndarray, channel_names) -> np.ndarray:
        """(T, C) weights named by channel_names -> (T, V, 3) float32 absolute positions.

        Linear keys add their deltas; then jawOpen and mouthClose rotate about the hinge, so
        jawOpen = mouthClose closes the lips exactly whatever the opening.
        """
        weights = np.asarray(weights, np.float32)
        column = {n: i for i, n in enumerate(channel_names)}
        linear = [i for i, n in enumerate(self.names) if n not in ("jawOpen", "mouthClose")]
        w = np.zeros((len(weights), len(linear)), np.float32)
        for j, i in enumerate(linear):
            if self.names[i] in column:
                w[:, j] = weights[:, column[self.names[i]]]
        flat = self.deltas[linear].reshape(len(linear), -1).astype(np.float32)
        points = self.vertices[None] + (w @ flat).reshape(len(weights), -1, 3)
        jaw = weights[:, column["jawOpen"]] if "jawOpen" in column else np.zeros(len(weights))
        close = weights[:, column["mouthClose"]] if "mouthClose" in column else np.zeros_like(jaw)
        angle = _JAW_MAX_ANGLE * (jaw[:, None] * self.jaw_mask - close[:, None] * self.close_mask)
        return _rotate_x(points, self.jaw_pivot, angle).astype(np.float32)


def load_demo_head(path=ASSET) -> DemoHead:
    """Read the bundled head (or another file in the same layout)."""
    with np.load(path) as f:
        return DemoHead(f["vertices"].astype(np.float32), f["faces"].astype(np.int64),
                        [str(n) for n in f["names"]], f["deltas"].astype(np.float32),
                        f["lip_vertices"].astype(np.int64), f["jaw_pivot"].astype(np.float32),
                        f["jaw_mask"].astype(np.float32), f["close_mask"].astype(np.float32))


def _rotate_x(points: np.ndarray, pivot: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (T, V, 3) points about the x axis through pivot by (T, V) angles (chin down, back)."""
    dy, dz = points[..., 1] - pivot[1], points[..., 2] - pivot[2]
    c, s = np.cos(angle), np.sin(angle)
    out = points.copy()
    out[..., 1] = pivot[1] + dy * c - dz * s
    out[..., 2] = pivot[2] + dy * s + dz * c
    return out


def _grid():
    """Azimuth/elevation samples: denser over the face, with one row exactly on the mouth line."""
    u = np.linspace(-1, 1, _COLUMNS, endpoint=False)
    azimuth = np.pi * np.sign(u) * np.abs(u) ** 1.6
    v = np.linspace(0, 1, _ROWS)
    elevation = 1.45 - 2.65 * v + 0.35 * np.sin(2 * np.pi * v) / (2 * np.pi) * 2.65
    elevation[np.argmin(np.abs(elevation - _MOUTH_ELEVATION))] = _MOUTH_ELEVATION
    return azimuth, elevation


def _bump(a, e, a0, e0, sa, se):
    return np.exp(-0.5 * (((a - a0) / sa) ** 2 + ((e - e0) / se) ** 2))


def _pair(a, e, a0, e0, sa, se):
    """A bump mirrored on both sides of the face."""
    return _bump(a, e, a0, e0, sa, se) + _bump(a, e, -a0, e0, sa, se)


def _surface(a, e):
    """Ellipsoid point and outward offset (features) for azimuth a (0 = front) and elevation e."""
    w, d, h = _HALF_SIZE
    jaw_narrow = 1.0 - 0.18 * np.clip((-0.25 - e) / 0.6, 0, 1)
    base = np.stack([w * np.cos(e) * np.sin(a) * jaw_narrow, -d * np.cos(e) * np.cos(a),
                     h * np.sin(e)], -1)
    relief = (0.028 * _bump(a, e, 0, -0.08, 0.1, 0.16) + 0.01 * _bump(a, e, 0, 0.05, 0.06, 0.12)
              - 0.013 * _pair(a, e, 0.36, 0.12, 0.12, 0.08) + 0.007 * _pair(a, e, 0.36, 0.26, 0.2, 0.05)
              + 0.008 * _pair(a, e, 0.5, -0.12, 0.2, 0.15) + 0.012 * _bump(a, e, 0, -0.62, 0.22, 0.1)
              + 0.009 * _bump(a, e, 0, _MOUTH_ELEVATION, 0.3, 0.07))
    normal = base / np.linalg.norm(base, axis=-1, keepdims=True)
    return base + normal * relief[..., None]


def build() -> dict:
    """Generate the head and its keys as the arrays stored in demo_head.npz."""
    azimuth, elevation = _grid()
    a, e = np.meshgrid(azimuth, elevation)                        # (rows, cols)
    index = np.arange(a.size).reshape(a.shape)
    mouth_row = int(np.argmin(np.abs(elevation - _MOUTH_ELEVATION)))
    slit = np.where(np.abs(azimuth) < _MOUTH_HALF_AZIMUTH)[0]
    lower_copy = {c: a.size + k for k, c in enumerate(slit)}     # lower-lip twins of the slit
    a_all = np.concatenate([a.ravel(), azimuth[slit], [0.0]])
    e_all = np.concatenate([e.ravel(), np.full(len(slit), _MOUTH_ELEVATION), [np.pi / 2]])
    side = np.sign(e_all - _MOUTH_ELEVATION)                      # +1 upper face, -1 lower
    side[a.size:a.size + len(slit)] = -1
    side[index[mouth_row, slit]] = 1
    vertices = _surface(a_all, e_all)
    faces = []
    for r in range(len(elevation) - 1):
        for c in range(len(azimuth)):
            c2 = (c + 1) % len(azimuth)
            top = [index[r, c], index[r, c2]]
            bottom = [index[r + 1, c], index[r + 1, c2]]
            if r == mouth_row:  # the row below the mouth line hangs from the lower lip
                top = [lower_copy.get(c, top[0]), lower_copy.get(c2, top[1])]
            faces += [[top[0], bottom[0], bottom[1]], [top[0], bottom[1], top[1]]]
    pole = len(vertices) - 1
    faces += [[pole, index[0, c], index[0, (c + 1) % len(azimuth)]] for c in range(len(azimuth))]
    keys, masks = _shape_keys(a_all, e_all, side, vertices)
    return {"vertices": vertices.astype(np.float32), "faces": np.array(faces, np.int32),
            "names": np.array(list(keys)), "deltas": np.stack(list(keys.values())).astype(np.float16),
            "lip_vertices": np.where(masks["lips"] > 0.5)[0].astype(np.int32),
            "jaw_pivot": masks["pivot"].astype(np.float32),
            "jaw_mask": masks["jaw"].astype(np.float16), "close_mask": masks["close"].astype(np.float16)}


def _shape_keys(a, e, side, p):
    """ARKit-named (V, 3) deltas and the jaw masks, from smooth regions of the face."""
    de = e - _MOUTH_ELEVATION
    lips = np.exp(-0.5 * (a / 0.3) ** 6) * np.exp(-0.5 * (de / 0.07) ** 2)
    upper, lower = lips * (side > 0), lips * (side < 0)
    on_line = np.abs(de) < 1e-9   # both lip twins: rolls and shrugs carry the contact line along
    upper_roll, lower_roll = lips * ((side > 0) | on_line), lips * ((side < 0) | on_line)
    beside_mouth = np.where(np.abs(a) < _MOUTH_HALF_AZIMUTH, 1.0, np.clip(-de / 0.15, 0, 1))
    jaw = (side < 0) * np.clip((1.4 - np.abs(a)) / 0.5, 0, 1) * np.clip((e + 1.05) / 0.3, 0, 1) \
        * beside_mouth
    close = jaw * np.exp(-0.5 * (de / 0.1) ** 2)  # equals jaw on the lip line: lips meet exactly
    pivot = np.array([0.0, 0.01, -0.035])
    x = np.array([1.0, 0, 0]); y = np.array([0, 1.0, 0]); z = np.array([0, 0, 1.0])
    left, right = 1 / (1 + np.exp(-a / 0.05)), 1 / (1 + np.exp(a / 0.05))
    corner = {s: _bump(a, e, s * _MOUTH_HALF_AZIMUTH, _MOUTH_ELEVATION, 0.1, 0.08) for s in (1, -1)}
    m = lambda mask, vec: mask[:, None] * np.asarray(vec, float)   # noqa: E731
    keys = {}

    def sided(name, region, vec):
        """name+'Left': a bump (a0, e0, sa, se) on the +x side; name+'Right': its mirror image."""
        a0, e0, sa, se = region
        keys[name + "Left"] = m(_bump(a, e, a0, e0, sa, se), vec)
        keys[name + "Right"] = m(_bump(a, e, -a0, e0, sa, se), np.asarray(vec) * [-1, 1, 1])

    rot = _rotate_x(p[None], pivot, (_JAW_MAX_ANGLE * jaw)[None])[0]
    keys["jawOpen"] = rot - p
    keys["mouthClose"] = _rotate_x(rot[None], pivot, (-_JAW_MAX_ANGLE * close)[None])[0] - rot
    jaw_region = jaw[:, None]
    keys["jawForward"] = jaw_region * -0.008 * y
    keys["jawLeft"] = jaw_region * 0.008 * x
    keys["jawRight"] = jaw_region * -0.008 * x
    keys["mouthFunnel"] = m(lips, -0.008 * y) - lips[:, None] * 0.25 * p * x + m(upper, 0.003 * z) \
        + m(lower, -0.003 * z)
    keys["mouthPucker"] = m(lips, -0.012 * y) - lips[:, None] * 0.4 * p * x
    keys["mouthLeft"] = m(lips, 0.008 * x)
    keys["mouthRight"] = m(lips, -0.008 * x)
    for s, suffix in ((1, "Left"), (-1, "Right")):
        c = corner[s]
        keys["mouthSmile" + suffix] = m(c, [s * 0.006, 0.004, 0.008])
        keys["mouthFrown" + suffix] = m(c, [0, 0.001, -0.007])
        keys["mouthDimple" + suffix] = m(c, [s * 0.003, 0.005, 0])
        keys["mouthStretch" + suffix] = m(c, [s * 0.008, 0.002, -0.002])
        half = left if s > 0 else right
        keys["mouthPress" + suffix] = m(lips * half, [s * 0.001, 0.002, 0])
        keys["mouthLowerDown" + suffix] = m(lower * half, -0.006 * z)
        keys["mouthUpperUp" + suffix] = m(upper * half, 0.006 * z)
    keys["mouthRollLower"] = m(lower_roll, [0, 0.006, 0.003])
    keys["mouthRollUpper"] = m(upper_roll, [0, 0.005, -0.002])
    keys["mouthShrugLower"] = m(lower_roll + 0.5 * _bump(a, e, 0, -0.6, 0.25, 0.12), [0, -0.003, 0.004])
    keys["mouthShrugUpper"] = m(upper_roll, [0, -0.002, 0.003])
    sided("cheekSquint", (0.45, -0.02, 0.15, 0.1), 0.005 * z)
    keys["cheekPuff"] = _pair(a, e, 0.55, -0.28, 0.2, 0.15)[:, None] * 0.012 * (
        p / np.linalg.norm(p, axis=1, keepdims=True))
    keys["cheekPuff"][:, 2] *= 0.3
    sided("browDown", (0.33, 0.27, 0.2, 0.06), [0, 0.002, -0.006])
    keys["browInnerUp"] = m(_pair(a, e, 0.12, 0.27, 0.09, 0.06), 0.008 * z)
    sided("browOuterUp", (0.5, 0.26, 0.12, 0.06), 0.007 * z)
    sided("noseSneer", (0.1, 0.0, 0.06, 0.08), [0, 0.001, 0.004])
    sided("eyeSquint", (0.36, 0.06, 0.1, 0.04), 0.003 * z)
    sided("eyeWide", (0.36, 0.19, 0.1, 0.04), 0.003 * z)
    return keys, {"lips": lips, "jaw": jaw, "close": close, "pivot": pivot}


if __name__ == "__main__":
    arrays = build()
    ASSET.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(ASSET, **arrays)
    print(f"wrote {ASSET}: {len(arrays['vertices'])} vertices, {len(arrays['faces'])} triangles, "
          f"{len(arrays['names'])} shape keys")
