"""Blinks: when (a point process with human statistics, likelier at pauses) and how (the lid
curve of each).

Timing follows the time-rescaling theorem: with a hazard rate h(t) (blinks per second), the
integrated hazard between consecutive blinks is exponential with mean 1, so each next blink is
one exponential draw and one `searchsorted` on the running integral. h is a base rate raised
for PAUSE_WINDOW_SECONDS after each phrase boundary and scaled so the clip averages the rate
asked for, and zero for REFRACTORY_SECONDS after a blink (lids cannot blink again at once).
Double blinks follow some blinks immediately. Shapes follow measured lid kinematics: a fast
close (about 100 ms), a short hold, a slower open (150-250 ms).
"""

from dataclasses import dataclass

import numpy as np

RATE_PER_MINUTE = 17.0          # while speaking; people blink 10-25 times a minute
PAUSE_BOOST = 4.0               # hazard this many times the base just after a phrase boundary
PAUSE_WINDOW_SECONDS = 0.5      # ... for this long
REFRACTORY_SECONDS = 0.6        # no new blink this soon after one starts
DOUBLE_CHANCE = 0.08            # share of blinks followed by a second one
CLOSE_SECONDS = (0.09, 0.012)   # mean, spread of the closing phase
HOLD_SECONDS = (0.02, 0.01)     # lids shut
OPEN_SECONDS = (0.20, 0.025)    # the slower opening
ASYMMETRY = 0.03                # the right lid's depth and timing differ this much (fraction)


@dataclass
class Blinks:
    """Blinks of a clip, times in seconds of the audio."""

    start: np.ndarray     # (B,) lids begin to close
    close: np.ndarray     # (B,) closing time
    hold: np.ndarray      # (B,)
    open: np.ndarray      # (B,) opening time
    depth: np.ndarray     # (B, 2) closure of the left and right lid, about 1
    lag: np.ndarray       # (B,) the right lid's delay, seconds

    def curves(self, seconds: np.ndarray) -> np.ndarray:
        """(T, 2) lid closure 0..1 (left, right) at the given times."""
        out = np.zeros((len(seconds), 2), np.float32)
        for side in range(2):
            shift = self.lag if side else 0.0
            for i in range(len(self.start)):
                t0 = self.start[i] + (shift[i] if side else 0.0)
                end = t0 + self.close[i] + self.hold[i] + self.open[i]
                lo, hi = np.searchsorted(seconds, [t0, end])
                if lo == hi:
                    continue
                t = seconds[lo:hi] - t0
                shape = _lid(t, self.close[i], self.hold[i], self.open[i]) * self.depth[i, side]
                out[lo:hi, side] = np.maximum(out[lo:hi, side], shape)
        return out


def sample_blinks(duration: float, boundaries: np.ndarray, rng: np.random.Generator,
                  rate_per_minute=RATE_PER_MINUTE, slowness=1.0) -> Blinks:
    """Blinks over [0, duration) seconds; boundaries: (P,) phrase-boundary times in seconds.

    slowness stretches every blink's duration (a sad face blinks slower)."""
    step = 0.01
    t = np.arange(0.0, max(duration, 0.0), step)
    edges = np.zeros(len(t) + 1)
    b = np.asarray(boundaries, float)
    np.add.at(edges, np.searchsorted(t, b), 1)
    np.add.at(edges, np.searchsorted(t, b + PAUSE_WINDOW_SECONDS), -1)
    boost = np.where(np.cumsum(edges)[:-1] > 0, PAUSE_BOOST, 1.0)
    # Refractory time removes about rate * REFRACTORY of each second; the base makes up for it.
    per_second = max(rate_per_minute, 0.0) / 60.0
    free = max(1.0 - per_second * REFRACTORY_SECONDS, 0.2)
    hazard = boost * per_second / (boost.mean() * free) if len(t) else boost
    integral = np.concatenate([[0.0], np.cumsum(hazard) * step])
    starts, now = [], 0.0
    while per_second > 0:
        ready = np.searchsorted(t, now + (REFRACTORY_SECONDS if starts else 0.0))
        if ready >= len(t):
            break
        k = np.searchsorted(integral, integral[ready] + rng.exponential(1.0))
        if k >= len(t):
            break
        starts.append(t[k])
        now = t[k]
        if rng.random() < DOUBLE_CHANCE:  # a second blink right after the first opens
            starts.append(t[k] + slowness * (CLOSE_SECONDS[0] + HOLD_SECONDS[0]
                                             + 0.5 * OPEN_SECONDS[0]))
            now = starts[-1]
    n = len(starts)
    draw = lambda mean_spread, low: np.maximum(  # noqa: E731
        rng.normal(mean_spread[0], mean_spread[1], n), low) * slowness
    close, hold = draw(CLOSE_SECONDS, 0.05), draw(HOLD_SECONDS, 0.0)
    open_ = draw(OPEN_SECONDS, 0.12)
    depth = np.clip(1.0 - np.abs(rng.normal(0, ASYMMETRY, (n, 2))), 0.9, 1.0)
    lag = rng.normal(0, ASYMMETRY * 0.1, n)
    return Blinks(np.asarray(starts, float), close, hold, open_, depth, lag)


def _lid(t, close, hold, open_):
    """Closure at t seconds into a blink: a smooth fast close, a hold, a smooth slower open."""
    smooth = lambda x: x * x * (3 - 2 * x)  # noqa: E731
    closing = smooth(np.clip(t / close, 0, 1))
    opening = 1 - smooth(np.clip((t - close - hold) / open_, 0, 1))
    return np.where(t < close + hold, closing, opening)
