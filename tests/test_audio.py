import os
import wave

import numpy as np
import pytest
import soundfile

from a2f_core import audio
from a2f_core.audio import SAMPLE_RATE, load_audio, prepare
from a2f_core.errors import AudioError


def tone(rate, seconds=1.0, freq=440.0):
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_resamples_to_16k_preserving_pitch_and_length(tmp_path, rate):
    path = tmp_path / f"tone{rate}.wav"
    soundfile.write(path, tone(rate), rate)
    x = load_audio(path)
    assert x.dtype == np.float32 and abs(len(x) - SAMPLE_RATE) <= 1
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(x) - 440.0) < 2.0
    assert abs(np.sqrt(np.mean(x[1000:-1000] ** 2)) - 0.5 / np.sqrt(2)) < 0.01


def test_stereo_is_mixed_to_mono(tmp_path):
    left, right = tone(44100), np.zeros(44100, np.float32)
    path = tmp_path / "stereo.flac"
    soundfile.write(path, np.stack([left, right], axis=1), 44100)
    x = load_audio(path)
    assert abs(np.max(np.abs(x[1000:-1000])) - 0.25) < 0.01


def test_numpy_fallback_matches_soxr(monkeypatch, tmp_path):
    """Blender's Python has neither soundfile nor soxr: the stdlib + numpy path must agree."""
    path = tmp_path / "tone.wav"
    soundfile.write(path, tone(44100, freq=300.0), 44100, subtype="PCM_16")
    reference = load_audio(path)
    monkeypatch.setattr(audio, "soundfile", None)
    monkeypatch.setattr(audio, "soxr", None)
    fallback = load_audio(path)
    assert len(fallback) == len(reference)
    assert np.max(np.abs(fallback[500:-500] - reference[500:-500])) < 2e-3


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_24", "PCM_32"])
def test_stdlib_reader_handles_pcm_widths(monkeypatch, tmp_path, subtype):
    path = tmp_path / "t.wav"
    soundfile.write(path, tone(16000), 16000, subtype=subtype)
    monkeypatch.setattr(audio, "soundfile", None)
    assert np.max(np.abs(load_audio(path) - tone(16000))) < 1e-2


@pytest.mark.parametrize("make,message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(os.urandom(4000)), "cannot read audio"),
    (lambda p: p.write_text("this is not audio\n" * 50), "cannot read audio"),
])
def test_bad_files_give_clear_errors(tmp_path, make, message):
    path = tmp_path / "bad file é.wav"
    make(path)
    with pytest.raises(AudioError, match=message):
        load_audio(path)


def test_header_only_wav_is_empty_audio(tmp_path):
    path = tmp_path / "header.wav"
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(16000)
    with pytest.raises(AudioError, match="no audio samples|cannot read"):
        load_audio(path)


def test_non_finite_samples_are_rejected(tmp_path):
    x = tone(16000)
    x[100] = np.nan
    path = tmp_path / "nan.wav"
    soundfile.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(path)


def test_silence_is_valid():
    assert not prepare(np.zeros(16000, np.float32), 16000).any()


@pytest.mark.parametrize("rate", [0, -5, float("nan"), "fast"])
def test_invalid_sample_rate(rate):
    with pytest.raises(AudioError, match="sample rate"):
        prepare(np.zeros(100, np.float32), rate)


def test_six_channels_and_one_sample():
    six = np.tile(tone(48000)[:, None], (1, 6))
    assert len(prepare(six, 48000)) == SAMPLE_RATE
    assert len(prepare(np.ones(1, np.float32), 16000)) == 1
