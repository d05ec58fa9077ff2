"""The a2f settings stored in each scene (`scene.a2f`) and their per-frame values.

The emotion controls are animatable: `emotion_controls` evaluates their F-curves at the baked
frames, so keying them gives emotion over time.
"""

import bpy
import numpy as np

from . import checkpoints, compat
from .life_properties import A2FLifeSettings
from .nla import BLEND_MODES
from .preferences import VERTEX_OUTPUTS

_item_cache = {}  # Blender needs the strings of dynamic enum items kept alive


def _keep(key, items):
    _item_cache[key] = items
    return items


def _emotion_items(self, context):
    names = checkpoints.emotion_names(self.checkpoint_path) or ["neutral"]
    return _keep(("emotion", self.checkpoint_path),
                 [(n, n.title(), f"The checkpoint's '{n}' emotion vector", i) for i, n in enumerate(names)])


def _is_face(self, obj):
    return obj.type in ('MESH', 'ARMATURE')


class A2FMappingItem(bpy.types.PropertyGroup):
    channel: bpy.props.StringProperty(name="Channel", description="Model output channel")
    shape_key: bpy.props.StringProperty(
        name="Shape Key", description="Shape key this channel drives (empty: leave it out)")


class A2FSettings(bpy.types.PropertyGroup):
    target: bpy.props.PointerProperty(
        name="Target", type=bpy.types.Object, poll=_is_face,
        description="Mesh (shape keys) or armature (poses) to animate; empty: the active object "
                    "and the other selected meshes and armatures")
    source: bpy.props.EnumProperty(
        name="Audio", default='STRIP',
        items=(('STRIP', "Sound Strip", "A sound strip of the scene's sequencer"),
               ('FILE', "Audio File", "An audio file, played from the scene's start frame")))
    strip: bpy.props.StringProperty(
        name="Strip", description="Sound strip to animate to (empty: the scene's first sound strip)")
    audio_path: bpy.props.StringProperty(name="File", subtype='FILE_PATH',
                                         description="Audio file (any format Blender plays)")
    checkpoint_path: bpy.props.StringProperty(
        name="Checkpoint", subtype='FILE_PATH',
        description="a2f checkpoint (.safetensors); empty: the model bundled with the add-on")
    emotion: bpy.props.EnumProperty(name="Emotion", items=_emotion_items,
                                    description="Emotion from the checkpoint's database")
    emotion_intensity: bpy.props.FloatProperty(
        name="Intensity", default=1.0, min=0.0, soft_max=1.0, max=2.0,
        description="How far from neutral towards the emotion (animatable)")
    emotion_second: bpy.props.EnumProperty(name="Blend With", items=_emotion_items,
                                           description="Second emotion mixed in by Blend")
    emotion_blend: bpy.props.FloatProperty(
        name="Blend", default=0.0, min=0.0, max=1.0, subtype='FACTOR',
        description="0: only the first emotion, 1: only the second (animatable)")
    offset_ms: bpy.props.FloatProperty(
        name="Offset (ms)", default=0.0, soft_min=-500.0, soft_max=500.0,
        description="Shift the animation against the sound; positive makes the face lag")
    vertex_output: bpy.props.EnumProperty(
        name="Vertex Output", default='DEFAULT',
        items=(('DEFAULT', "Preferences Default", "As set in the add-on preferences"),) + VERTEX_OUTPUTS)
    cache_dir: bpy.props.StringProperty(name="Cache Folder", subtype='DIR_PATH', default="//a2f_cache/",
                                        description="Where point-cache files are written")
    lip_contact: bpy.props.BoolProperty(
        name="Lip Contact", default=True,
        description="Shut the lips where the checkpoint's lip contact head hears p, b or m "
                    "(weights checkpoints that have one, like the bundled model)")
    blend_type: bpy.props.EnumProperty(
        name="Combine", default='REPLACE', items=BLEND_MODES,
        description="How the bake's NLA strip combines with the animation below it")
    add_sound_strip: bpy.props.BoolProperty(
        name="Add Sound Strip", default=True,
        description="Baking from a file adds it to the Sequencer at the bake's first frame")
    extend_frame_range: bpy.props.BoolProperty(
        name="Extend Frame Range", default=True,
        description="Baking from a file makes the scene's frame range cover it")
    create_missing_keys: bpy.props.BoolProperty(
        name="Create Missing ARKit Keys", description="Add the ARKit shape keys the mesh lacks, empty")
    retarget_preset: bpy.props.StringProperty(
        name="Retarget Preset",
        description="A shipped preset's name (e.g. oculus_visemes) or a preset file (.json) "
                    "mapping the model's channels onto the rig's shape keys; empty: match by name")
    use_mapping: bpy.props.BoolProperty(
        name="Use Mapping List", description="Let the mapping list override automatic name matching")
    mapping: bpy.props.CollectionProperty(type=A2FMappingItem)
    mapping_index: bpy.props.IntProperty()
    last_report: bpy.props.StringProperty(name="Last Bake", description="What the last bake did")
    life: bpy.props.PointerProperty(type=A2FLifeSettings)

    def target_object(self, context):
        return self.target or context.active_object

    def target_objects(self, context) -> list:
        """The objects a bake animates: the Target; else the active object and every other
        selected mesh or armature (teeth, tongue, eyelashes...), by name."""
        first = self.target_object(context)
        if first is None or self.target is not None:
            return [first] if first is not None else []
        others = [o for o in context.selected_objects
                  if o is not first and o.type in ('MESH', 'ARMATURE')]
        return [first] + sorted(others, key=lambda o: o.name)

    def sound_strip(self, scene):
        """The chosen sound strip (when none is chosen: the first one that is not muted), or None."""
        if self.strip:
            return compat.find_sound_strip(scene, self.strip)
        strips = [s for s in compat.sound_strips(scene) if not s.mute]
        return min(strips, key=lambda s: s.frame_final_start) if strips else None

    def overrides(self) -> dict:
        return {m.channel: m.shape_key for m in self.mapping} if self.use_mapping else {}


def emotion_controls(scene, frames: np.ndarray):
    """Per-frame (first names, second names, intensity, blend) of scene.a2f's emotion controls."""
    settings = scene.a2f
    curves = {fc.data_path: fc for fc in compat.active_fcurves(scene) if fc.data_path.startswith("a2f.")}

    def values(prop):
        curve = curves.get(f"a2f.{prop}")
        if curve is None:
            return np.full(len(frames), getattr(settings, prop), dtype=object)
        return np.array([curve.evaluate(f) for f in frames])

    def names(prop):
        curve = curves.get(f"a2f.{prop}")
        if curve is None:
            return [getattr(settings, prop)] * len(frames)
        items = [i[0] for i in _emotion_items(settings, None)]
        return [items[min(max(int(round(curve.evaluate(f))), 0), len(items) - 1)] for f in frames]

    return (names("emotion"), names("emotion_second"),
            values("emotion_intensity").astype(float), values("emotion_blend").astype(float))


classes = (A2FMappingItem, A2FSettings)


def register():
    bpy.types.Scene.a2f = bpy.props.PointerProperty(type=A2FSettings)


def unregister():
    del bpy.types.Scene.a2f
