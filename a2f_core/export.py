"""Writing animation to files: .npz, Live Link Face .csv and .json, chosen by extension.

Every file is replaced in one piece (`atomic.atomic_write`): an existing file is never left
half-overwritten.
"""

import json
import os
from pathlib import Path

import numpy as np

from .arkit import ARKIT_NAMES, ROTATION_NAMES, pascal_case
from .atomic import atomic_write
from .errors import A2FError

FORMATS = (".npz", ".csv", ".json")


def write_animation(path, frames: np.ndarray, fps: float, names=None, rotations=None):
    """Write (T, C) weights (with their C names) or (T, V, 3) vertices to path, and the
    (T, 9) head and eye rotations in radians (arkit.ROTATION_NAMES) when given."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise A2FError(f"cannot write {path}: use one of {', '.join(FORMATS)}")
    if not np.isfinite(frames).all() or rotations is not None and not np.isfinite(rotations).all():
        raise A2FError(f"cannot write {path}: the animation holds NaN or infinite values")
    kind = "vertices" if frames.ndim == 3 else "weights"
    if suffix == ".csv":
        if kind != "weights" or not set(names or ()) <= set(ARKIT_NAMES):
            raise A2FError("Live Link Face .csv needs a weights model with ARKit channel names; "
                           "write .npz or .json instead")
        writer = lambda f: _write_livelink_csv(f, frames, fps, names, rotations)  # noqa: E731
    elif suffix == ".npz":
        arrays = {"fps": np.float64(fps), kind: frames.astype(np.float32)}
        if kind == "weights":
            arrays["names"] = np.array(names, dtype=str)
        if rotations is not None:
            arrays["rotations"] = np.asarray(rotations, np.float32)
            arrays["rotation_names"] = np.array(ROTATION_NAMES, dtype=str)
        # vertex positions barely compress (7% on the 14k-vertex demo skin) and deflating
        # 300 MB a minute would take four times as long as the network
        save = np.savez_compressed if kind == "weights" else np.savez
        writer = lambda f: save(f, **arrays)  # noqa: E731
    else:
        doc = {"fps": fps, "frame_count": len(frames), kind: np.round(frames, 6).tolist()}
        if kind == "weights":
            doc["names"] = list(names)
        if rotations is not None:
            doc["rotation_names"] = list(ROTATION_NAMES)
            doc["rotations"] = np.round(rotations, 6).tolist()
        writer = lambda f: f.write(json.dumps(doc, allow_nan=False).encode())  # noqa: E731
    atomic_write(path, writer)


def refuse_overwriting(output, source):
    """A2FError when output is the file source (the same file by any path or link): writing
    there would destroy the input."""
    try:
        same = os.path.samefile(output, source)
    except OSError:  # either is missing: nothing to destroy
        return
    if same:
        raise A2FError(f"the output {output} is the input file {source}; choose another output "
                       "name")


def livelink_timecode(frame: int, fps: float) -> str:
    """HH:MM:SS:FF.mmm for video frame `frame`: whole frames of the second, then the remainder."""
    seconds = frame / fps
    whole = int(seconds + 1e-9)
    sub = (seconds - whole) * fps
    ff = int(sub + 1e-6)
    millis = int(round((sub - ff) * 1000)) % 1000
    return (f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}:"
            f"{ff:02d}.{millis:03d}")


def _write_livelink_csv(f, frames, fps, names, rotations):
    """Apple Live Link Face layout: Timecode, BlendShapeCount, the 52 PascalCase ARKit names,
    then 9 head and eye rotations in radians (zero when not given)."""
    column = {name: i for i, name in enumerate(names)}
    lines = [",".join(["Timecode", "BlendShapeCount"]
                      + [pascal_case(n) for n in ARKIT_NAMES] + list(ROTATION_NAMES))]
    full = np.zeros((len(frames), len(ARKIT_NAMES)), np.float32)
    for j, name in enumerate(ARKIT_NAMES):
        if name in column:
            full[:, j] = frames[:, column[name]]
    if rotations is None:
        rotations = np.zeros((len(frames), len(ROTATION_NAMES)), np.float32)
    for i, row in enumerate(np.concatenate([np.clip(full, 0.0, 1.0), rotations], axis=1)):
        values = ",".join(f"{v:.6g}" for v in row)
        lines.append(f"{livelink_timecode(i, fps)},{len(ARKIT_NAMES)},{values}")
    f.write(("\n".join(lines) + "\n").encode())
