"""Which frames the contact sheet shows: the instants where the animation has most to show.

numpy only, run inside the bpy venv on the baked curves. Each moment is the frame maximising a
score over the ARKit channels (a channel the checkpoint lacks scores zero and its moment is left
out); picks closer than MIN_GAP frames to an earlier pick fall back to the next best frame.
"""

import numpy as np

MIN_GAP = 6  # frames


def _channel(weights, names, *wanted):
    """(T,) mean of the named channels present in names (zeros when none is)."""
    columns = [names.index(n) for n in wanted if n in names]
    return weights[:, columns].mean(axis=1) if columns else np.zeros(len(weights))


def pick(neutral: np.ndarray, emotional: np.ndarray, names: list) -> list:
    """[(frame index, label)] in time order, from (T, C) neutral and emotional bakes."""
    both = (neutral + emotional) / 2
    smile = ("mouthSmileLeft", "mouthSmileRight")
    t = np.linspace(0, 1, len(neutral))
    mid_clip = (t > 0.15) & (t < 0.85)
    scores = [
        ("jaw open", _channel(both, names, "jawOpen")),
        ("lips rounded", _channel(both, names, "mouthFunnel", "mouthPucker")),
        ("lips closed", _channel(both, names, "mouthClose", "mouthPressLeft", "mouthPressRight")),
        ("emotion: smile", _channel(emotional - neutral, names, *smile)),
        ("emotion: brows", np.abs(_channel(emotional - neutral, names, "browInnerUp"))),
        ("mouth at rest", np.where(mid_clip, -_channel(both, names, "jawOpen"), -np.inf)),
    ]
    chosen = []
    for label, score in scores:
        if not np.any(score[np.isfinite(score)]):
            continue
        for frame in np.argsort(score, kind="stable")[::-1]:
            if np.isfinite(score[frame]) and all(abs(frame - f) >= MIN_GAP for f, _ in chosen):
                chosen.append((int(frame), label))
                break
    return sorted(chosen)
