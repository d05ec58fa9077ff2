"""Pick a checkpoint file in a browser that opens in the preferences' checkpoint folder."""

import bpy

from .. import preferences


class A2F_OT_choose_checkpoint(bpy.types.Operator):
    bl_idname = "a2f.choose_checkpoint"
    bl_label = "Choose Checkpoint"
    bl_description = "Choose an a2f checkpoint file (.safetensors)"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: bpy.props.StringProperty(subtype='FILE_PATH')
    filter_glob: bpy.props.StringProperty(default="*.safetensors", options={'HIDDEN'})

    def invoke(self, context, event):
        prefs = preferences.get(context)
        current = context.scene.a2f.checkpoint_path
        self.filepath = current or (prefs.checkpoint_dir if prefs is not None else "")
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context):
        context.scene.a2f.checkpoint_path = self.filepath
        return {'FINISHED'}
