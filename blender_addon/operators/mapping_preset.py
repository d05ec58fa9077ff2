"""Fill the editable channel -> shape-key mapping list from a preset, pre-matched by name."""

import bpy

from .. import checkpoints, core
from ..core import A2FError
from ..name_matching import match_channels


class A2F_OT_mapping_preset(bpy.types.Operator):
    bl_idname = "a2f.mapping_preset"
    bl_label = "Load Mapping Preset"
    bl_description = "Fill the mapping list with a preset's channels, matched to the mesh's shape keys"
    bl_options = {'REGISTER', 'UNDO'}

    preset: bpy.props.EnumProperty(
        name="Preset",
        items=(('ARKIT', "ARKit", "The 52 ARKit blendshapes"),
               ('CHECKPOINT', "Checkpoint", "The chosen checkpoint's output channels"),
               ('CLEAR', "Clear", "Empty the list and go back to automatic matching")))

    @classmethod
    def poll(cls, context):
        obj = context.scene.a2f.target_object(context)
        if obj is None or obj.type != 'MESH':
            cls.poll_message_set("Select the face mesh or set a target mesh")
            return False
        return True

    def execute(self, context):
        settings = context.scene.a2f
        settings.mapping.clear()
        settings.use_mapping = self.preset != 'CLEAR'
        if self.preset == 'CLEAR':
            return {'FINISHED'}
        if self.preset == 'ARKIT':
            channels = list(core.arkit.ARKIT_NAMES)
        else:
            try:
                channels = checkpoints.load(settings.checkpoint_path).channel_names
            except A2FError as e:
                self.report({'ERROR'}, str(e))
                return {'CANCELLED'}
            if channels is None:
                self.report({'ERROR'}, "this checkpoint outputs vertices, it has no channels to map")
                return {'CANCELLED'}
        from .. import bake
        mapping, unmatched = match_channels(channels, bake.shape_key_names(settings.target_object(context)))
        for channel in channels:
            item = settings.mapping.add()
            item.channel, item.shape_key = channel, mapping.get(channel, "")
        self.report({'INFO'}, f"{len(mapping)} of {len(channels)} channels matched a shape key")
        return {'FINISHED'}
