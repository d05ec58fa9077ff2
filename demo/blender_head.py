"""The ICT head as Blender objects (bpy): skin with ARKit shape keys, and the parts that follow it.

`add_head` builds the skin (face, head and neck, mouth and eye sockets) with a Basis and one shape
key per ARKit key, and as its children the gums and tongue, teeth, eyelashes (each with the keys
that move it, driven by the skin's keys of the same name, so a bake onto the skin alone moves the
jaw's teeth and the lids' lashes; the lashes, alpha-textured cards in the scan, start hidden)
and one object per eyeball whose origin is the eye's centre (so
rotating it turns the gaze).

    python demo/blender_head.py -- --out head.blend     (the bpy venv, or blender -b --python)

writes the head alone, ready for the add-on (`make head`).
"""

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from training.assets.ict_head import load_head  # noqa: E402

# material -> Principled base colour, roughness, subsurface weight; Workbench shows the colour
LOOKS = {"skin": ((0.84, 0.56, 0.43, 1.0), 0.55, 0.15),
         "lids": ((0.74, 0.42, 0.38, 1.0), 0.3, 0.1),
         "mouth": ((0.42, 0.12, 0.12, 1.0), 0.5, 0.1),
         "gums": ((0.68, 0.28, 0.28, 1.0), 0.35, 0.1),
         "teeth": ((0.90, 0.87, 0.78, 1.0), 0.3, 0.0),
         "sclera": ((0.92, 0.90, 0.88, 1.0), 0.2, 0.0),
         "iris": ((0.20, 0.12, 0.06, 1.0), 0.2, 0.0),
         "pupil": ((0.01, 0.01, 0.01, 1.0), 0.1, 0.0),
         "lashes": ((0.05, 0.04, 0.03, 1.0), 0.6, 0.0)}
# the ICT material of a polygon -> ours; None: left out. An ICT eyeball is two shells: the eye,
# textured with sclera and iris ("M_Iris*"), inside a clear wet cornea ("M_Sclera*").
ICT_MATERIALS = {"M_Face": "skin", "M_BackHead": "skin", "M_GumsTongue": "gums",
                 "M_Teeth": "teeth", "M_ScleraLeft": None, "M_ScleraRight": None,
                 "M_IrisLeft": "sclera", "M_IrisRight": "sclera", "M_EyeLashes": "lashes"}
MOUTH_SOCKET_POLYGONS = slice(11144, 13226)  # skin's polygons inside the mouth (ICT README)
EYE_SOCKET_POLYGONS = slice(13226, 14034)    # the lids' wet inner rims and the sockets
PUPIL_DEGREES, IRIS_DEGREES = 9.0, 26.0       # seen from the eye's centre, off its forward axis


def materials() -> dict:
    """One node material per look, shared by every head in the file."""
    made = {}
    for name, (color, roughness, subsurface) in LOOKS.items():
        mat = bpy.data.materials.new(name)
        mat.diffuse_color, mat.roughness = color, roughness  # Workbench
        if mat.node_tree is None:  # Blender 5 gives every material nodes; 4.x on request
            mat.use_nodes = True
        bsdf = mat.node_tree.nodes["Principled BSDF"]
        bsdf.inputs["Base Color"].default_value = color
        bsdf.inputs["Roughness"].default_value = roughness
        bsdf.inputs["Subsurface Weight"].default_value = subsurface
        made[name] = mat
    return made


def add_head(scene, head, name: str, location, looks: dict):
    """The head's objects in scene; returns the skin object (named `name`), the one to bake."""
    skin = _part(scene, head, "skin", name, looks)
    skin.location = location
    _add_keys(skin, head, "skin")
    for part in ("gums_tongue", "teeth", "eyelashes", "eye_left", "eye_right"):
        obj = _part(scene, head, part, f"{name}_{part}", looks)
        obj.parent = skin
        if part.startswith("eye_"):
            _center_origin(obj)
        if part == "eyelashes":  # alpha-textured cards in the scan; opaque, they read as bands
            obj.hide_render = obj.hide_viewport = True
        _add_keys(obj, head, part, driver_source=skin)
    return skin


