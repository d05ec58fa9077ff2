"""The liveliness settings of a scene (`scene.a2f.life`): blinks, gaze, brows and head motion
added to a weights model's bake, per-region shaping of its output, and what the head and eye
rotations are keyed on."""

import bpy

_STRENGTH = dict(default=1.0, min=0.0, soft_max=2.0, max=10.0)


def _strength(name, what):
    return bpy.props.FloatProperty(name=name, description=f"Scale {what}", **_STRENGTH)


def _smoothing(what):
    return bpy.props.FloatProperty(
        name="Smoothing (ms)", default=0.0, min=0.0, soft_max=200.0, max=2000.0,
        description=f"Time constant of a zero-phase low pass over the network's {what} channels "
                    "(0: none)")


def _target(what):
    return bpy.props.PointerProperty(
        name=what, type=bpy.types.Object,
        description=f"Object whose rotation is keyed with the {what.lower()} (an armature: "
                    "the bone below)")


def _bone(what):
    return bpy.props.StringProperty(
        name="Bone", description=f"Pose bone of the armature keyed with the {what} rotation "
                                 "(empty: the object itself)")


class A2FLifeSettings(bpy.types.PropertyGroup):
    enabled: bpy.props.BoolProperty(
        name="Liveliness", default=True,
        description="Add blinks, gaze, brows and head motion from the voice to a weights bake")
    blinks: bpy.props.BoolProperty(name="Blinks", default=True)
    blink_strength: _strength("Strength", "the blinks")
    blink_rate: bpy.props.FloatProperty(
        name="Rate (per min)", default=17.0, min=0.0, max=60.0,
        description="Blinks per minute while speaking, before the emotion changes it")
    gaze: bpy.props.BoolProperty(name="Gaze", default=True)
    gaze_strength: _strength("Strength", "how far the eyes wander")
    gaze_yaw: bpy.props.FloatProperty(
        name="Target Yaw", default=0.0, min=-20.0, max=20.0,
        description="Degrees the eyes wander around: positive looks to the subject's left")
    gaze_pitch: bpy.props.FloatProperty(
        name="Target Pitch", default=0.0, min=-15.0, max=15.0,
        description="Degrees the eyes wander around: positive looks down")
    brows: bpy.props.BoolProperty(name="Brows", default=True)
    brow_strength: _strength("Strength", "how far accents raise the brows")
    head: bpy.props.BoolProperty(name="Head", default=True)
    head_strength: _strength("Strength", "the head's nods and drift")
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0,
                                description="Random seed: the same seed gives the same motion")
    upper_strength: _strength("Upper Face", "the network's eye, brow, cheek-squint and sneer "
                                            "channels")
    upper_smoothing_ms: _smoothing("upper face")
    lower_strength: _strength("Lower Face", "the network's jaw, smile, frown, stretch and "
                                            "other lower-face channels")
    lower_smoothing_ms: _smoothing("lower face")
    lips_strength: _strength("Lips", "the network's lip channels (close, funnel, pucker, roll, "
                                     "press, shrug, upper up, lower down)")
    lips_smoothing_ms: _smoothing("lip")
    head_target: _target("Head")
    head_bone: _bone("head")
    left_eye_target: _target("Left Eye")
    left_eye_bone: _bone("left eye")
    right_eye_target: _target("Right Eye")
    right_eye_bone: _bone("right eye")

    def rotation_targets(self) -> dict:
        """{'head' | 'left_eye' | 'right_eye': (object, bone name or '')} of the set targets."""
        return {part: (getattr(self, f"{part}_target"), getattr(self, f"{part}_bone"))
                for part in ("head", "left_eye", "right_eye")
                if getattr(self, f"{part}_target") is not None}


classes = (A2FLifeSettings,)
