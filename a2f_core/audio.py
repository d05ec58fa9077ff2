"""Audio in: any file or sample array -> mono float32 at 16 kHz, with errors a user can act on.

soundfile and soxr do the work where they are installed. Blender bundles neither, so there the
add-on hands over samples read by Blender's own `aud`, and PCM WAV falls back to the standard
library plus numpy resampling.
"""

import contextlib
import os
import wave
from pathlib import Path

import numpy as np

from .errors import AudioError
from .limits import check_sample_rate

SAMPLE_RATE = 16000

try:  # optional: Blender's Python has neither
    import soundfile
except ImportError:  # pragma: no cover - exercised in the Blender test venvs
    soundfile = None
try:
    import soxr
except ImportError:  # pragma: no cover - exercised in the Blender test venvs
    soxr = None

# what decoding a file it cannot read raises; bound once, so a stream closed late (at garbage
# collection) never looks soundfile up again
_UNREADABLE = (RuntimeError, ValueError) + ((soundfile.LibsndfileError,) if soundfile else ())


# Float files may hold any float32; beyond this (120 dB over full scale) resampling and the
# liveliness layer's float32 products overflow, so such a file is refused, not animated as NaN
MAX_SAMPLE = 1e6

BLOCK_SECONDS = 10.0  # AudioFile decodes this much at a time: memory per block, not per file


def load_audio(path) -> np.ndarray:
    """Read an audio file as (N,) float32 mono samples at 16 kHz."""
    if soundfile is not None and soxr is not None:
        audio = AudioFile(path)
        return audio[0:len(audio)]
    path = Path(path)
    check_readable(path)
    if soundfile is not None:
        try:
            samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        except _UNREADABLE as e:
            raise _unreadable(path, e) from None
    else:
        samples, rate = _read_pcm_wav(path)
    return prepare(samples, rate, source=str(path))


def open_audio(path):
    """Samples of a file to animate: streamed (`AudioFile`) where soundfile and soxr are
    installed, else the whole file as an array."""
    return AudioFile(path) if soundfile is not None and soxr is not None else load_audio(path)


class AudioFile:
    """A file's samples, mono float32 at 16 kHz, decoded block by block (soundfile + soxr).

    It stands in for the (N,) array wherever features read samples: len() and slices, which
    must move forward (each starts at or after the previous start, as the feature passes read).
    A slice starting earlier restarts decoding from the top, so the loudness pass and the
    feature pass each stream the file once and an hour never sits in memory (as one array at
    44.1 kHz stereo it would be 1.3 GB). Blocks are mixed and checked as `prepare` does, and
    soxr's stream gives the same samples as its one-shot call: `load_audio` is this, whole.
    """

    def __init__(self, path, block_seconds: float = BLOCK_SECONDS, sample_rate=SAMPLE_RATE):
        """sample_rate: of the samples handed out (a lower one is cheaper, for analyses that
        need no more)."""
        self.path = Path(path)
        self.sample_rate = sample_rate
        check_readable(self.path)
        try:
            with _native_stderr_silenced():
                info = soundfile.info(str(self.path))
        except _UNREADABLE as e:
            raise _unreadable(self.path, e) from None
        if info.channels <= 0:
            raise AudioError(f"{self.path} has no audio channels")
        check_sample_rate(info.samplerate, str(self.path), AudioError)
        if info.frames <= 0:
            raise AudioError(f"{self.path} contains no audio samples; check the file or strip")
        self.rate = info.samplerate
        self._block = max(1, int(block_seconds * self.rate))
        self._length = int(info.frames * sample_rate / self.rate + 0.5)  # soxr's output length
        self._restart()

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, key: slice) -> np.ndarray:
        lo, hi, step = key.indices(self._length)
        if step != 1:
            raise IndexError("AudioFile slices have step 1")
        hi = max(lo, hi)
        if lo < self._start:
            self._restart()
        blocks, have = [self._buffer], self._start + len(self._buffer)
        while have < hi:
            block = next(self._blocks, None)
            if block is None:  # fewer samples than the header promised: the rest is silence
                block = np.zeros(hi - have, np.float32)
            blocks.append(block)
            have += len(block)
        self._buffer = np.concatenate(blocks)[lo - self._start:]
        self._start = lo
        return self._buffer[:hi - lo].copy()

    def _restart(self):
        self._start, self._buffer, self._blocks = 0, np.zeros(0, np.float32), self._decode()

    def _decode(self):
        """Yield the whole file as float32 16 kHz mono blocks."""
        stream = (None if self.rate == self.sample_rate else
                  soxr.ResampleStream(self.rate, self.sample_rate, 1, dtype="float32",
                                      quality="HQ"))
        try:
            with soundfile.SoundFile(str(self.path)) as f:
                while True:
                    block = f.read(self._block, dtype="float32", always_2d=True)
                    x = _checked(_mono(block, str(self.path)), str(self.path))
                    last = len(block) < self._block
                    yield stream.resample_chunk(x, last=last) if stream else x
                    if last:
                        return
        except _UNREADABLE as e:
            raise _unreadable(self.path, e) from None


