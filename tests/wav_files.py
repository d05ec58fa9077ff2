"""Test audio written with the standard library: a voiced buzz at a syllable rate, 16-bit PCM."""

import wave

import numpy as np


def write_wav(path, seconds, rate=48000):
    """A 150 Hz tone gated at 3 Hz, enough speech-like motion for importers and training."""
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 150 * t) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(rate)
        f.writeframes((x * 32767).astype("<i2").tobytes())
    return path
