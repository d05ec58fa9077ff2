import math

import numpy as np
import pytest

from a2f_core.audio import prepare
from a2f_core.config import ModelConfig
from a2f_core.features import (GridFeatures, frame_count, loudness_gain, pad_samples,
                               window_starts)
from tolerance import EPS32, float32_atol

CFG = ModelConfig()


def slow_window(samples, t_seconds, gain):
    """Direct reference: 64 frames of 256 samples with hop 128, centred on t, zero-padded."""
    centre = t_seconds * 16000
    first = int(round(centre - CFG.window_samples / 2))
    out = np.zeros((64, 32))
    hann = np.hanning(256)
    for j in range(64):
        frame = np.array([samples[i] if 0 <= i < len(samples) else 0.0
                          for i in range(first + 128 * j, first + 128 * j + 256)], np.float64)
        x = (frame - frame.mean()) * hann
        for k in range(32):
            out[j, k] = np.dot(x[:256 - k], x[k:])
    return out * gain ** 2


@pytest.mark.parametrize("fps", [24.0, 30.0])
def test_windows_match_slow_reference(speech, fps):
    samples = prepare(*speech)
    grid = GridFeatures(samples)
    starts = window_starts(40, fps)
    for i in (0, 7, 39):
        t = i / fps
        fast = grid.frames(starts[i], starts[i] + 64)
        # the fast window is snapped to the 8 ms grid; compare at its snapped centre
        snapped = (starts[i] * 128 - pad_samples() + CFG.window_samples / 2) / 16000
        assert abs(snapped - t) <= 0.004 + 1e-9
        ref = slow_window(samples, snapped, grid.gain)
        # float32 FFT against float64 sums: the FFT's rounding grows with its 288 points
        assert np.allclose(fast, ref, rtol=0, atol=float32_atol(ref, ulps=1024))


@pytest.mark.parametrize("fps", [23.976, 24, 25, 29.97, 30, 50, 60])
def test_window_centres_within_half_hop_of_frame_times(fps):
    n = frame_count(61.3, fps)
    assert n == math.ceil(61.3 * fps)
    starts = window_starts(n, fps)
    centres = (starts * 128 - pad_samples() + CFG.window_samples / 2) / 16000
    assert np.max(np.abs(centres - np.arange(n) / fps)) <= 0.004 + 1e-9


def test_frame_count_is_ceil():
    assert frame_count(1.0, 30) == 30
    assert frame_count(1.001, 30) == 31
    assert frame_count(2.0, 29.97) == 60


def test_loudness_normalisation_is_scale_invariant(speech):
    samples = prepare(*speech)
    a = GridFeatures(samples).frames(0, 500)
    b = GridFeatures(samples * 0.05).frames(0, 500)
    # the gain is estimated from the clip's levels, to 0.1%: a behaviour, not rounding
    assert np.allclose(a, b, rtol=1e-3, atol=1e-6 * np.abs(a).max())


def test_pauses_do_not_change_the_level(speech):
    samples = prepare(*speech)
    padded = np.concatenate([np.zeros(16000 * 5, np.float32), samples])
    assert GridFeatures(padded).gain == pytest.approx(GridFeatures(samples).gain, rel=1e-3)


def test_silence_gives_zero_features_and_unit_gain():
    grid = GridFeatures(np.zeros(16000, np.float32))
    assert grid.gain == 1.0 and not grid.frames(0, 200).any()
    assert loudness_gain(np.full(10, 1e-20), 256) == 1.0


def test_chunked_features_equal_one_pass(speech):
    samples = prepare(*speech)
    one = GridFeatures(samples)
    chunked = GridFeatures(samples, chunk_frames=37)
    # float64 from float32 frame energies summed in other chunks: a few float32 ulps
    assert one.gain == pytest.approx(chunked.gain, rel=8 * EPS32)
    whole = one.frames(-5, one.grid_length + 70)
    parts = np.concatenate([one.frames(g, min(g + 100, one.grid_length + 70))
                            for g in range(-5, one.grid_length + 70, 100)])
    # FFTs of other row counts may take other SIMD paths: equal to rounding
    assert np.allclose(whole, parts, rtol=0, atol=float32_atol(whole, ulps=16))
