"""The teacher: timed phonemes + clean speech -> ARKit-52 weights per frame for one take.

articulation (visemes.py) x loudness -> emotion style -> per-take variation -> exact bilabial
closure -> clip to [0, 1]. Loudness comes from the clean speech's short-time energy, so louder
syllables open the jaw wider and the model can hear why. Blinks stay zero: they are not in the
audio, and asking the model to predict them would only teach it noise.
"""

from dataclasses import dataclass

import numpy as np

from a2f_core.audio import SAMPLE_RATE
from a2f_core.arkit import ARKIT_NAMES
from .emotion_style import apply_style, strength_curve
from .speech import level_db
from .visemes import CHANNEL, JAW_CHANNELS, Coarticulation, apply_closure, articulation, \
    viseme_segments

_JAW = [CHANNEL[n] for n in JAW_CHANNELS]
_BROWS = [CHANNEL[n] for n in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight")]
_MOUTH = [i for i, n in enumerate(ARKIT_NAMES) if n.startswith("mouth") and n != "mouthClose"]


@dataclass
class TeacherStyle:
    """Everything random about one take's face, drawn once per take by `draw`."""
    emotion: str
    strength: float            # base style strength, 0..1
    timing: Coarticulation
    target_gain: np.ndarray    # (52,) per-channel articulation gain: this speaker's habits
    jitter: float              # per-phoneme random target scale, +- this fraction
    wobble: float              # slow random gain on mouth motion, +- this fraction (0 at rest)

    @classmethod
    def draw(cls, emotion: str, rng: np.random.Generator) -> "TeacherStyle":
        timing = Coarticulation(lead_seconds=rng.uniform(0.05, 0.12),
                                carry_seconds=rng.uniform(0.035, 0.06),
                                rest_delay_seconds=rng.uniform(0.04, 0.09))
        return cls(emotion, rng.uniform(0.4, 1.0) if emotion != "neutral" else 0.0, timing,
                   rng.uniform(0.85, 1.15, len(ARKIT_NAMES)).astype(np.float32),
                   rng.uniform(0.05, 0.15), rng.uniform(0.05, 0.2))


def loudness(samples: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(T,) in [0, 1]: each frame's RMS level (40 ms window) from 30 dB below the take's loud
    syllables (95th percentile) up to them."""
    db = level_db(samples, 0.04)
    centres = np.clip((times * SAMPLE_RATE).astype(int), 0, len(samples) - 1)
    loud = db[centres]
    return np.clip((loud - (np.percentile(db, 95) - 30)) / 30, 0, 1).astype(np.float32)


def face_weights(phonemes: list, alphabet: str, clean: np.ndarray, frames: int, fps: float,
                 style: TeacherStyle, rng: np.random.Generator) -> np.ndarray:
    """(T, 52) float32 ARKit weights in [0, 1]; frame i shows time i / fps."""
    times = np.arange(frames) / fps
    segments = viseme_segments(phonemes, alphabet)
    scale = style.target_gain * rng.uniform(1 - style.jitter, 1 + style.jitter,
                                            (len(segments), 1)).astype(np.float32)
    weights, closure = articulation(segments, times, style.timing, scale)
    loud = loudness(clean, times)
    weights[:, _JAW] *= (0.65 + 0.6 * loud)[:, None]
    # prosody: brows lift a little on syllables louder than their surroundings
    local = _moving_mean(loud, int(fps))
    weights[:, _BROWS] += 0.12 * np.clip(loud - local, 0, None)[:, None]
    weights[:, _MOUTH] *= 1.0 + style.wobble * _slow_noise(frames, fps, len(_MOUTH), rng)
    weights = apply_style(weights, style.emotion,
                          strength_curve(frames, fps, style.strength, rng))
    weights = np.clip(weights, 0.0, 1.0)
    return apply_closure(weights, closure)


def _moving_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Centred mean over `width` values, zero-padded, as long as `values` even when shorter
    (np.convolve's "same" mode returns max(N, width) values)."""
    start = (width - 1) // 2
    return np.convolve(values, np.ones(width) / width, "full")[start:start + len(values)]


def _slow_noise(frames: int, fps: float, channels: int, rng: np.random.Generator) -> np.ndarray:
    """(T, channels) smooth noise in [-1, 1] with about one swing per second."""
    knots = rng.uniform(-1, 1, (int(frames / fps) + 2, channels))
    x = np.arange(frames) / fps
    return np.stack([np.interp(x, np.arange(len(knots)), knots[:, c]) for c in range(channels)], 1)
