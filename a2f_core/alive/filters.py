"""Recursive smoothing in numpy without a Python loop per sample."""

import numpy as np

_BLOCK = 64


def one_pole(x: np.ndarray, a: float) -> np.ndarray:
    """y[n] = a * y[n-1] + x[n] along axis 0 (y[-1] = 0), in blocks of a closed form:
    y[i+j] = a^(j+1) y[i-1] + sum_{k<=j} a^(j-k) x[i+k]."""
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    lag = np.arange(_BLOCK)[:, None] - np.arange(_BLOCK)[None, :]
    kernel = np.where(lag >= 0, a ** np.maximum(lag, 0), 0.0)
    powers = a ** np.arange(1, _BLOCK + 1)
    shape = (-1,) + (1,) * (x.ndim - 1)
    y = np.zeros(x.shape[1:])
    for i in range(0, len(x), _BLOCK):
        chunk = x[i:i + _BLOCK]
        m = len(chunk)
        out[i:i + m] = np.tensordot(kernel[:m, :m], chunk, axes=1) + powers[:m].reshape(shape) * y
        y = out[i + m - 1]
    return out


def smooth(x: np.ndarray, seconds: float, rate: float, passes=2) -> np.ndarray:
    """Unit-gain low pass with time constant `seconds` at `rate` samples a second, run
    `passes` times (2: critically damped, a response without overshoot)."""
    if seconds <= 0:
        return np.asarray(x, np.float64)
    a = float(np.exp(-1.0 / (seconds * rate)))
    for _ in range(passes):
        x = one_pole(x, a) * (1 - a)
    return x


def zero_phase(x: np.ndarray, seconds: float, rate: float) -> np.ndarray:
    """`smooth` forwards then backwards: no delay, for offline shaping of whole tracks."""
    if seconds <= 0 or len(x) == 0:
        return np.asarray(x, np.float64)
    forward = smooth(x, seconds, rate, passes=1)
    return smooth(forward[::-1], seconds, rate, passes=1)[::-1]
