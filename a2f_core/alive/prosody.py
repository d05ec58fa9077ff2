"""What the voice does over time, on a 50 Hz control grid (pitch.HOP_SECONDS): F0, loudness,
speech and pauses, and the accents (pitch and loudness peaks) that drive brows and head nods.

Everything is relative to the clip itself (loudness to its active speech level, F0 in semitones
to its median), so a louder recording or a higher voice gives the same motion. Audio is read in
blocks moving forward, so an `AudioFile` of an hour never sits in memory.
"""

from dataclasses import dataclass

import numpy as np

from ..audio import SAMPLE_RATE, AudioFile, resample
from . import pitch

RATE = 1.0 / pitch.HOP_SECONDS  # control grid, frames per second
BLOCK_SECONDS = 60.0            # audio read (and pitch-tracked) at a time, with
MARGIN_SECONDS = 0.1            # this much context either side
ACTIVE_RANGE_DB = 40.0          # frames this far under the loudest count for the speech level
SPEECH_DB = -30.0               # frames louder than this (re the speech level) are speech,
ABOVE_FLOOR_DB = 6.0            # ... and louder than the room's noise floor by this much,
MAX_SPEECH_DB = -12.0           # ... which never asks more than this
FLOOR_PERCENTILE = 10           # the noise floor: this percentile of the frame levels
MIN_PAUSE_SECONDS = 0.15        # quieter stretches at least this long are pauses
MIN_SPEECH_SECONDS = 0.1        # louder blips shorter than this do not end a pause
PITCH_ACCENT_SEMITONES = 3.0    # a rise this far above the local baseline is accent 1
LOUDNESS_ACCENT_DB = 6.0        # a level this far above LOUDNESS_FLOOR_DB is accent 1
LOUDNESS_FLOOR_DB = 3.0         # syllables less this far above the local baseline are no accent
BASELINE_SECONDS = 1.5          # local baselines: a moving average this long


@dataclass
class Prosody:
    """Per control frame k (time k / RATE), all (K,) float32 unless said."""

    f0_hz: np.ndarray          # nan where unvoiced
    loudness_db: np.ndarray    # relative to the clip's active speech level
    speech: np.ndarray         # bool: inside speech (pauses shorter than MIN_PAUSE_SECONDS filled)
    pitch_accent: np.ndarray   # 0..2: F0 above its local baseline, in PITCH_ACCENT_SEMITONES
    loudness_accent: np.ndarray  # 0..2: level above its local baseline (see constants)

    @property
    def accent(self) -> np.ndarray:
        """0..2: mean of the pitch and loudness accents, where someone speaks."""
        return 0.5 * (self.pitch_accent + self.loudness_accent) * self.speech

    @property
    def pause_onsets(self) -> np.ndarray:
        """(P,) control frames where speech stops: phrase boundaries."""
        return np.flatnonzero(self.speech[:-1] & ~self.speech[1:]) + 1

    def at(self, track: np.ndarray, seconds: np.ndarray) -> np.ndarray:
        """A control-grid track read at times in seconds (linear, held at the ends)."""
        return np.interp(seconds * RATE, np.arange(len(track)), track).astype(np.float32)


def analyse(samples) -> Prosody:
    """Prosody of (N,) 16 kHz samples or an `AudioFile`, read again from its start at
    pitch.ANALYSIS_RATE (cheaper to decode, and all the analysis needs)."""
    rate = pitch.ANALYSIS_RATE
    if isinstance(samples, AudioFile):
        samples = AudioFile(samples.path, sample_rate=rate)  # the caller's reader stays put
    else:
        samples = resample(np.asarray(samples, np.float32), SAMPLE_RATE, rate)
    hop = int(rate * pitch.HOP_SECONDS)
    if len(samples) < hop:  # shorter than one frame: one frame of what there is
        samples = np.pad(np.asarray(samples[0:len(samples)], np.float32), (0, hop - len(samples)))
    block, margin = (int(round(s * RATE)) * hop for s in (BLOCK_SECONDS, MARGIN_SECONDS))
    f0, level = [], []
    for lo in range(0, len(samples), block):
        hi = min(lo + block, len(samples))
        start = max(lo - margin, 0)
        x = np.asarray(samples[start:min(hi + margin, len(samples))], np.float32)
        skip, count = (lo - start) // hop, -(-(hi - lo) // hop)
        f, _ = pitch.yin(x, rate)
        f0.append(f[skip:skip + count])
        level.append(_level_db(x, hop)[skip:skip + count])
    return _describe(np.concatenate(f0), np.concatenate(level))


