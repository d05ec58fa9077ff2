"""View3D > Sidebar > a2f: inputs, the Generate from Audio button, name mapping and output."""

import bpy

from . import checkpoints, compat, core
from .core import A2FError


class A2F_UL_mapping(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_propname):
        obj = context.scene.a2f.target_object(context)
        row = layout.row(align=True)
        row.label(text=item.channel)
        if obj is not None and obj.type == 'MESH' and obj.data.shape_keys is not None:
            row.prop_search(item, "shape_key", obj.data.shape_keys, "key_blocks", text="")
        else:
            row.prop(item, "shape_key", text="")


class _Sidebar:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "a2f"


class A2F_PT_generate(_Sidebar, bpy.types.Panel):
    bl_label = "Generate from Audio"

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        settings = context.scene.a2f
        layout.prop(settings, "target", text="Mesh")
        if settings.target is None and context.active_object is not None:
            others = len(settings.target_objects(context)) - 1
            more = f" and {others} other selected mesh{'es' if others > 1 else ''}" if others else ""
            layout.label(text=f"Using active object '{context.active_object.name}'{more}", icon='INFO')
        layout.prop(settings, "source", expand=True)
        if settings.source == 'STRIP':
            editor = context.scene.sequence_editor
            if editor is not None:
                layout.prop_search(settings, "strip", editor, compat.all_strips_attribute(editor))
            strip = settings.sound_strip(context.scene)
            if strip is not None:
                from .audio_source import scene_fps  # imports the audio core: only once drawn
                layout.label(text=f"'{strip.name}': frames {strip.frame_final_start} - {strip.frame_final_end - 1} "
                                  f"at {scene_fps(context.scene):.3f} fps")
        else:
            layout.prop(settings, "audio_path")
            col = layout.column(heading="After Baking")
            col.prop(settings, "add_sound_strip")
            col.prop(settings, "extend_frame_range")
        row = layout.row(align=True)
        row.prop(settings, "checkpoint_path")
        row.operator("a2f.choose_checkpoint", text="", icon='FILEBROWSER')
        if not settings.checkpoint_path:
            layout.label(text="Bundled default model" if core.models.DEFAULT_WEIGHTS.is_file()
                         else "No bundled model: choose a checkpoint", icon='INFO')
        self._draw_emotion(layout, settings)
        layout.prop(settings, "offset_ms")
        row = layout.row()
        row.active = checkpoints.has_lip_contact(settings.checkpoint_path)  # greyed: no head
        row.prop(settings, "lip_contact")
        layout.prop(settings, "blend_type", expand=True)
        layout.operator("a2f.generate", icon='PLAY_SOUND')
        if settings.last_report:
            layout.label(text=settings.last_report, icon='INFO')

    @staticmethod
    def _draw_emotion(layout, settings):
        col = layout.column(heading="Emotion")
        if not checkpoints.emotion_names(settings.checkpoint_path):
            col.label(text="Emotions appear once a checkpoint loads")
        col.prop(settings, "emotion")
        col.prop(settings, "emotion_intensity", slider=True)
        col.prop(settings, "emotion_second")
        col.prop(settings, "emotion_blend", slider=True)


class A2F_PT_mapping(_Sidebar, bpy.types.Panel):
    bl_label = "Shape-Key Mapping"
    bl_parent_id = "A2F_PT_generate"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.a2f
        row = layout.row(align=True)
        row.prop(settings, "retarget_preset", text="Preset")
        row.operator("a2f.use_preset", text="", icon='PRESET')
        row.operator("a2f.load_preset", text="", icon='FILEBROWSER')
        row.operator("a2f.save_preset", text="", icon='FILE_TICK')
        if settings.retarget_preset:
            layout.label(text="The preset maps channels to shape keys; the list below is not used",
                         icon='INFO')
            return
        layout.prop(settings, "create_missing_keys")
        row = layout.row(align=True)
        for preset, text in (('ARKIT', "ARKit"), ('CHECKPOINT', "Checkpoint"), ('CLEAR', "Clear")):
            row.operator("a2f.mapping_preset", text=text).preset = preset
        layout.prop(settings, "use_mapping")
        if settings.use_mapping:
            layout.template_list("A2F_UL_mapping", "", settings, "mapping", settings, "mapping_index")


class A2F_PT_output(_Sidebar, bpy.types.Panel):
    bl_label = "Vertex Model Output"
    bl_parent_id = "A2F_PT_generate"
    bl_options = {'DEFAULT_CLOSED'}

    @classmethod
    def poll(cls, context):
        try:
            return checkpoints.load(context.scene.a2f.checkpoint_path).kind == "vertices"
        except A2FError:
            return False

    def draw(self, context):
        settings = context.scene.a2f
        self.layout.prop(settings, "vertex_output")
        self.layout.prop(settings, "cache_dir")


classes = (A2F_UL_mapping, A2F_PT_generate, A2F_PT_mapping, A2F_PT_output)
