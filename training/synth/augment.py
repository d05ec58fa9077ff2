"""Make clean synthetic speech sound like real recordings, so the model generalises to real voices.

Only `speed_perturb` changes timing (and so the face); every other step alters the audio alone and
leaves the face targets untouched. All functions take and return (N,) float32 at 16 kHz.
"""

import numpy as np

from a2f_core.audio import SAMPLE_RATE, resample


def speed_perturb(samples: np.ndarray, phonemes: list, factor: float) -> tuple:
    """Play `factor` times faster (tape-style: pitch and formants shift too, like another
    speaker); phoneme times shrink by the same factor. Returns (samples, phonemes)."""
    out = resample(samples, SAMPLE_RATE * factor, SAMPLE_RATE)
    seconds = len(out) / SAMPLE_RATE
    scaled = [[round(min(s / factor, seconds), 4), round(min(e / factor, seconds), 4), p]
              for s, e, p in phonemes]
    scaled[-1][1] = seconds
    return out, scaled


def coloured_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Unit-RMS noise with power ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
    x = np.fft.irfft(spectrum / f ** (exponent / 2), n)
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add white-to-brown noise at `snr_db` below the speech's active-frame power."""
    frames = samples[: len(samples) // 256 * 256].reshape(-1, 256)
    power = np.mean(frames ** 2, axis=1) if len(frames) else np.array([0.0])
    speech_power = np.mean(power[power >= np.percentile(power, 50)]) if power.max() > 0 else 1e-4
    noise = coloured_noise(len(samples), rng, rng.uniform(0.0, 2.0))
    return samples + noise * np.sqrt(speech_power / 10 ** (snr_db / 10))


def reverb(samples: np.ndarray, rt60_seconds: float, wet: float, rng: np.random.Generator):
    """Convolve with a synthetic room: exponentially decaying noise after a direct path."""
    n = int(rt60_seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_seconds)  # -60 dB at rt60
    ir[: int(0.003 * SAMPLE_RATE)] = 0.0  # first reflections arrive a few ms late
    ir *= wet / (np.sqrt(np.sum(ir ** 2)) + 1e-12)
    ir[0] = 1.0
    size = len(samples) + n - 1
    out = np.fft.irfft(np.fft.rfft(samples, size) * np.fft.rfft(ir, size), size)[: len(samples)]
    return out.astype(np.float32)


def band_limit(samples: np.ndarray, low_hz: float, high_hz: float, tilt_db: float) -> np.ndarray:
    """Brick-wall band-pass (telephone: 300-3400 Hz) with a spectral tilt (dB per octave)."""
    spectrum = np.fft.rfft(samples)
    f = np.fft.rfftfreq(len(samples), 1.0 / SAMPLE_RATE)
    gain = ((f >= low_hz) & (f <= high_hz)).astype(np.float64)
    gain *= 10 ** (tilt_db * np.log2(np.maximum(f, 50.0) / 1000.0) / 20)
    return np.fft.irfft(spectrum * gain, len(samples)).astype(np.float32)


def gain(samples: np.ndarray, start_db: float, end_db: float) -> np.ndarray:
    """Gain ramping linearly from start_db to end_db, then clipping like a real recorder."""
    ramp = 10 ** (np.linspace(start_db, end_db, len(samples)) / 20)
    return np.clip(samples * ramp, -1.0, 1.0).astype(np.float32)


def breath(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Breath-like noise: band-passed noise bursts with slow swells, at a quiet level."""
    n = int(seconds * SAMPLE_RATE)
    x = band_limit(coloured_noise(n, rng, 0.5), 300.0, 4000.0, -3.0)
    t = np.arange(n) / SAMPLE_RATE
    envelope = np.clip(np.sin(2 * np.pi * t / rng.uniform(1.5, 3.0) + rng.uniform(0, 6.3)), 0, 1)
    return (x * envelope ** 2 * 10 ** (rng.uniform(-45, -30) / 20)).astype(np.float32)


def random_chain(samples: np.ndarray, rng: np.random.Generator) -> tuple:
    """Apply a random subset of room, channel, noise and gain effects; returns (samples, labels)."""
    applied = []
    if rng.random() < 0.35:
        samples = reverb(samples, rng.uniform(0.15, 0.8), rng.uniform(0.1, 0.6), rng)
        applied.append("reverb")
    if rng.random() < 0.2:
        samples = band_limit(samples, rng.uniform(200, 400), rng.uniform(3000, 4000),
                             rng.uniform(-3, 3))
        applied.append("telephone")
    elif rng.random() < 0.3:
        samples = band_limit(samples, rng.uniform(20, 120), rng.uniform(5000, 8000),
                             rng.uniform(-4, 4))
        applied.append("eq")
    if rng.random() < 0.5:
        samples = add_noise(samples, rng.uniform(5, 35), rng)
        applied.append("noise")
    peak = float(np.max(np.abs(samples))) or 1.0
    samples = gain(samples * (0.5 / peak), rng.uniform(-20, 6), rng.uniform(-20, 6))
    return samples, applied
