"""Gaze: saccades between fixations around a target, with small fixational drift.

Fixations last a gamma-distributed time (mean FIXATION_SECONDS); each next fixation is drawn
around the target, so saccade amplitudes follow from that spread and most are small. A saccade
follows the main sequence: duration 2.2 ms per degree + 21 ms, a minimum-jerk profile (fast
onset, no overshoot: velocity is zero at both ends), peak velocity 1.875 * amplitude / duration.
Between saccades the eyes drift as a slow random walk of a few arc minutes.
"""

from dataclasses import dataclass

import numpy as np

from .filters import one_pole

FIXATION_SECONDS = 1.1          # mean fixation while speaking
FIXATION_SHAPE = 3.0            # gamma shape: few very short fixations
SPREAD_DEGREES = (5.0, 3.0)     # yaw, pitch spread of fixations around the target
LIMIT_DEGREES = (20.0, 15.0)    # the eyes never turn further than this from straight ahead
DRIFT_DEGREES = 0.15            # fixational drift, standard deviation
DRIFT_SECONDS = 0.4             # drift correlation time
DURATION_MS_PER_DEGREE = 2.2    # main sequence (Baloh et al. 1975; Carpenter 1988)
DURATION_MS = 21.0


@dataclass
class Gaze:
    """Saccades of a clip: start times (S,) seconds and fixations (S + 1, 2) degrees yaw, pitch;
    fixation 0 is held before the first saccade."""

    start: np.ndarray
    fixation: np.ndarray
    drift_seed: int

    @property
    def duration(self) -> np.ndarray:
        """(S,) seconds of each saccade, from its amplitude."""
        amplitude = np.hypot(*np.diff(self.fixation, axis=0).T)
        return (DURATION_MS_PER_DEGREE * amplitude + DURATION_MS) / 1000.0

    def angles(self, seconds: np.ndarray) -> np.ndarray:
        """(T, 2) float32 gaze yaw, pitch in degrees at sorted times."""
        k = np.searchsorted(self.start, seconds, side="right")  # fixations begun by then
        since = seconds - np.concatenate([[-np.inf], self.start])[k]
        dur = np.concatenate([[1.0], self.duration])[k]
        x = np.clip(since / dur, 0.0, 1.0)
        progress = x ** 3 * (10 - 15 * x + 6 * x * x)  # minimum jerk
        before, after = self.fixation[np.maximum(k - 1, 0)], self.fixation[k]
        out = before + (after - before) * progress[:, None]
        return (out + _drift(seconds, self.drift_seed)).astype(np.float32)


def sample_gaze(duration: float, rng: np.random.Generator, target=(0.0, 0.0),
                spread=1.0) -> Gaze:
    """Saccades over [0, duration) seconds around target (yaw, pitch degrees); spread scales
    how far fixations stray from it."""
    mean_count = int(duration / FIXATION_SECONDS * 1.5) + 2
    gaps = rng.gamma(FIXATION_SHAPE, FIXATION_SECONDS / FIXATION_SHAPE, mean_count)
    start = np.cumsum(gaps)
    start = start[start < duration]
    limit = np.asarray(LIMIT_DEGREES)
    centre = np.clip(np.asarray(target, float), -limit, limit)
    fixation = centre + rng.normal(0, 1, (len(start) + 1, 2)) * np.asarray(SPREAD_DEGREES) * spread
    return Gaze(start, np.clip(fixation, -limit, limit), int(rng.integers(2 ** 31)))


def _drift(seconds: np.ndarray, seed: int) -> np.ndarray:
    """(T, 2) degrees: an Ornstein-Uhlenbeck walk on a 10 ms grid, read at the times; the grid
    starts at 0 s, so any frame rate sees the same drift."""
    if len(seconds) == 0:
        return np.zeros((0, 2))
    step = 0.01
    n = int(seconds[-1] / step) + 2
    a = np.exp(-step / DRIFT_SECONDS)
    noise = np.random.default_rng(seed).normal(0, DRIFT_DEGREES * np.sqrt(1 - a * a), (n, 2))
    walk = one_pole(noise, a)
    grid = np.arange(n) * step
    return np.stack([np.interp(seconds, grid, walk[:, i]) for i in range(2)], axis=1)
