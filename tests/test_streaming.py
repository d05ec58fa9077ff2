"""Long files stream through AudioFile; the result must equal the in-memory path exactly."""

import numpy as np
import pytest
import soundfile
import soxr

from a2f_core.audio import AudioFile, load_audio, prepare
from a2f_core.checkpoint import load_checkpoint
from a2f_core.features import GridFeatures
from a2f_core.infer import Animator


@pytest.fixture(scope="module")
def stereo_flac(tmp_path_factory, speech):
    """About 9 s of 44.1 kHz stereo speech: a rate and layout that need mixing and resampling."""
    samples, rate = speech
    x = np.tile(samples, 3)
    stereo = soxr.resample(np.stack([x, 0.5 * x[::-1]], axis=1), rate, 44100)
    path = tmp_path_factory.mktemp("stream") / "speech.flac"
    soundfile.write(path, stereo, 44100)
    return path


def test_blocks_equal_one_shot_decoding(stereo_flac):
    whole = load_audio(stereo_flac)
    data, rate = soundfile.read(stereo_flac, dtype="float32", always_2d=True)
    assert np.array_equal(whole, prepare(data, rate))
    streamed = AudioFile(stereo_flac, block_seconds=0.37)
    assert len(streamed) == len(whole)
    parts = [streamed[lo:lo + 5000] for lo in range(0, len(whole), 3000)]  # overlapping reads
    assert all(np.array_equal(p, whole[lo:lo + 5000]) for p, lo in zip(parts, range(0, len(whole), 3000)))


def test_reading_backwards_restarts_the_stream(stereo_flac):
    whole = load_audio(stereo_flac)
    streamed = AudioFile(stereo_flac, block_seconds=0.5)
    assert np.array_equal(streamed[100_000:100_100], whole[100_000:100_100])
    assert np.array_equal(streamed[5:50], whole[5:50])
    assert np.array_equal(streamed[len(whole) - 10:len(whole) + 10], whole[-10:])


def test_streamed_animation_equals_in_memory(stereo_flac, weights_ckpt):
    animator = Animator(load_checkpoint(weights_ckpt))
    emotion = animator.checkpoint.emotions["happy"]
    whole = load_audio(stereo_flac)
    streamed = AudioFile(stereo_flac, block_seconds=0.5)
    assert GridFeatures(streamed, chunk_frames=100).gain == GridFeatures(whole, chunk_frames=100).gain
    expected = [h for _, h in animator.iter_hidden(whole, 30.0, emotion, 0.4, chunk_frames=64)]
    got = [h for _, h in animator.iter_hidden(streamed, 30.0, emotion, 0.4, chunk_frames=64)]
    assert len(got) == len(expected) > 3
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))


def test_streamed_lip_contact_detector_equals_in_memory(stereo_flac, detector_ckpt):
    """The detector reads the file through its own stream, alongside the network's."""
    animator = Animator(load_checkpoint(detector_ckpt))
    assert animator.contact.detector is not None
    emotion = animator.checkpoint.emotions["neutral"]
    expected = [y for _, y in animator.iter_frames(load_audio(stereo_flac), 30.0, emotion, 0.4,
                                                   chunk_frames=64)]
    got = [y for _, y in animator.iter_frames(AudioFile(stereo_flac, block_seconds=0.5), 30.0,
                                              emotion, 0.4, chunk_frames=64)]
    assert len(got) == len(expected) > 3
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))
