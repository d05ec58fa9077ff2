"""The fixed front end: autocorrelation of 16 ms audio frames on a global 8 ms grid, and the
log-mel bands the lip contact detector hears on the same grid.

Grid frame g covers samples [g*hop - PAD, g*hop - PAD + frame_length) of the clip, zero outside
it. A network window is 64 consecutive grid frames, so every window shares the grid and the
formant network runs once per grid frame. Video frame i (time i/fps) takes the window whose
centre is nearest to it; the error is at most half a hop (4 ms).

Loudness rule: samples are scaled by gain before the autocorrelation (so features scale by
gain**2 and no float32 product overflows, however loud the file), where gain brings the clip's
active speech level to TARGET_RMS. The active level is the RMS over grid frames within 40 dB of
the clip's loudest frame, so pauses do not count and scaling the input by any factor leaves the
features unchanged. It needs only per-frame energies (lag 0), so
a long file is measured in one cheap pass and then featurised chunk by chunk with the same gain.
"""

import math

import numpy as np

from .audio import AudioFile
from .config import ModelConfig

TARGET_RMS = 0.1        # active speech level after normalisation (-20 dBFS)
ACTIVE_RANGE_DB = 40.0  # frames this far below the loudest one count as pauses
MAX_GAIN = 100.0        # never boost more than 40 dB: near-silence stays near-silent
MEL_BANDS = 40          # log-mel bands of the contact detector (a2f_core/contact.py)
MEL_WINDOW = 512        # samples (32 ms) centred on a grid frame: 31 Hz bins resolve low bands
MEL_RANGE_HZ = (50.0, 7600.0)
MEL_FLOOR = 1e-6        # power floor under the log: 60 dB below a band of normalised speech
_DEFAULT = ModelConfig()


