"""The liveliness layer in a bake: shapes and livens a weights model's frames before they are
keyed, and gives the head and eye rotations to key on their objects or bones.

Rotations play like the shape keys, in the bake's NLA strips (nla.py): a rig the bake poses
turns its bones in its own strip; any other object gets a strip on a track named as the
bake's, over its own animation, which keeps playing. Axes: an object's Z turns it (yaw, positive to
the subject's left for a face looking along -Y), X nods it (positive down), Y tilts it; a
bone's Y (along the bone) turns it, X nods it, Z tilts it. Quaternion bones get quaternions.
"""

import importlib
from dataclasses import dataclass, field

import bpy
import numpy as np

from .core import alive

compose = importlib.import_module(f"{alive.__name__}.compose")
regions = importlib.import_module(f"{alive.__name__}.regions")

PARTS = {"head": slice(0, 3), "left_eye": slice(3, 6), "right_eye": slice(6, 9)}


@dataclass
class LifeBake:
    """The layer's part of a bake's settings."""

    life: object = field(default_factory=lambda: compose.LifeSettings())
    regions: object = field(default_factory=lambda: regions.RegionSettings())
    mood: object = field(default_factory=lambda: compose.Mood())
    targets: dict = field(default_factory=dict)  # part -> (object, bone name or "")


def from_scene(settings, first, second, intensity, blend) -> LifeBake:
    """From scene.a2f and its per-frame emotion controls (properties.emotion_controls)."""
    life = settings.life
    weights = {}
    for a, b, i, t in zip(first, second, intensity, blend):
        weights[a] = weights.get(a, 0.0) + i * (1 - t) / len(first)
        weights[b] = weights.get(b, 0.0) + i * t / len(first)
    layers = {layer: life.enabled and getattr(life, layer)
              for layer in ("blinks", "gaze", "brows", "head")}
    return LifeBake(
        compose.LifeSettings(**layers, blink_strength=life.blink_strength,
                             blink_rate=life.blink_rate, gaze_strength=life.gaze_strength,
                             gaze_target=(life.gaze_yaw, life.gaze_pitch),
                             brow_strength=life.brow_strength, head_strength=life.head_strength,
                             seed=life.seed),
        regions.RegionSettings(**{f"{r}_{k}": getattr(life, f"{r}_{k}")
                                  for r in regions.REGIONS for k in ("strength", "smoothing_ms")}),
        compose.Mood.from_weights(weights), life.rotation_targets())


def liven(clip, weights: np.ndarray, names, bake: LifeBake):
    """(weights shaped and livened, (T, 9) rotations in radians) for a clip's frames."""
    weights = regions.shape_regions(weights, names, clip.fps, bake.regions)
    return compose.liven(clip.samples, weights, names, clip.fps, clip.start_seconds, bake.life,
                         bake.mood)


def rotation_curves(rotations: np.ndarray, targets: dict):
    """({object name: (object, {(data path, index): (T,) values})}, what turns: 'Head',
    'Armature:head', ...) for each target whose layer moves it; bake.py keys the curves in an
    NLA strip of the bake, so the object's own animation keeps playing beneath."""
    out, turned = {}, []
    for part, (obj, bone) in targets.items():
        if not rotations[:, PARTS[part]].any():
            continue  # that layer is off: leave the object's animation alone
        owner = obj.pose.bones.get(bone) if bone and obj.type == 'ARMATURE' else obj
        if owner is None:
            continue
        curves = out.setdefault(obj.name, (obj, {}))[1]
        yaw, pitch, roll = rotations[:, PARTS[part]].T
        prefix = f'pose.bones["{bpy.utils.escape_identifier(bone)}"].' if owner is not obj else ""
        euler = (pitch, roll, yaw) if owner is obj else (pitch, yaw, roll)  # X, Y, Z
        if owner.rotation_mode == 'QUATERNION':
            curves.update({(f"{prefix}rotation_quaternion", i): v
                           for i, v in enumerate(_quaternion(*euler))})
        else:
            if owner.rotation_mode == 'AXIS_ANGLE':
                owner.rotation_mode = 'XYZ'  # keys of three angles need an Euler mode
            curves.update({(f"{prefix}rotation_euler", i): v for i, v in enumerate(euler)})
        turned.append(f"{obj.name}:{bone}" if owner is not obj else obj.name)
    return out, turned


def _quaternion(x, y, z):
    """(4, T) w, x, y, z of XYZ Euler angles (radians): Z after Y after X, as Blender's 'XYZ'."""
    cx, sx, cy, sy, cz, sz = (f(a / 2) for a in (x, y, z) for f in (np.cos, np.sin))
    return np.stack([cx * cy * cz + sx * sy * sz, sx * cy * cz - cx * sy * sz,
                     cx * sy * cz + sx * cy * sz, cx * cy * sz - sx * sy * cz])
