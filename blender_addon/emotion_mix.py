"""The emotion input of a bake: two named emotions, an intensity and a blend, per frame.

The panel's controls are animatable, so each may differ per frame. Frame t gets
blend(database, {first: I*(1-b), second: I*b}) (neutral plus weighted offsets, see
a2f_core.emotions.blend); equal control values share one vector.
"""

import numpy as np

from .core import emotions


def mix(database: dict, first, second, intensity, blend) -> np.ndarray:
    """(T, E) float32 emotion vectors from per-frame controls.

    first, second: T emotion names; intensity, blend: (T,) numbers (blend 0 = only first).
    """
    cache, rows = {}, []
    for controls in zip(first, second, np.asarray(intensity, float), np.asarray(blend, float)):
        if controls not in cache:
            a, b, i, t = controls
            weights = {a: i * (1.0 - t)}
            weights[b] = weights.get(b, 0.0) + i * t
            cache[controls] = emotions.blend(database, weights)
        rows.append(cache[controls])
    return np.asarray(rows, np.float32).reshape(len(rows), -1)


def label(first: str, second: str, intensity: float, blend: float) -> str:
    """A short name for the panel's emotion controls: 'happy', 'happy 0.5', 'happy 0.7 + sad 0.3'."""
    parts = [(first, intensity * (1.0 - blend)), (second, intensity * blend)]
    parts = [(n, w) for n, w in parts if w > 0] or [("neutral", 1.0)]
    if len(parts) == 1 and parts[0][1] == 1.0:
        return parts[0][0]
    return " + ".join(f"{n} {w:.2g}" for n, w in parts)
