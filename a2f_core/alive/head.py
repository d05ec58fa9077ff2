"""Head motion and brows from prosody: accents nod the head and raise the brows, phrase ends
settle the head, and a slow drift keeps it from freezing.

Accents (prosody.Prosody.accent, 0..2) pass through a critically damped low pass, so each
stressed syllable gives one smooth nod (downward pitch) that peaks shortly after it. The drift
is an Ornstein-Uhlenbeck process per axis, its amplitude following speech: it shrinks to
PAUSE_DRIFT of itself within a pause, which is where a speaker's head comes to rest.
"""

import numpy as np

from . import prosody as prosody_module
from .filters import one_pole, smooth

NOD_DEGREES = 4.0               # head pitch (down) at accent 1
NOD_SECONDS = 0.12              # time constant of the nod's low pass
DRIFT_DEGREES = (3.0, 0.8, 1.2)  # yaw, pitch, roll drift, standard deviation while speaking
DRIFT_SECONDS = 1.5             # drift correlation time
PAUSE_DRIFT = 0.35              # drift amplitude in pauses, as a fraction of speaking's
SETTLE_SECONDS = 0.4            # how fast the drift amplitude follows speech and pauses
BROW_RAISE = 0.25               # brow weight at pitch accent 1
BROW_SECONDS = 0.08             # brows rise and fall with this time constant


def head_degrees(p: prosody_module.Prosody, rng: np.random.Generator, nod=1.0,
                 drift=1.0) -> np.ndarray:
    """(K, 3) yaw, pitch (positive: down), roll in degrees on the control grid."""
    rate = prosody_module.RATE
    nods = NOD_DEGREES * nod * smooth(p.accent, NOD_SECONDS, rate)
    a = np.exp(-1.0 / (DRIFT_SECONDS * rate))
    noise = rng.normal(0, np.sqrt(1 - a * a), (len(p.accent), 3)) * np.asarray(DRIFT_DEGREES)
    envelope = smooth(PAUSE_DRIFT + (1 - PAUSE_DRIFT) * p.speech, SETTLE_SECONDS, rate)
    out = one_pole(noise, a) * (drift * envelope)[:, None]
    out[:, 1] += nods
    return out


def brow_raise(p: prosody_module.Prosody) -> np.ndarray:
    """(K,) brow raise weight on the control grid: pitch accents, smoothed."""
    return BROW_RAISE * smooth(p.pitch_accent * p.speech, BROW_SECONDS, prosody_module.RATE)
