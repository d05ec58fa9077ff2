"""The demo scene (bpy): demo heads with ARKit shape keys, the line as a sound strip, camera, light.

One head per emotion, side by side, so a single render shows neutral and the emotion at the same
instant, with the line's sound under both. Output settings (H.264 + AAC .mp4 next to the .blend,
Workbench) are stored in the file, so Render > Render Animation in Blender remakes the preview.
Workbench because it renders in well under a second per frame on a CPU-only machine, where
EEVEE first spends minutes compiling shaders; the light and the node material serve anyone who
switches to EEVEE or Cycles.
"""

import math

import bpy
import numpy as np

from blender_addon import compat

FPS = 30
SPACING = 0.2                       # metres between head centres
SKIN = (0.80, 0.56, 0.45, 1.0)
EYE = (0.12, 0.16, 0.22, 1.0)
LABEL = (0.95, 0.95, 0.95, 1.0)
RESOLUTION = (640, 400)
_LENS_MM, _SENSOR_MM = 50.0, 36.0


def build(head, audio_path: str, emotions) -> dict:
    """A new file holding one head per emotion; returns {emotion: head object name}.

    Names, not objects: every bake reopens the file, which frees the objects built here.
    """
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    skin, eye, text = (_material(n, c) for n, c in (("skin", SKIN), ("eye", EYE), ("label", LABEL)))
    heads = {}
    for k, emotion in enumerate(emotions):
        x = (k - (len(emotions) - 1) / 2) * SPACING
        heads[emotion] = _head(scene, f"Face_{emotion}", head, (x, 0.0, 0.0), skin, eye).name
        _label(scene, emotion, (x, -0.05, -0.165), text)
    strip = compat.new_sound_strip(scene, "line", audio_path, 1, 1)
    scene.frame_start, scene.frame_end = 1, int(strip.frame_final_end) - 1
    _camera(scene, width=SPACING * (len(emotions) - 1) + 0.36)
    _light(scene)
    _output(scene)
    return heads


def _head(scene, name, head, location, skin, eye):
    """The demo head mesh with a Basis and one shape key per stored ARKit delta, plus eyeballs."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(head.vertices.tolist(), [], head.faces.tolist())
    mesh.shade_smooth()
    mesh.materials.append(skin)
    obj = bpy.data.objects.new(name, mesh)
    obj.location = location
    scene.collection.objects.link(obj)
    obj.shape_key_add(name="Basis", from_mix=False)
    for key_name, delta in zip(head.names, head.deltas):
        key = obj.shape_key_add(name=key_name, from_mix=False)
        key.data.foreach_set("co", (head.vertices + delta).ravel())
    for side in (1, -1):
        _eyeball(scene, obj, (side * 0.024, -0.07, 0.012), eye)
    return obj


def _eyeball(scene, parent, location, material):
    mesh = bpy.data.meshes.new("eye")
    _uv_sphere(mesh, radius=0.0125)
    mesh.materials.append(material)
    obj = bpy.data.objects.new(f"{parent.name}_eye", mesh)
    obj.parent, obj.location = parent, location
    scene.collection.objects.link(obj)


def _uv_sphere(mesh, radius, rings=12, segments=16):
    """Fill mesh with a smooth UV sphere (bpy.ops would need a context and an active object)."""
    theta = np.linspace(0, math.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * math.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    verts = np.concatenate([[[0, 0, 1]], ring, [[0, 0, -1]]]) * radius
    idx = lambda r, s: 1 + r * segments + s % segments  # noqa: E731
    faces = [(0, idx(0, s), idx(0, s + 1)) for s in range(segments)]
    faces += [(idx(r, s), idx(r + 1, s), idx(r + 1, s + 1), idx(r, s + 1))
              for r in range(rings - 2) for s in range(segments)]
    last = len(verts) - 1
    faces += [(last, idx(rings - 2, s + 1), idx(rings - 2, s)) for s in range(segments)]
    mesh.from_pydata(verts.tolist(), [], faces)
    mesh.shade_smooth()


def _label(scene, text, location, material):
    curve = bpy.data.curves.new(f"label_{text}", "FONT")
    curve.body, curve.size, curve.align_x = text, 0.03, "CENTER"
    curve.materials.append(material)
    obj = bpy.data.objects.new(f"label_{text}", curve)
    obj.location, obj.rotation_euler = location, (math.pi / 2, 0, 0)
    scene.collection.objects.link(obj)


def _material(name, color):
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = color  # what Workbench shows
    mat.use_nodes = True
    mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = color
    return mat


def _camera(scene, width):
    """A 50 mm camera in front of the faces (they look along -y) whose view is `width` wide."""
    cam = bpy.data.cameras.new("camera")
    cam.lens, cam.sensor_width, cam.sensor_fit = _LENS_MM, _SENSOR_MM, "HORIZONTAL"
    distance = width / 2 / (_SENSOR_MM / 2 / _LENS_MM)
    obj = bpy.data.objects.new("camera", cam)
    obj.location, obj.rotation_euler = (0.0, -distance, -0.025), (math.radians(90), 0, 0)
    scene.collection.objects.link(obj)
    scene.camera = obj


def _light(scene):
    light = bpy.data.lights.new("key", "AREA")
    light.energy, light.size = 30.0, 0.5
    obj = bpy.data.objects.new("key", light)
    obj.location, obj.rotation_euler = (0.4, -0.8, 0.5), (math.radians(60), 0, math.radians(25))
    scene.collection.objects.link(obj)
    scene.world = bpy.data.worlds.new("world")
    scene.world.color = (0.05, 0.06, 0.08)


def _output(scene):
    """Workbench with studio light and material colours; H.264 + AAC .mp4 beside the .blend.

    FXAA instead of Workbench's default 8 samples: a quarter of the time per frame on a CPU
    (software OpenGL) at hardly visible cost; set Render > Sampling higher for a final render.
    """
    render = scene.render
    render.engine = "BLENDER_WORKBENCH"
    scene.display.render_aa = "FXAA"
    shading = scene.display.shading
    shading.light, shading.color_type, shading.show_cavity = "STUDIO", "MATERIAL", True
    render.resolution_x, render.resolution_y = RESOLUTION
    render.resolution_percentage = 100
    render.use_stamp = True
    for field in ("date", "render_time", "camera", "lens", "scene", "filename", "memory",
                  "hostname", "marker", "frame_range", "sequencer_strip", "note"):
        setattr(render, f"use_stamp_{field}", False)
    render.use_stamp_time, render.use_stamp_frame = True, True
    render.filepath = "//demo.mp4"
    render.image_settings.file_format = "FFMPEG"
    ffmpeg = render.ffmpeg
    ffmpeg.format, ffmpeg.codec, ffmpeg.constant_rate_factor = "MPEG4", "H264", "MEDIUM"
    ffmpeg.audio_codec, ffmpeg.audio_bitrate, ffmpeg.audio_channels = "AAC", 128, "MONO"
