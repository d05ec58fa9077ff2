"""The demo scene (bpy): scanned heads with ARKit shape keys, the line as a sound strip, camera, lights.

One head per emotion, side by side, so a single render shows neutral and the emotion at the same
instant, with the line's sound under both. Output settings (H.264 + AAC .mp4 next to the .blend,
Workbench) are stored in the file, so Render > Render Animation in Blender remakes the preview.
Workbench because it renders in well under a second per frame on a CPU-only machine, where
EEVEE first spends minutes compiling shaders; the three-point light and the node materials serve
anyone who switches to EEVEE or Cycles.
"""

import math

import bpy
from mathutils import Vector

from blender_addon import compat
from demo import blender_head

FPS = 30
SPACING = 0.24                      # metres between head centres (the head is 0.25 m wide)
LABEL = (0.95, 0.95, 0.95, 1.0)
RESOLUTION = (640, 400)
FACE_CENTER_Z = 0.0                 # the camera aims at the middle of the face (nose tip height)
FACE_HEIGHT = 0.25                  # metres the view shows: chin to the top of the forehead
_LENS_MM, _SENSOR_MM = 50.0, 36.0


def build(head, audio_path: str, emotions) -> dict:
    """A new file holding one head per emotion; returns {emotion: skin object name}.

    Names, not objects: every bake reopens the file, which frees the objects built here.
    """
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = FPS, 1.0
    looks = blender_head.materials()
    text = bpy.data.materials.new("label")
    text.diffuse_color = LABEL
    heads = {}
    for k, emotion in enumerate(emotions):
        x = (k - (len(emotions) - 1) / 2) * SPACING
        heads[emotion] = blender_head.add_head(scene, head, f"Face_{emotion}", (x, 0.0, 0.0),
                                               looks).name
        _label(scene, emotion, (x, -0.1, FACE_CENTER_Z - FACE_HEIGHT / 2 + 0.012), text)
    strip = compat.new_sound_strip(scene, "line", audio_path, 1, 1)
    scene.frame_start, scene.frame_end = 1, int(strip.frame_final_end) - 1
    _camera(scene, width=max(SPACING * len(emotions),
                             FACE_HEIGHT * RESOLUTION[0] / RESOLUTION[1]))
    _lights(scene)
    _output(scene)
    return heads


def _label(scene, text, location, material):
    curve = bpy.data.curves.new(f"label_{text}", "FONT")
    curve.body, curve.size, curve.align_x = text, 0.03, "CENTER"
    curve.materials.append(material)
    obj = bpy.data.objects.new(f"label_{text}", curve)
    obj.location, obj.rotation_euler = location, (math.pi / 2, 0, 0)
    scene.collection.objects.link(obj)


def _camera(scene, width):
    """A 50 mm camera in front of the faces (they look along -y) whose view is `width` wide."""
    cam = bpy.data.cameras.new("camera")
    cam.lens, cam.sensor_width, cam.sensor_fit = _LENS_MM, _SENSOR_MM, "HORIZONTAL"
    cam.clip_start = 0.01
    distance = width / 2 / (_SENSOR_MM / 2 / _LENS_MM)
    obj = bpy.data.objects.new("camera", cam)
    obj.location, obj.rotation_euler = (0.0, -distance, FACE_CENTER_Z), (math.radians(90), 0, 0)
    scene.collection.objects.link(obj)
    scene.camera = obj


def _lights(scene):
    """Key (front left, above), fill (front right, softer) and rim (behind, above): area lights
    aimed at the faces, for EEVEE and Cycles."""
    for name, energy, location in (("key", 40.0, (-0.5, -0.9, 0.45)), ("fill", 12.0, (0.7, -0.8, 0.05)),
                                   ("rim", 25.0, (0.2, 0.8, 0.6))):
        light = bpy.data.lights.new(name, "AREA")
        light.energy, light.size = energy, 0.5
        obj = bpy.data.objects.new(name, light)
        obj.location = location
        direction = [-c for c in location]  # towards the faces
        obj.rotation_euler = Vector(direction).to_track_quat("-Z", "Y").to_euler()
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
    shading.show_specular_highlight = True
    scene.view_settings.view_transform = "Standard"  # the materials' colours, not AgX's pastels
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
