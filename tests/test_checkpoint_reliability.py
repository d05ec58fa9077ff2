"""Checkpoint rows of docs/reliability.md at the user's level: `a2f infer --checkpoint BAD`
prints one line naming the file and exits 1; hostile files run no code. (tests/test_checkpoint.py
checks the reader's messages; this file checks what a user sees, plus the rows it does not
build.)"""

import json
import os
import pickle
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import soundfile
import torch

from a2f_core.checkpoint import load_checkpoint
from a2f_core.errors import CheckpointError
from a2f_core.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("wav") / "a.wav"
    soundfile.write(path, (0.2 * np.sin(np.arange(8000) / 5.0)).astype(np.float32), 16000)
    return path


def _rewrite(src, dst, tensors=None, meta=None, dtype=None):
    ckpt = load_checkpoint(src)
    arrays = dict(ckpt.tensors if tensors is None else tensors)
    if dtype is not None:
        arrays = {k: v.astype(dtype) for k, v in arrays.items()}
    safetensors.numpy.save_file(arrays, str(dst),
                                metadata={"a2f": json.dumps(ckpt.meta if meta is None else meta)})


def _with_tensor(src, dst, name, change):
    tensors = dict(load_checkpoint(src).tensors)
    tensors[name] = change(tensors[name].copy())
    _rewrite(src, dst, tensors=tensors)


def _set(a, index, value):
    a.flat[index] = value
    return a


def _meta_without(key):
    def make(src, dst):
        meta = dict(load_checkpoint(src).meta)
        del meta[key]
        _rewrite(src, dst, meta=meta)
    return make


def _meta_with(**changes):
    def make(src, dst):
        _rewrite(src, dst, meta={**load_checkpoint(src).meta, **changes})
    return make


def _config_with(**changes):
    def make(src, dst):
        meta = load_checkpoint(src).meta
        _rewrite(src, dst, meta={**meta, "config": {**meta["config"], **changes}})
    return make


def _edit_header(change):
    """Rewrite a real file's JSON header with change(header) applied; the data is kept."""
    def make(src, dst):
        blob = src.read_bytes()
        n = struct.unpack("<Q", blob[:8])[0]
        header = json.loads(blob[8:8 + n])
        text = change(header)
        raw = (text if isinstance(text, str) else json.dumps(header)).encode()
        dst.write_bytes(struct.pack("<Q", len(raw)) + raw + blob[8 + n:])
    return make


def _set_entry(name, value):
    def change(header):
        header[name] = value
    return change


DEEP = "[" * 100_000 + "]" * 100_000  # 100,000 levels: Python's json recursion gives up at 1000


