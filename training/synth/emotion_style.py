"""Per-take emotional style: what the audio alone does not reveal, so the emotion table must learn it.

A style adds a resting-pose offset (smile, frown, brows, squints) and scales articulation (angry
speech opens wider, sad speech mumbles). Its strength is drawn per take and drifts slowly, so
the learned per-frame emotion vectors see a continuum rather than five fixed points. In silence
the face rests at the offsets alone, which for neutral is all zeros.
"""

from dataclasses import dataclass

import numpy as np

from .visemes import CHANNEL, JAW_CHANNELS, both


@dataclass(frozen=True)
class Style:
    """Offsets (ARKit name -> weight at full strength) and articulation gains at full strength."""
    offsets: dict
    jaw_gain: float = 1.0
    lip_gain: float = 1.0


STYLES = {
    "neutral": Style({}),
    "happy": Style({**both("mouthSmile", 0.45), **both("cheekSquint", 0.3),
                    **both("eyeSquint", 0.15), **both("mouthDimple", 0.12),
                    **both("browOuterUp", 0.05)}, jaw_gain=1.05, lip_gain=0.85),
    "sad": Style({**both("mouthFrown", 0.35), "browInnerUp": 0.5, "mouthShrugLower": 0.2,
                  **both("browDown", 0.05)}, jaw_gain=0.75, lip_gain=0.8),
    "angry": Style({**both("browDown", 0.6), **both("noseSneer", 0.25),
                    **both("mouthPress", 0.12), **both("eyeSquint", 0.2),
                    **both("mouthUpperUp", 0.1), "jawForward": 0.05},
                   jaw_gain=1.15, lip_gain=1.2),
    "surprised": Style({"browInnerUp": 0.55, **both("browOuterUp", 0.6),
                        **both("eyeWide", 0.35), "jawOpen": 0.12}, jaw_gain=1.2, lip_gain=1.1),
}
EMOTIONS = tuple(STYLES)
_JAW = [CHANNEL[n] for n in JAW_CHANNELS]


def strength_curve(frames: int, fps: float, base: float, rng: np.random.Generator) -> np.ndarray:
    """(T,) style strength: `base` times a slow drift (a few seconds per swing), clipped to [0, 1.2]."""
    knots_every = 2.5 * fps
    knots = rng.uniform(0.7, 1.3, size=int(frames / knots_every) + 2)
    drift = np.interp(np.arange(frames) / knots_every, np.arange(len(knots)), knots)
    return np.clip(base * drift, 0.0, 1.2).astype(np.float32)


def apply_style(weights: np.ndarray, emotion: str, strength: np.ndarray) -> np.ndarray:
    """weights (T, 52) articulation -> styled weights: gains scaled, offsets added, by strength (T,)."""
    style = STYLES[emotion]
    s = strength[:, None]
    gains = np.full(weights.shape[1], style.lip_gain, np.float32)
    gains[_JAW] = style.jaw_gain
    out = weights * (1.0 + s * (gains - 1.0))
    for name, value in style.offsets.items():
        out[:, CHANNEL[name]] += s[:, 0] * value
    return out