def pad_samples(config: ModelConfig = _DEFAULT) -> int:
    """Zeros in front of the clip so the window of a frame at time 0 lies on the grid."""
    return (config.window_frames // 2 + 1) * config.hop_length


def frame_count(duration_seconds: float, fps: float) -> int:
    """Video frames covering the clip: frame i at time i/fps, so ceil(duration * fps)."""
    return int(math.ceil(duration_seconds * fps - 1e-9))


def window_starts(n_frames: int, fps: float, start_seconds: float = 0.0,
                  config: ModelConfig = _DEFAULT) -> np.ndarray:
    """(T,) int64 first grid frame of the window centred nearest to start_seconds + i/fps."""
    t = start_seconds + np.arange(n_frames, dtype=np.float64) / fps
    centre = t * config.sample_rate + pad_samples(config) - config.window_samples / 2
    # Frame times often fall exactly half-way between two grid windows (25 fps does); the small
    # bias rounds such ties up however t was computed, so the same time always gets the same window.
    return np.floor(centre / config.hop_length + 0.5 + 1e-6).astype(np.int64)


def windowed(frames: np.ndarray) -> np.ndarray:
    """(N, L) raw frames with each frame's mean removed, times a Hann window."""
    hann = np.hanning(frames.shape[1]).astype(np.float32)
    return (frames - frames.mean(axis=1, keepdims=True)) * hann


def autocorrelation(frames: np.ndarray, lags: int) -> np.ndarray:
    """(N, L) raw frames -> (N, lags) float32 autocorrelation of the windowed frames.

    The FFT needs only L + lags - 1 points for the lags to be exact (288, not 512, for 256
    and 32); numpy before 2.0 computes every FFT in float64, so its size is most of the cost.
    """
    x = windowed(frames)
    n_fft = _fft_size(frames.shape[1] + lags - 1)
    spectrum = np.fft.rfft(x, n_fft, axis=1)
    spectrum *= spectrum.conj()  # the power spectrum, still complex for irfft
    return np.fft.irfft(spectrum, n_fft, axis=1)[:, :lags].astype(np.float32)


def _fft_size(n: int) -> int:
    """The smallest 2^a 3^b >= n: sizes numpy's FFT does fastest."""
    return min(size for size in (2 ** a * 3 ** b for a in range(n.bit_length() + 1)
                                 for b in range(5)) if size >= n)


class GridFeatures:
    """Normalised autocorrelation features of one clip, computed for any range of grid frames."""

    def __init__(self, samples, config: ModelConfig = _DEFAULT, chunk_frames=8192):
        """samples: (N,) at 16 kHz, or an `AudioFile` streaming a long file.

        The loudness pass reads the samples once, in order; `frames` calls that move forward
        read them once more (see AudioFile).
        """
        self.config = config
        self.samples = samples if isinstance(samples, AudioFile) else np.asarray(samples, np.float32)
        # float64: float32 squares overflow for samples beyond about 1e17, which a float WAV
        # may hold; the gain then brings any level down before float32 work
        energy = np.concatenate([
            np.square(windowed(self._frames(g, min(g + chunk_frames, self.grid_length))
                               .astype(np.float64))).sum(1)
            for g in range(0, self.grid_length, chunk_frames)])
        self.gain = loudness_gain(energy, config.frame_length)

    @property
    def grid_length(self) -> int:
        """Grid frames that touch the clip's samples; frames past it are all zeros."""
        c = self.config
        return -(-(len(self.samples) + pad_samples(c)) // c.hop_length)

    def frames(self, g0: int, g1: int) -> np.ndarray:
        """(g1 - g0, K) float32 features of grid frames g0..g1-1 (zeros outside the clip)."""
        return autocorrelation(self._frames(g0, g1) * np.float32(self.gain), self.config.lags)

    def _frames(self, g0: int, g1: int) -> np.ndarray:
        """(g1 - g0, L) raw samples of grid frames g0..g1-1, a strided view of a padded copy."""
        return grid_frames(self.samples, g0, g1, self.config.frame_length, self.config)


class MelFeatures:
    """Log-mel bands of one clip on the grid: band powers of a 32 ms Hann window centred on each
    grid frame, at the loudness `GridFeatures` measured, so the detector hears every clip at one
    speech level. It reads samples forward like `GridFeatures`; give it its own `AudioFile`."""

    def __init__(self, samples, gain: float, config: ModelConfig = _DEFAULT):
        self.samples, self.config = samples, config
        self._scale = np.hanning(MEL_WINDOW).astype(np.float32) * np.float32(gain)
        self._bank = mel_filterbank(config.sample_rate)

    def frames(self, g0: int, g1: int) -> np.ndarray:
        """(g1 - g0, MEL_BANDS) float32 log band powers of grid frames g0..g1-1 (any range: the
        bands of silence outside the clip)."""
        x = grid_frames(self.samples, g0, g1, MEL_WINDOW, self.config) * self._scale
        power = np.square(np.abs(np.fft.rfft(x, axis=1))).astype(np.float32)
        return np.log(power @ self._bank + np.float32(MEL_FLOOR))


def grid_frames(samples, g0: int, g1: int, length: int, config: ModelConfig = _DEFAULT):
    """(g1 - g0, length) raw samples centred on grid frames g0..g1-1 (zeros outside the clip),
    a strided view of a padded copy."""
    c = config
    first = g0 * c.hop_length - pad_samples(c) + (c.frame_length - length) // 2
    span = np.zeros((g1 - g0 - 1) * c.hop_length + length, np.float32)
    lo, hi = max(first, 0), min(first + len(span), len(samples))
    if hi > lo:
        span[lo - first:hi - first] = samples[lo:hi]
    return np.lib.stride_tricks.sliding_window_view(span, length)[::c.hop_length]


def mel_filterbank(sample_rate: int) -> np.ndarray:
    """(MEL_WINDOW // 2 + 1, MEL_BANDS) triangular filters, evenly spaced in HTK mels."""
    to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    edges = 700.0 * (10 ** (np.linspace(*map(to_mel, MEL_RANGE_HZ), MEL_BANDS + 2) / 2595.0) - 1)
    freqs = np.fft.rfftfreq(MEL_WINDOW, 1.0 / sample_rate)
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising, falling = (freqs - low) / (centre - low), (high - freqs) / (high - centre)
    return np.maximum(np.minimum(rising, falling), 0).T.astype(np.float32)


def loudness_gain(frame_energy: np.ndarray, frame_length: int) -> float:
    """Gain bringing the active speech level to TARGET_RMS; 1 for a silent clip.

    frame_energy is each grid frame's windowed energy, which is also its lag-0 autocorrelation.
    """
    energy = np.asarray(frame_energy, dtype=np.float64)
    if energy.size == 0 or energy.max() <= 1e-12:
        return 1.0
    active = energy[energy >= energy.max() * 10 ** (-ACTIVE_RANGE_DB / 10)]
    window_power = float(np.sum(np.hanning(frame_length) ** 2))
    level = math.sqrt(active.mean() / window_power)
    return min(TARGET_RMS / level, MAX_GAIN)