ROWS = [
    ("0-byte", lambda s, d: d.write_bytes(b""), "too short"),
    ("truncated", lambda s, d: d.write_bytes(s.read_bytes()[:len(s.read_bytes()) // 3]),
     "truncated or corrupt"),
    ("header length larger than the file",
     lambda s, d: d.write_bytes(struct.pack("<Q", 5000) + b'{"__metadata__": {}}'), "truncated"),
    ("a directory", lambda s, d: d.mkdir(), "is a directory"),
    ("wrong dtype F64", lambda s, d: _rewrite(s, d, dtype=np.float64), "unsupported dtype"),
    ("wrong dtype I32", lambda s, d: _rewrite(s, d, dtype=np.int32), "unsupported dtype"),
    ("wrong shape", lambda s, d: _with_tensor(s, d, "output.1.weight", lambda a: a[:, :-1].copy()),
     "has shape"),
    ("NaN weight", lambda s, d: _with_tensor(s, d, "formant.2.weight", lambda a: _set(a, 7, np.nan)),
     "NaN or infinite"),
    ("Inf weight", lambda s, d: _with_tensor(s, d, "output.0.bias", lambda a: _set(a, 0, np.inf)),
     "NaN or infinite"),
    *[(f"metadata lacks {k}", _meta_without(k), "lacks") for k in
      ("format", "format_version", "config", "fps", "emotions")],
    ("newer format version", _meta_with(format_version=4), "newer than this a2f reads (3); update a2f"),
    ("emotion vector too short", _meta_with(emotions={"neutral": {"vector": [0.0] * 16},
                                                      "happy": {"vector": [0.1] * 15}}),
     "emotion 'happy' must be 16 finite numbers"),
    ("emotion vector too long", _meta_with(emotions={"neutral": {"vector": [0.0] * 17}}),
     "must be 16 finite numbers"),
    ("no neutral emotion", _meta_with(emotions={"happy": {"vector": [0.0] * 16}}),
     "includes 'neutral'"),
    # configs the front end cannot honour: refused before any array is made from them
    ("config sample_rate 8000", _config_with(sample_rate=8000),
     "sample_rate 8000 Hz: a2f reads all audio at 16000 Hz"),
    ("config sample_rate 0", _config_with(sample_rate=0), "sample_rate must be a whole number"),
    ("config frame_length 1e12", _config_with(frame_length=10**12),
     "frame_length must be a whole number from 16 to 4096"),
    *[(f"config hop_length {v}", _config_with(hop_length=v), "hop_length must be a whole number")
      for v in (0, -128)],
    *[(f"config lags {v}", _config_with(lags=v), "lags must be") for v in (0, 10**9, 64)],
    *[(f"config window_frames {v!r}", _config_with(window_frames=v),
       "window_frames must be a whole number") for v in (64.0, "64")],
    ("config window_frames 48", _config_with(window_frames=48), "must be a power of two"),
    # nesting and types that used to escape as RecursionError or TypeError tracebacks
    ("100,000-deep JSON header",
     _edit_header(lambda h: '{"__metadata__": ' + DEEP + "}"),
     "header nests deeper than 64 levels; it is corrupt or not from a2f"),
    ("100,000-deep a2f metadata",
     _edit_header(lambda h: json.dumps({**h, "__metadata__": {"a2f": DEEP}})),
     "a2f metadata nests deeper than 64 levels"),
    ("100,000-deep provenance", _edit_header(
        lambda h: json.dumps({**h, "__metadata__": {"a2f": h["__metadata__"]["a2f"].replace(
            '"provenance": {', '"provenance": {"x": ' + DEEP + ", ", 1)}})),
     "a2f metadata nests deeper than 64 levels"),
    ("tensor dtype a list", _edit_header(lambda h: h["output.0.bias"].update(dtype=["F32"])),
     "tensor 'output.0.bias' has unsupported dtype ['F32']; only F32 and F16 are allowed"),
    ("tensor entry the string F32", _edit_header(_set_entry("output.0.bias", "F32")),
     "tensor 'output.0.bias' is 'F32', not an entry with dtype, shape and data_offsets"),
    ("tensor ending at byte 1e30",
     _edit_header(lambda h: h["output.0.bias"].update(data_offsets=[0, 10**30])),
     "tensor 'output.0.bias' byte range [0, 1000000000000000000000000000000] does not fit"),
    ("emotion vector of 1e300",
     _meta_with(emotions={"neutral": {"vector": [0.0] * 16}, "happy": {"vector": [1e300] * 16}}),
     "emotion 'happy' must be 16 finite numbers between -1e+06 and 1e+06"),
    # a valid file followed by unreferenced bytes: refused from the header, the tail never read
    ("1 MiB after the last tensor",
     lambda s, d: d.write_bytes(s.read_bytes() + bytes(1024 * 1024)),
     "has 1048576 bytes after its last tensor; the file is corrupt or not a checkpoint"),
]


@pytest.mark.parametrize("label,make,message", ROWS, ids=[r[0] for r in ROWS])
def test_bad_checkpoint_is_one_line_and_exit_1(tmp_path, capfd, weights_ckpt, short_wav,
                                               label, make, message):
    bad = tmp_path / "my model é.safetensors"
    make(weights_ckpt, bad)
    rc = main(["infer", str(short_wav), "--checkpoint", str(bad), "-o", str(tmp_path / "o.npz")])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert rc == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"a2f infer: error: checkpoint {bad}") or \
        lines[0].startswith(f"a2f infer: error: cannot read checkpoint {bad}"), lines[0]
    assert message in lines[0]
    assert not (tmp_path / "o.npz").exists()


def test_a_real_100_mb_json_header_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.safetensors"
    header = b'{"__metadata__": {"a2f": "' + b"x" * (100 * 2**20) + b'"}}'
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="over the 16777216 limit"):
        load_checkpoint(path)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 2 * 2**20 and elapsed < 1.0  # the 100 MB were never read


