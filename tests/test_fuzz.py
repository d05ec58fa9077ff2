"""Bounded fuzzing: whatever bytes arrive, only the documented error type escapes."""

import json
import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2f_core.audio import load_audio, prepare
from a2f_core.checkpoint import load_checkpoint
from a2f_core.errors import A2FError, AudioError, CheckpointError
from a2f_core.infer import Animator
from a2f_core.models import DEFAULT_WEIGHTS

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mutate(blob: bytes, edits) -> bytes:
    data = bytearray(blob)
    for position, value in edits:
        if data:
            data[position % len(data)] = value
    return bytes(data)


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), max_size=8),
       cut=st.integers(0, 2**31))
def test_checkpoint_reader_on_mutated_files(tmp_path, weights_ckpt, edits, cut):
    blob = weights_ckpt.read_bytes()
    blob = _mutate(blob, edits)[: max(8, cut % (len(blob) + 1))]
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(blob)
    try:
        load_checkpoint(path)
    except CheckpointError:
        pass


@FUZZ
@given(header=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4), max_leaves=20),
    tail=st.binary(max_size=64))
def test_checkpoint_reader_on_arbitrary_headers(tmp_path, header, tail):
    raw = json.dumps(header).encode()
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + tail)
    try:
        load_checkpoint(path)
    except CheckpointError:
        pass


@FUZZ
@given(entry=st.none() | st.booleans() | st.floats() | st.text(max_size=8) | st.dictionaries(
    st.sampled_from(["center", "width", "data"]),
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.text(max_size=4),
    max_size=3))
def test_lip_contact_metadata_of_the_bundled_model(tmp_path, entry):
    """Whatever the head's metadata says, only CheckpointError escapes, and a head that loads
    animates finite weights."""
    blob = DEFAULT_WEIGHTS.read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    meta = json.loads(header["__metadata__"]["a2f"])
    meta["lip_contact"] = {**meta["lip_contact"], **entry} if isinstance(entry, dict) else entry
    header["__metadata__"]["a2f"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + blob[8 + n:])
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError:
        return
    noise = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    assert np.isfinite(Animator(ckpt).animate(noise, 30.0, ckpt.emotions["neutral"])).all()


@FUZZ
@given(blob=st.binary(max_size=2048), suffix=st.sampled_from([".wav", ".flac", ".ogg", ".mp3"]))
def test_audio_loader_on_random_bytes(tmp_path, blob, suffix):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(blob)
    try:
        x = load_audio(path)
    except AudioError:
        return
    assert x.dtype == np.float32 and np.isfinite(x).all()


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 2**31))
def test_audio_loader_on_mutated_wav(tmp_path, speech_wav, edits, cut):
    blob = speech_wav.read_bytes()[:4000]
    blob = _mutate(blob, edits)[: cut % (len(blob) + 1)]
    path = tmp_path / "fuzz.wav"
    path.write_bytes(blob)
    try:
        load_audio(path)
    except AudioError:
        pass


@FUZZ
@given(samples=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=50),
       rate=st.one_of(st.integers(-10, 200000), st.floats(allow_nan=True)))
def test_prepare_on_arbitrary_arrays(samples, rate):
    try:
        prepare(np.array(samples, np.float32), rate)
    except A2FError:
        pass
