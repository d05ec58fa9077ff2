"""Build training/assets/ict_head.npz, the demo head, from the ICT Face Model's OBJ files.

    python -m training.assets.build_ict PATH/TO/ICT-FaceKit/FaceXModel

The ICT Face Model (USC Institute for Creative Technologies, MIT licence, ICT-FaceKit-LICENSE.txt
beside this file) is a light-stage scanned head whose expression shapes carry ARKit's blendshape
names. This keeps what a demo and a vertex model need, numpy alone, in about 3 MB:

- the neutral head in Blender's frame (metres, z up, the face looking along -y), its polygons
  (triangles and quads) and each polygon's material;
- the parts as objects (skin: face, head and neck, mouth and eye sockets, one surface and the
  vertex model's; gums and tongue; teeth; each eyeball; eyelashes) as vertex and polygon ranges; the thin lacrimal, eye-blend and
  eye-occlusion shells (alpha-blended layers of the original renderer) are left out;
- one shape key per expression with Blender's `Left`/`Right` names: the vertices it moves (by
  more than MOVED_CM) and their float16 deltas. ARKit's browInnerUp and cheekPuff are one key
  each, the scan's a pair: the key is their sum (the two sides barely overlap). The scan's jawOpen, jawLeft/Right and jawForward
  already carry the lower teeth, gums and tongue with the jaw; the scan has no tongueOut;
- the lip contact vertices (upper and lower lip, where they touch at rest), for `a2f eval`.
"""

import argparse
import re
import sys
from pathlib import Path

import numpy as np

ASSET = Path(__file__).resolve().with_name("ict_head.npz")
MOVED_CM = 1e-3   # a delta below 10 micrometres is scan noise, not motion
_CM = 0.01
# (object, first vertex, last vertex, first polygon, last polygon) from the ICT README, inclusive;
# consecutive ranges of one object are one range here.
OBJECTS = (("skin", 0, 14061, 0, 14033),
           ("gums_tongue", 14062, 17038, 14034, 17005),
           ("teeth", 17039, 21450, 17006, 21495),
           ("eye_left", 21451, 23020, 21496, 23093),
           ("eye_right", 23021, 24590, 23094, 24691),
           ("eyelashes", 25351, 26718, 25304, 26383))
LIP_HALF_WIDTH_M = 0.012   # contact vertices: the middle half of the 4.6 cm wide mouth
LIP_TOUCH_M = 0.0015       # closer than this to the other lip at rest: a contact vertex
NEUTRAL = "generic_neutral_mesh.obj"
FACE_VERTICES = 9409    # the skin's first part, the face
UNSIDED = ("browInnerUp", "cheekPuff")   # ARKit keys the scan splits into _L and _R


def read_obj(path: Path):
    """(V, 3) float64 positions, [polygon vertex lists], [polygon material names]."""
    positions, polygons, materials, material = [], [], [], ""
    with open(path) as f:
        for line in f:
            if line.startswith("v "):
                positions.append(line.split()[1:4])
            elif line.startswith("f "):
                polygons.append([int(c.split("/")[0]) - 1 for c in line.split()[1:]])
                materials.append(material)
            elif line.startswith("usemtl "):
                material = line.split()[1]
    return np.array(positions, np.float64), polygons, materials


def key_name(stem: str) -> str:
    """ICT file stem -> Blender/ARKit shape key name: mouthSmile_L -> mouthSmileLeft."""
    return re.sub(r"_L$", "Left", re.sub(r"_R$", "Right", stem))