def _part(scene, head, part: str, name: str, looks: dict):
    vertices, polygons = head.objects[part]
    looked = [ICT_MATERIALS[head.material_names[m]] for m in head.polygon_materials[polygons]]
    corners = [p for p, look in zip(head.polygons(part), looked) if look]
    looked = [look for look in looked if look]
    if part == "skin":
        looked[MOUTH_SOCKET_POLYGONS] = ["mouth"] * len(looked[MOUTH_SOCKET_POLYGONS])
        looked[EYE_SOCKET_POLYGONS] = ["lids"] * len(looked[EYE_SOCKET_POLYGONS])
    if part.startswith("eye_"):
        looked = _eye_looks(head.vertices[vertices], corners)
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(head.vertices[vertices].tolist(), [], [p.tolist() for p in corners])
    used = sorted(set(looked))
    for look in used:
        mesh.materials.append(looks[look])
    mesh.polygons.foreach_set("material_index", [used.index(look) for look in looked])
    mesh.shade_smooth()
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    return obj


def _eye_looks(points, polygons) -> list:
    """Pupil, iris or sclera for each polygon of an eyeball (its texture, drawn by angle)."""
    center = (points.min(0) + points.max(0)) / 2
    looks = []
    for polygon in polygons:
        direction = points[polygon].mean(0) - center
        degrees = np.degrees(np.arccos(-direction[1] / np.linalg.norm(direction)))  # -y: forward
        looks.append("pupil" if degrees < PUPIL_DEGREES else "iris" if degrees < IRIS_DEGREES
                     else "sclera")
    return looks


def _center_origin(obj):
    """Put an eyeball's origin at its centre (the middle of its bounds), keeping it in place."""
    co = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    center = (co.min(0) + co.max(0)) / 2
    obj.data.vertices.foreach_set("co", (co - center).ravel())
    obj.location = center.tolist()


def _add_keys(obj, head, part: str, driver_source=None):
    """A Basis and each key that moves this part; driven by driver_source's key of that name."""
    vertices, _ = head.objects[part]
    co = np.empty(len(obj.data.vertices) * 3, np.float32)
    obj.data.vertices.foreach_get("co", co)
    moving = [k for k, n in enumerate(head.names) if np.any(head.deltas[k, vertices])]
    if not moving:
        return
    obj.shape_key_add(name="Basis", from_mix=False)
    for k in moving:
        key = obj.shape_key_add(name=head.names[k], from_mix=False)
        key.data.foreach_set("co", co + head.deltas[k, vertices].ravel())
        key.value = 0.0  # Blender 5.0 starts new keys at 1
        if driver_source is not None:
            _drive(key, driver_source.data.shape_keys, head.names[k])


def _drive(key, source_keys, name: str):
    """key.value = source_keys' key `name` (a plain SUM driver: no Python, no auto-run prompt)."""
    driver = key.driver_add("value").driver
    driver.type = "SUM"
    variable = driver.variables.new()
    variable.type = "SINGLE_PROP"
    variable.targets[0].id_type = "KEY"
    variable.targets[0].id = source_keys
    variable.targets[0].data_path = f'key_blocks["{name}"].value'


def main(argv) -> int:
    parser = argparse.ArgumentParser(prog="blender_head.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the .blend to write")
    parser.add_argument("--name", default="Face", help="the skin object's name (default: Face)")
    args = parser.parse_args(argv[argv.index("--") + 1:] if "--" in argv else [])
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.preferences.filepaths.save_version = 0
    skin = add_head(bpy.context.scene, load_head(), args.name, (0.0, 0.0, 0.0), materials())
    bpy.ops.wm.save_as_mainfile(filepath=str(Path(args.out).resolve()), compress=True)
    print(f"a2f: wrote {args.out}: object {skin.name} with "
          f"{len(skin.data.shape_keys.key_blocks) - 1} shape keys, and its parts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
