"""Pose-library rigs: an armature's poses blended per frame onto its bones, keyed on the bones.

A pose is an action holding the bone transforms of one mouth shape, every key on one frame
(saved from the Pose Library, or keyed by hand) named like the target it shows: `viseme_PP`,
`MBP`, `jawOpen`, `Rig.viseme_aa` (matched as shape keys are, name_matching). Each frame, every
bone channel a pose sets gets rest + sum_k w_k (pose_k - rest): the weights blend each pose's
offset from rest, as shape keys do. Quaternions blend the same way and are then normalised.
"""

import re

import bpy
import numpy as np

from . import compat

_BONE_PATH = re.compile(r'^pose\.bones\["((?:[^"\\]|\\.)*)"\]\.(location|rotation_euler|'
                        r'rotation_quaternion|rotation_axis_angle|scale)$')
_QUATERNION = "rotation_quaternion"


def rest_value(data_path: str, index: int) -> float:
    prop = data_path.rsplit(".", 1)[1]
    if prop == "scale" or (prop == _QUATERNION and index == 0):
        return 1.0
    if prop == "rotation_axis_angle" and index == 2:
        return 1.0  # the axis (0, 1, 0) of Blender's rest axis-angle
    return 0.0


def poses(obj) -> dict:
    """{action name: {(data_path, index): value}} of the actions that pose obj's bones only,
    with every key on one frame (so a bake's own actions are never taken for poses)."""
    bones = {b.name for b in obj.pose.bones}
    out = {}
    for action in bpy.data.actions:
        curves = compat.all_fcurves(action)
        if not curves:
            continue
        found = [_BONE_PATH.match(fc.data_path) for fc in curves]
        if not all(found) or any(m.group(1).replace('\\"', '"') not in bones for m in found):
            continue
        frames = {k.co[0] for fc in curves for k in fc.keyframe_points}
        if len(frames) != 1:
            continue
        frame = frames.pop()
        out[action.name] = {(fc.data_path, fc.array_index): fc.evaluate(frame) for fc in curves}
    return out


def blend(pose_values: list, weights: np.ndarray) -> dict:
    """{(data_path, index): (T,) float32} for every channel a pose sets; weights (T, K) for the
    K poses in pose_values."""
    channels = sorted({c for pose in pose_values for c in pose})
    out = {}
    for path, index in channels:
        rest = rest_value(path, index)
        offsets = np.array([pose.get((path, index), rest) - rest for pose in pose_values], np.float32)
        out[path, index] = rest + weights @ offsets
    for path in {p for p, _ in channels if p.endswith(_QUATERNION)}:
        parts = [out.setdefault((path, i), np.full(len(weights), rest_value(path, i), np.float32))
                 for i in range(4)]
        norm = np.sqrt(sum(q * q for q in parts))
        norm[norm == 0] = 1.0
        for i in range(4):
            out[path, i] = (parts[i] / norm).astype(np.float32)
    return out
