"""View3D > Sidebar > a2f > Generate from Audio > Liveliness: the layer's controls."""

import bpy

from .panel import A2F_PT_generate


class A2F_PT_life(bpy.types.Panel):
    bl_label = "Liveliness"
    bl_space_type, bl_region_type, bl_category = 'VIEW_3D', 'UI', "a2f"
    bl_parent_id = A2F_PT_generate.__name__
    bl_options = {'DEFAULT_CLOSED'}

    def draw_header(self, context):
        self.layout.prop(context.scene.a2f.life, "enabled", text="")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        life = context.scene.a2f.life
        layers = layout.column()
        layers.active = life.enabled
        for layer, extra in (("blinks", ("blink_rate",)), ("gaze", ("gaze_yaw", "gaze_pitch")),
                             ("brows", ()), ("head", ())):
            col = layers.column(heading=layer.title())
            col.prop(life, layer, text="")
            sub = col.column()
            sub.active = getattr(life, layer)
            sub.prop(life, f"{layer.rstrip('s')}_strength", slider=True)
            for name in extra:
                sub.prop(life, name)
        layers.prop(life, "seed")
        col = layout.column(heading="Network Output")
        for region in ("upper", "lower", "lips"):
            col.prop(life, f"{region}_strength", slider=True)
            col.prop(life, f"{region}_smoothing_ms")
        col = layout.column(heading="Rotations")
        for part in ("head", "left_eye", "right_eye"):
            col.prop(life, f"{part}_target")
            target = getattr(life, f"{part}_target")
            if target is not None and target.type == 'ARMATURE':
                col.prop_search(life, f"{part}_bone", target.pose, "bones")


classes = (A2F_PT_life,)
