"""Retarget presets in the panel: pick a shipped one, load a file, save the mapping as a file.

A preset (a2f_core.retarget) maps the model's channels onto a rig's shape keys with gains and
offsets; the scene keeps the preset's shipped name or file path in `scene.a2f.retarget_preset`.
"""

from pathlib import Path

import bpy

from .. import checkpoints, core
from ..core import A2FError
from ..name_matching import match_channels

_items = []  # Blender needs the strings of dynamic enum items kept alive


def _shipped_items(self, context):
    _items[:] = [('NONE', "None (match by name)", "Match the model's channels to shape keys by name")]
    for stem in core.retarget.shipped_presets():
        preset = core.retarget.load_preset(stem)
        _items.append((stem, preset.name, preset.description[:200]))
    return _items


def load(setting: str):
    """The Preset a panel value names, or None for an empty one; A2FError when unusable."""
    if not setting:
        return None
    return core.retarget.load_preset(setting if setting in core.retarget.shipped_presets()
                                     else bpy.path.abspath(setting))


class A2F_OT_use_preset(bpy.types.Operator):
    bl_idname = "a2f.use_preset"
    bl_label = "Use Shipped Preset"
    bl_description = "Map the model's channels onto a common rig's shape keys"
    bl_options = {'REGISTER', 'UNDO'}
    bl_property = "preset"

    preset: bpy.props.EnumProperty(name="Preset", items=_shipped_items)

    def invoke(self, context, event):
        context.window_manager.invoke_search_popup(self)
        return {'RUNNING_MODAL'}

    def execute(self, context):
        context.scene.a2f.retarget_preset = "" if self.preset == 'NONE' else self.preset
        return {'FINISHED'}


class A2F_OT_load_preset(bpy.types.Operator):
    bl_idname = "a2f.load_preset"
    bl_label = "Load Preset File"
    bl_description = "Use a retarget preset file (.json)"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: bpy.props.StringProperty(subtype='FILE_PATH')
    filter_glob: bpy.props.StringProperty(default="*.json", options={'HIDDEN'})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context):
        try:
            preset = load(self.filepath)
        except A2FError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        context.scene.a2f.retarget_preset = self.filepath
        self.report({'INFO'}, f"using preset '{preset.name}' ({len(preset.targets)} targets)")
        return {'FINISHED'}


class A2F_OT_save_preset(bpy.types.Operator):
    bl_idname = "a2f.save_preset"
    bl_label = "Save Preset File"
    bl_description = ("Save the preset in use, or else the channel -> shape key mapping the "
                      "bake would use on the target mesh, as a preset file to share")
    bl_options = {'REGISTER'}

    filepath: bpy.props.StringProperty(subtype='FILE_PATH')
    filter_glob: bpy.props.StringProperty(default="*.json", options={'HIDDEN'})

    def invoke(self, context, event):
        self.filepath = self.filepath or "mapping.json"
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context):
        settings = context.scene.a2f
        try:
            preset = load(settings.retarget_preset) or self._mapping_preset(context)
            path = core.retarget.save_preset(preset, bpy.path.abspath(self.filepath))
        except A2FError as e:
            self.report({'ERROR'}, str(e))
            return {'CANCELLED'}
        self.report({'INFO'}, f"saved preset '{preset.name}' ({len(preset.targets)} targets) to {path}")
        return {'FINISHED'}

    def _mapping_preset(self, context):
        from .. import bake
        settings = context.scene.a2f
        channels = checkpoints.load(settings.checkpoint_path).channel_names
        if channels is None:
            raise A2FError("this checkpoint outputs vertices; it has no channels to map")
        objs = settings.target_objects(context)
        if not objs:
            raise A2FError("select the face mesh whose mapping to save")
        mapping, _ = match_channels(channels, bake.shape_key_names(objs[0]), settings.overrides())
        if not mapping:
            raise A2FError(f"no shape key of '{objs[0].name}' matches a channel; nothing to save")
        name = Path(self.filepath).stem[:63] or "mapping"
        return core.retarget.identity(mapping, name, f"channel -> shape key mapping of '{objs[0].name}'")
