"""F0 of speech with YIN (de Cheveigne and Kawahara 2002), vectorised over frames in numpy.

Each frame's difference function d(tau) = sum_j (x_j - x_{j+tau})^2 over a 30 ms window comes
from its correlation with the lagged window (one einsum over strided views, no copies) and
running energies; its cumulative-mean-normalised form
dips near 0 at the period. The first dip under THRESHOLD (refined by a parabola) is the period,
which avoids the octave-down errors of a plain autocorrelation peak.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..audio import resample

HOP_SECONDS = 0.02       # one F0 estimate every 20 ms: finer than a syllable
WINDOW_SECONDS = 0.03    # integration window: three periods at 100 Hz
F0_RANGE_HZ = (60.0, 400.0)  # adult speech
ANALYSIS_RATE = 4000     # samples are resampled first: harmonics under 2 kHz carry the period
THRESHOLD = 0.15         # YIN's absolute threshold on the normalised difference
VOICED_MAX = 0.35        # frames whose best dip stays above this are unvoiced


def yin(samples: np.ndarray, sample_rate: int, fmin=F0_RANGE_HZ[0], fmax=F0_RANGE_HZ[1]):
    """(N,) samples -> ((F,) F0 in Hz, nan where unvoiced; (F,) dip depth in 0..1, lower is
    more periodic). Frame k is centred on time k * HOP_SECONDS, F = ceil(N / hop)."""
    n_frames = -(-len(samples) // int(round(HOP_SECONDS * sample_rate)))
    if sample_rate != ANALYSIS_RATE:
        samples = resample(np.asarray(samples, np.float32), sample_rate, ANALYSIS_RATE)
        sample_rate = ANALYSIS_RATE
    hop = int(round(HOP_SECONDS * sample_rate))
    width = int(round(WINDOW_SECONDS * sample_rate))
    tau_min, tau_max = int(sample_rate / fmax), int(np.ceil(sample_rate / fmin))
    span = width + tau_max
    x = np.concatenate([np.zeros(span // 2, np.float32), np.asarray(samples, np.float32),
                        np.zeros(span, np.float32)])
    windows = sliding_window_view(x, width)[::hop][:n_frames]  # (F, width): no copies
    shifted = sliding_window_view(x, tau_max + width)[::hop][:n_frames]
    lagged = sliding_window_view(shifted, width, axis=1)  # (F, tau_max + 1, width)
    r = np.einsum("ftj,fj->ft", lagged, windows)  # r(tau) = sum_j x_j x_(j+tau); no offset
    squares = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    at = np.arange(n_frames)[:, None] * hop + np.arange(tau_max + 1)
    energy = (squares[at + width] - squares[at]).astype(np.float32)  # E(tau): shifted window
    d = np.maximum(energy[:, :1] + energy - 2 * r, 0.0)
    d[:, 0] = 0.0
    running = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    silent = running[:, -1:] <= 1e-10 * tau_max  # digital silence: no period to find
    cmnd[:, 1:] = np.where(silent, 1.0, d[:, 1:] * np.arange(1, tau_max + 1)
                           / np.maximum(running, 1e-20))
    return _period(cmnd, tau_min, tau_max, sample_rate)


def _period(cmnd, tau_min, tau_max, sample_rate):
    """The first local minimum under THRESHOLD in [tau_min, tau_max), else the lowest one."""
    c = cmnd[:, tau_min - 1:tau_max + 1]
    inner = c[:, 1:-1]
    local_min = (inner < c[:, :-2]) & (inner <= c[:, 2:])
    below = local_min & (inner < THRESHOLD)
    rows = np.arange(len(c))
    first = np.where(below.any(axis=1), below.argmax(axis=1),
                     np.where(local_min, inner, np.inf).argmin(axis=1))
    depth = inner[rows, first]
    # parabola through the dip and its neighbours: sub-sample period
    a, b, e = c[rows, first], inner[rows, first], c[rows, first + 2]
    curve = a - 2 * b + e
    shift = np.where(curve > 1e-12, 0.5 * (a - e) / np.where(curve > 1e-12, curve, 1.0), 0.0)
    tau = tau_min + first + np.clip(shift, -0.5, 0.5)
    f0 = np.where(depth < VOICED_MAX, sample_rate / tau, np.nan)
    return f0, np.clip(depth, 0.0, 1.0)