def _level_db(x: np.ndarray, hop: int) -> np.ndarray:
    """Per hop frame (centred on sample k * hop), RMS in dB over 3 hops."""
    n = -(-len(x) // hop)
    padded = np.concatenate([np.zeros(hop, np.float32), x, np.zeros(3 * hop, np.float32)])
    power = (padded[:(n + 2) * hop].reshape(n + 2, hop).astype(np.float64) ** 2).mean(axis=1)
    window = (power[:-2] + power[1:-1] + power[2:]) / 3
    return 10 * np.log10(window + 1e-12)


def _describe(f0: np.ndarray, level_db: np.ndarray) -> Prosody:
    loud = level_db >= level_db.max() - ACTIVE_RANGE_DB
    speech_level = 10 * np.log10(np.mean(10 ** (level_db[loud] / 10))) if loud.any() else 0.0
    relative = level_db - speech_level
    floor = _quantile(relative, FLOOR_PERCENTILE / 100) if len(relative) else SPEECH_DB
    threshold = min(max(SPEECH_DB, floor + ABOVE_FLOOR_DB), MAX_SPEECH_DB)
    speech = ~_close_gaps(relative <= threshold, MIN_SPEECH_SECONDS)  # blips are not speech
    speech = _close_gaps(speech, MIN_PAUSE_SECONDS)  # nor are short gaps pauses
    voiced = np.isfinite(f0) & speech
    f0 = np.where(voiced, _median3(f0), np.nan)
    voiced = np.isfinite(f0)
    pitch_accent = np.zeros(len(f0))
    if voiced.sum() > 2:
        semitones = 12 * np.log2(f0 / _quantile(f0[voiced], 0.5))
        filled = np.interp(np.arange(len(f0)), np.flatnonzero(voiced), semitones[voiced])
        baseline = _moving_average(filled, BASELINE_SECONDS)
        pitch_accent = np.where(voiced, (filled - baseline) / PITCH_ACCENT_SEMITONES, 0.0)
    clipped = np.maximum(relative, threshold)
    loudness_accent = (clipped - _moving_average(clipped, BASELINE_SECONDS)
                       - LOUDNESS_FLOOR_DB) / LOUDNESS_ACCENT_DB
    as32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    return Prosody(as32(f0), as32(relative), speech, as32(np.clip(pitch_accent, 0, 2)),
                   as32(np.clip(loudness_accent, 0, 2) * speech))


def _close_gaps(mask: np.ndarray, seconds: float) -> np.ndarray:
    """mask with inner runs of False shorter than `seconds` set to True."""
    out = mask.copy()
    step = np.diff(np.concatenate([[1], mask.astype(np.int8), [1]]))
    for start, stop in zip(np.flatnonzero(step == -1), np.flatnonzero(step == 1)):
        if stop - start < seconds * RATE and start > 0 and stop < len(mask):
            out[start:stop] = True
    return out


def _quantile(x: np.ndarray, q: float) -> float:
    """The value a fraction q of x lies under. np.percentile and np.median would import
    numpy.ma on first use: 15 ms, a third of the layer's time on a minute of speech."""
    k = min(int(len(x) * q), len(x) - 1)
    return float(np.partition(x, k)[k])


def _median3(x: np.ndarray) -> np.ndarray:
    """Median of each frame and its neighbours, an unvoiced neighbour standing in for the frame
    itself: removes single-frame octave jumps."""
    left = np.concatenate([x[:1], x[:-1]])
    right = np.concatenate([x[1:], x[-1:]])
    a, c = np.where(np.isnan(left), x, left), np.where(np.isnan(right), x, right)
    return np.maximum(np.minimum(a, x), np.minimum(np.maximum(a, x), c))


def _moving_average(x: np.ndarray, seconds: float) -> np.ndarray:
    width = max(1, int(seconds * RATE)) | 1
    padded = np.pad(x, width // 2, mode="edge")
    c = np.concatenate([[0.0], np.cumsum(padded)])
    return (c[width:] - c[:-width]) / width
