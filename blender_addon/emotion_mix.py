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