def to_blender(points: np.ndarray) -> np.ndarray:
    """ICT (cm, y up, face towards +z) -> Blender (m, z up, face towards -y); a rotation."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], -1) * _CM


def build(folder: Path) -> dict:
    """The arrays stored in ict_head.npz, from the OBJ folder."""
    neutral_path = folder / NEUTRAL
    if not neutral_path.is_file():
        raise SystemExit(f"build_ict: no {NEUTRAL} in {folder}; pass the ICT-FaceKit folder "
                         "holding the neutral mesh and the expression OBJs (FaceXModel/)")
    positions, polygons, materials = read_obj(neutral_path)
    keep = np.concatenate([np.arange(v0, v1 + 1) for _, v0, v1, _, _ in OBJECTS])
    new_index = np.full(len(positions), -1, np.int64)
    new_index[keep] = np.arange(len(keep))
    kept_polygons, kept_materials, vertex_ranges, polygon_ranges = [], [], [], []
    for name, v0, v1, p0, p1 in OBJECTS:
        first_polygon = len(kept_polygons)
        for polygon, material in zip(polygons[p0:p1 + 1], materials[p0:p1 + 1]):
            if not all(v0 <= v <= v1 for v in polygon):
                raise SystemExit(f"build_ict: a polygon of {name} uses vertices outside "
                                 f"{v0}-{v1}; is {neutral_path} the ICT generic neutral mesh?")
            kept_polygons.append(new_index[polygon])
            kept_materials.append(material)
        vertex_ranges.append((new_index[v0], new_index[v1] + 1))
        polygon_ranges.append((first_polygon, len(kept_polygons)))
    material_names = sorted(set(kept_materials))
    shapes = {}
    for path in sorted(folder.glob("*.obj"), key=lambda p: p.stem.lower()):
        if path.name == NEUTRAL or path.stem.startswith("identity"):
            continue
        shape, _, _ = read_obj(path)
        if shape.shape != positions.shape:
            raise SystemExit(f"build_ict: {path} has {len(shape)} vertices, the neutral mesh "
                             f"{len(positions)}; use the OBJs of one ICT-FaceKit release")
        name = key_name(path.stem)
        unsided = name.removesuffix("Left").removesuffix("Right")
        name = unsided if unsided in UNSIDED else name
        shapes[name] = shapes.get(name, 0) + (shape - positions)[keep]
    names, counts, indices, deltas = [], [], [], []
    for name, delta in shapes.items():
        moved = np.where(np.abs(delta).max(axis=1) > MOVED_CM)[0]
        names.append(name)
        counts.append(len(moved))
        indices.append(moved)
        deltas.append(to_blender(delta[moved]))
    vertices = to_blender(positions[keep])
    jaw_motion = np.zeros(len(keep))
    jaw = names.index("jawOpen")
    jaw_motion[indices[jaw]] = np.linalg.norm(deltas[jaw], axis=1)
    upper, lower = lip_vertices(vertices, jaw_motion)
    return {"vertices": vertices.astype(np.float32),
            "polygon_sizes": np.array([len(p) for p in kept_polygons], np.uint8),
            "polygon_vertices": np.concatenate(kept_polygons).astype(np.uint16),
            "polygon_materials": np.array([material_names.index(m) for m in kept_materials],
                                          np.uint8),
            "material_names": np.array(material_names),
            "object_names": np.array([o[0] for o in OBJECTS]),
            "object_vertex_ranges": np.array(vertex_ranges, np.int32),
            "object_polygon_ranges": np.array(polygon_ranges, np.int32),
            "key_names": np.array(names), "key_counts": np.array(counts, np.int32),
            "key_indices": np.concatenate(indices).astype(np.uint16),
            "key_deltas": np.concatenate(deltas).astype(np.float16),
            "upper_lip_vertices": upper.astype(np.int32),
            "lower_lip_vertices": lower.astype(np.int32)}


def lip_vertices(vertices: np.ndarray, jaw_motion: np.ndarray):
    """(upper, lower) lip contact vertices: where the lips touch at rest, in the mouth's middle.

    The scan's neutral has its lips closed. Face vertices jawOpen barely moves (under a quarter
    of its largest motion) are upper face, those it moves most (over three quarters) ride on the
    jaw; a lip vertex within LIP_TOUCH_M of the other lip at rest is a contact vertex.
    """
    face = np.arange(FACE_VERTICES)
    middle = face[np.abs(vertices[face, 0]) < LIP_HALF_WIDTH_M]
    upper = middle[jaw_motion[middle] < 0.25 * jaw_motion.max()]
    lower = middle[jaw_motion[middle] > 0.75 * jaw_motion.max()]
    gap = np.linalg.norm(vertices[upper, None] - vertices[None, lower], axis=-1)
    return upper[gap.min(axis=1) < LIP_TOUCH_M], lower[gap.min(axis=0) < LIP_TOUCH_M]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.assets.build_ict",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="ICT-FaceKit's FaceXModel folder (the OBJs)")
    parser.add_argument("--out", type=Path, default=ASSET, help=f"default: {ASSET.name} here")
    args = parser.parse_args(argv)
    arrays = build(args.folder)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out}: {len(arrays['vertices'])} vertices, "
          f"{len(arrays['polygon_sizes'])} polygons, {len(arrays['key_names'])} shape keys "
          f"({len(arrays['key_indices'])} moved vertices), "
          f"{args.out.stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
