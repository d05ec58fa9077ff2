"""Audio in: any file or sample array -> mono float32 at 16 kHz, with errors a user can act on.

soundfile and soxr do the work where they are installed. Blender bundles neither, so there the
add-on hands over samples read by Blender's own `aud`, and PCM WAV falls back to the standard
library plus numpy resampling.
"""

import os
import wave
from pathlib import Path

import numpy as np

from .errors import AudioError

SAMPLE_RATE = 16000
MIN_RATE, MAX_RATE = 1000, 768000  # beyond these a "sample rate" is a corrupt header

try:  # optional: Blender's Python has neither
    import soundfile
except ImportError:  # pragma: no cover - exercised in the Blender test venvs
    soundfile = None
try:
    import soxr
except ImportError:  # pragma: no cover - exercised in the Blender test venvs
    soxr = None


def load_audio(path) -> np.ndarray:
    """Read an audio file as (N,) float32 mono samples at 16 kHz."""
    path = Path(path)
    _check_readable(path)
    if soundfile is not None:
        try:
            samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        except (RuntimeError, soundfile.LibsndfileError, ValueError) as e:
            raise AudioError(f"cannot read audio {path}: {_first_line(e)}; "
                             "convert it to WAV or FLAC") from None
    else:
        samples, rate = _read_pcm_wav(path)
    return prepare(samples, rate, source=str(path))


def prepare(samples, sample_rate, source="audio") -> np.ndarray:
    """Mix (N,) or (N, channels) samples to mono and resample to 16 kHz, as float32.

    All-silent audio is valid (it animates a resting face); empty or non-finite audio is not.
    """
    x = np.asarray(samples)
    if x.ndim == 2:
        if x.shape[1] == 0:
            raise AudioError(f"{source} has no audio channels")
        x = x.mean(axis=1, dtype=np.float64) if x.shape[1] > 1 else x[:, 0]
    elif x.ndim != 1:
        raise AudioError(f"{source}: expected (samples,) or (samples, channels), got shape {x.shape}")
    if x.size == 0:
        raise AudioError(f"{source} contains no audio samples; check the file or strip")
    if not np.issubdtype(x.dtype, np.number):
        raise AudioError(f"{source}: samples must be numbers, got {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise AudioError(f"{source} contains NaN or infinite samples; re-export it as PCM audio")
    try:
        rate = float(sample_rate)
    except (TypeError, ValueError):
        raise AudioError(f"{source}: sample rate must be a number, got {sample_rate!r}") from None
    if not np.isfinite(rate) or not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"{source}: sample rate {sample_rate!r} Hz is outside "
                         f"{MIN_RATE}..{MAX_RATE} Hz; resample the audio")
    return resample(x, rate, SAMPLE_RATE)


def resample(samples: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Band-limited resampling of (N,) float32; soxr when available, else an FFT resampler."""
    if rate_in == rate_out:
        return np.ascontiguousarray(samples, dtype=np.float32)
    if soxr is not None:
        return soxr.resample(samples, rate_in, rate_out, quality="HQ").astype(np.float32, copy=False)
    return _fft_resample(samples, rate_in, rate_out)


def _fft_resample(x: np.ndarray, rate_in: float, rate_out: float) -> np.ndarray:
    """Resample by truncating or zero-padding the spectrum: exact band-limiting, numpy only."""
    n_out = max(1, int(round(len(x) * rate_out / rate_in)))
    spectrum = np.fft.rfft(x.astype(np.float64))
    bins = n_out // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins].copy()
        if n_out % 2 == 0 and bins > 1:
            spectrum[-1] = spectrum[-1].real  # the Nyquist bin of an even length is real
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), spectrum.dtype)])
    return (np.fft.irfft(spectrum, n_out) * (n_out / len(x))).astype(np.float32)


def _read_pcm_wav(path: Path):
    """Integer PCM WAV with the standard library, for Pythons without soundfile."""
    try:
        with wave.open(str(path), "rb") as f:
            channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
            raw = f.readframes(f.getnframes())
    except (wave.Error, EOFError, OSError) as e:
        raise AudioError(f"cannot read audio {path}: {_first_line(e) or 'not a PCM WAV file'}; "
                         "without soundfile only 8/16/24/32-bit PCM WAV can be read, "
                         "convert it to that") from None
    usable = len(raw) - len(raw) % (width * channels)
    raw = raw[:usable]
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        x = ((b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8).astype(np.float32) / 2.0**23
    elif width in (2, 4):
        dtype = np.int16 if width == 2 else np.int32
        x = np.frombuffer(raw, dtype).astype(np.float32) / float(2 ** (8 * width - 1))
    else:
        raise AudioError(f"cannot read audio {path}: {8 * width}-bit samples are not supported")
    return x.reshape(-1, channels), rate


def _check_readable(path: Path):
    if not path.exists():
        raise AudioError(f"audio file {path} does not exist")
    if path.is_dir():
        raise AudioError(f"{path} is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioError(f"no permission to read audio file {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"audio file {path} is empty (0 bytes)")


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""
