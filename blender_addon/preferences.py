"""Add-on preferences: where checkpoints usually live and how vertex models are output."""

import bpy

VERTEX_OUTPUTS = (
    ('SHAPE_KEYS', "Shape Keys", "The output layer becomes shape keys, keyed per frame"),
    ('POINT_CACHE', "Point Cache", "A .pc2 file read by a Mesh Cache modifier"),
)


class A2FPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    checkpoint_dir: bpy.props.StringProperty(
        name="Checkpoint Folder", subtype='DIR_PATH',
        description="Folder the checkpoint file browser opens in")
    vertex_output: bpy.props.EnumProperty(
        name="Vertex Model Output", items=VERTEX_OUTPUTS, default='SHAPE_KEYS',
        description="Default output of checkpoints that predict vertices")

    def draw(self, context):
        self.layout.prop(self, "checkpoint_dir")
        self.layout.prop(self, "vertex_output")


def get(context):
    """These preferences, or None when the package runs without being enabled as an add-on."""
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


classes = (A2FPreferences,)
