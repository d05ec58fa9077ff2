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
ROWS_PER_BLOCK = 1024  # frames formatted per write of the text formats


def write_animation(path, frames: np.ndarray, fps: float, names=None, rotations=None):
    """Write (T, C) weights (with their C names) or (T, V, 3) vertices to path, and the
    (T, 9) head and eye rotations in radians (arkit.ROTATION_NAMES) when given.

    Text formats are written a block of rows at a time, so a long clip needs memory for its
    frames, not for its whole text as well.
    """
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
        writer = lambda f: _write_json(f, frames, fps, kind, names, rotations)  # noqa: E731
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


def _write_json(f, frames, fps, kind, names, rotations):
    """{"fps", "frame_count", kind, "names", "rotation_names", "rotations"}: the text
    json.dumps gives, written in blocks."""
    f.write(f'{{"fps": {json.dumps(fps)}, "frame_count": {len(frames)}'.encode())
    _write_json_rows(f, kind, frames)
    if kind == "weights":
        f.write(f', "names": {json.dumps(list(names))}'.encode())
    if rotations is not None:
        f.write(f', "rotation_names": {json.dumps(list(ROTATION_NAMES))}'.encode())
        _write_json_rows(f, "rotations", rotations)
    f.write(b"}")


def _write_json_rows(f, key, rows):
    f.write(f', "{key}": ['.encode())
    for i in range(0, len(rows), ROWS_PER_BLOCK):
        block = np.round(rows[i:i + ROWS_PER_BLOCK], 6).tolist()
        f.write((", " if i else "").encode()
                + ", ".join(json.dumps(r, allow_nan=False) for r in block).encode())
    f.write(b"]")


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
    f.write((",".join(["Timecode", "BlendShapeCount"] + [pascal_case(n) for n in ARKIT_NAMES]
                      + list(ROTATION_NAMES)) + "\n").encode())
    dtype = np.float32 if rotations is None else np.result_type(np.float32, rotations)
    for first in range(0, len(frames), ROWS_PER_BLOCK):
        n = min(ROWS_PER_BLOCK, len(frames) - first)
        block = np.zeros((n, len(ARKIT_NAMES) + len(ROTATION_NAMES)), dtype)
        for j, name in enumerate(ARKIT_NAMES):
            if name in column:
                block[:, j] = frames[first:first + n, column[name]]
        np.clip(block[:, :len(ARKIT_NAMES)], 0.0, 1.0, out=block[:, :len(ARKIT_NAMES)])
        if rotations is not None:
            block[:, len(ARKIT_NAMES):] = rotations[first:first + n]
        lines = [f"{livelink_timecode(first + i, fps)},{len(ARKIT_NAMES)},"
                 + ",".join(f"{v:.6g}" for v in row) for i, row in enumerate(block)]
        f.write(("\n".join(lines) + "\n").encode())