class _Payload:
    """Unpickling this writes the marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _pickle(protocol):
    return lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=protocol))


HOSTILE = {
    **{f"pickle protocol {p}": _pickle(p) for p in (0, 1, 2, 4, 5)},
    "torch.save zip": lambda obj, path: torch.save(obj, path),
    "torch.save legacy": lambda obj, path: torch.save(obj, path,
                                                      _use_new_zipfile_serialization=False),
}


@pytest.mark.parametrize("writer", list(HOSTILE))
def test_pickles_renamed_safetensors_run_no_code(tmp_path, capfd, short_wav, writer):
    marker = tmp_path / "pwned"
    hostile = tmp_path / "model.safetensors"
    HOSTILE[writer]({"state_dict": _Payload(marker)}, hostile)
    # the payload is live: a plain pickle.load of this very file would run it
    if writer.startswith("pickle"):
        pickle.loads(hostile.read_bytes())
        assert marker.exists()
        marker.unlink()
    rc = main(["infer", str(short_wav), "--checkpoint", str(hostile), "-o", str(tmp_path / "o.npz")])
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert rc == 1 and len(lines) == 1 and str(hostile) in lines[0], lines
    assert not marker.exists()


def test_checkpoint_without_read_permission(tmp_path, weights_ckpt, short_wav):
    from test_audio_reliability import _cli, _without_dac_override
    locked = tmp_path / "locked.safetensors"
    locked.write_bytes(weights_ckpt.read_bytes())
    locked.chmod(0)
    done = _cli("infer", short_wav, "--checkpoint", locked, "-o", tmp_path / "o.npz",
                prefix=_without_dac_override())
    assert done.returncode == 1
    assert done.stderr.strip() == f"a2f infer: error: cannot read checkpoint {locked}: Permission denied"



def test_a_fifo_as_checkpoint_is_refused_at_once(tmp_path, short_wav):
    """Opening a FIFO for reading blocks until a writer comes: a2f must not open it at all.
    Run in a child with a timeout, so a regression fails instead of hanging the suite."""
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "a2f_core.cli", "infer", str(short_wav),
                           "--checkpoint", str(fifo), "-o", str(tmp_path / "o.npz")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"a2f infer: error: checkpoint {fifo}: is not a regular file "
                                   "(a pipe or a device); choose a checkpoint file")


def test_a_small_trailing_pad_is_read_without_the_pad(tmp_path, weights_ckpt):
    """Up to MAX_TRAILING_BYTES of padding after the tensors is tolerated: the same tensors."""
    from a2f_core.checkpoint import MAX_TRAILING_BYTES
    padded = tmp_path / "padded.safetensors"
    padded.write_bytes(weights_ckpt.read_bytes() + bytes(MAX_TRAILING_BYTES))
    a, b = load_checkpoint(weights_ckpt), load_checkpoint(padded)
    assert all(np.array_equal(a.tensors[k], b.tensors[k]) for k in a.tensors)


def test_huge_emotion_vectors_are_refused_without_runtime_warnings(tmp_path, weights_ckpt):
    """A 1e300 vector, in a checkpoint or given to `a2f emotions add`: one line and no
    RuntimeWarning printed before it (float32 casts of 1e300 warned on overflow)."""
    import warnings
    from a2f_core.errors import A2FError
    from training.emotion_mining import add_emotion
    bad = tmp_path / "bad.safetensors"
    _meta_with(emotions={"neutral": {"vector": [0.0] * 16}, "happy": {"vector": [1e300] * 16}})(
        weights_ckpt, bad)
    copy = tmp_path / "copy.safetensors"
    copy.write_bytes(weights_ckpt.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        with pytest.raises(CheckpointError, match="finite numbers between"):
            load_checkpoint(bad)
        with pytest.raises(A2FError, match="needs 16 finite numbers between"):
            add_emotion(copy, "loud", vector=",".join(["1e300"] * 16))
    assert copy.read_bytes() == weights_ckpt.read_bytes()