@contextlib.contextmanager
def _native_stderr_silenced():
    """Hide what C decoders print while probing a file: libsndfile's mpg123 writes 'Note: Illegal
    Audio-MPEG-Header' lines for any non-mp3 named .mp3, before our own one-line error."""
    try:
        saved = os.dup(2)  # the C library writes to fd 2, whatever sys.stderr is
    except OSError:  # no stderr at all
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def prepare(samples, sample_rate, source="audio") -> np.ndarray:
    """Mix (N,) or (N, channels) samples to mono and resample to 16 kHz, as float32.

    All-silent audio is valid (it animates a resting face); empty or non-finite audio is not.
    """
    x = _mono(np.asarray(samples), source)
    if x.size == 0:
        raise AudioError(f"{source} contains no audio samples; check the file or strip")
    x = _checked(x, source)
    return resample(x, check_sample_rate(sample_rate, source, AudioError), SAMPLE_RATE)


def _mono(x: np.ndarray, source: str) -> np.ndarray:
    """(N,) or (N, channels) -> (N,): the mean of the channels."""
    if x.ndim == 2:
        if x.shape[1] == 0:
            raise AudioError(f"{source} has no audio channels")
        return x.mean(axis=1, dtype=np.float64) if x.shape[1] > 1 else x[:, 0]
    if x.ndim != 1:
        raise AudioError(f"{source}: expected (samples,) or (samples, channels), got shape {x.shape}")
    return x


def _checked(x: np.ndarray, source: str) -> np.ndarray:
    """x as float32, refusing samples that are not finite numbers."""
    if not np.issubdtype(x.dtype, np.number):
        raise AudioError(f"{source}: samples must be numbers, got {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise AudioError(f"{source} contains NaN or infinite samples; re-export it as PCM audio")
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > MAX_SAMPLE:
        raise AudioError(f"{source} has samples up to {peak:.3g}, far beyond full scale (1.0); "
                         "re-export it normalised, e.g. as PCM audio")
    return x


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


def check_readable(path, what=None):
    """Refuse a path that is missing, not a regular file, unreadable or empty, naming it `what`
    (default 'audio file PATH'). Also the add-on's guard before Audaspace, which aborts
    Blender on an empty file."""
    path = Path(path)
    what = what or f"audio file {path}"
    try:
        if not path.exists():
            raise AudioError(f"{what} does not exist")
        if path.is_dir():
            raise AudioError(f"{path} is a directory, not an audio file")
        if not path.is_file():
            raise AudioError(f"{what} is not a regular file; choose an audio file")
        if not os.access(path, os.R_OK):
            raise AudioError(f"no permission to read {what}")
        if path.stat().st_size == 0:
            raise AudioError(f"{what} is empty (0 bytes); choose another file")
    except PermissionError:  # a folder on the way cannot be entered
        raise AudioError(f"no permission to reach {what}; check the folder's "
                         "permissions") from None


def _unreadable(path: Path, error: Exception) -> AudioError:
    reason = _first_line(error)
    if "does not exist or is not a regular file" in reason:
        # libsndfile's words for a file its decoders all refused; the file itself is there
        reason = "format not recognised"
    return AudioError(f"cannot read audio {path}: {reason}; convert it to WAV or FLAC")


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""
