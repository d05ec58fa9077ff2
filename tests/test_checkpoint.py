import json
import pickle
import struct

import numpy as np
import pytest
import safetensors.numpy
import torch

from a2f_core.checkpoint import (MAX_HEADER_BYTES, load_checkpoint, random_checkpoint,
                                 save_checkpoint, update_metadata)
from a2f_core.config import ModelConfig, parameter_shapes
from a2f_core.errors import CheckpointError
from a2f_core.torch.model import A2FNet


def test_round_trip_from_torch(tmp_path):
    config = ModelConfig("weights", 3, 8)
    net = A2FNet(config)
    path = save_checkpoint(tmp_path / "c.safetensors", net.numpy_tensors(), config, fps=30,
                           channel_names=["jawOpen", "mouthClose", "mouthFunnel"],
                           emotions={"happy": np.arange(8)}, provenance={"steps": 5})
    ckpt = load_checkpoint(path)
    assert ckpt.config == config and ckpt.fps == 30 and ckpt.kind == "weights"
    assert ckpt.channel_names == ["jawOpen", "mouthClose", "mouthFunnel"]
    assert set(ckpt.emotions) == {"happy", "neutral"} and not ckpt.emotions["neutral"].any()
    for name, value in net.state_dict().items():
        assert np.array_equal(ckpt.tensors[name], value.numpy())
    assert ckpt.meta["provenance"] == {"steps": 5}


def test_float16_storage_and_safetensors_interop(tmp_path, vertices_ckpt):
    ckpt = load_checkpoint(vertices_ckpt)
    half = save_checkpoint(tmp_path / "h.safetensors", ckpt.tensors, ckpt.config, fps=30,
                           emotions=ckpt.emotions, dtype="float16")
    assert half.stat().st_size < vertices_ckpt.stat().st_size * 0.6
    loaded = load_checkpoint(half)
    assert np.array_equal(loaded.template, ckpt.template)  # the template stays float32
    # float16 rounds to nearest: within half an ulp, 2**-11 relative (2**-25 if subnormal)
    assert np.allclose(loaded.tensors["output.1.weight"], ckpt.tensors["output.1.weight"],
                       rtol=2.0 ** -11, atol=2.0 ** -25)
    # the reference safetensors implementation reads our files
    reference = safetensors.numpy.load_file(str(vertices_ckpt))
    assert np.array_equal(reference["template"], ckpt.template)


def test_update_metadata_keeps_tensors(tmp_path, weights_ckpt):
    path = tmp_path / "c.safetensors"
    path.write_bytes(weights_ckpt.read_bytes())
    updated = update_metadata(path, emotions={"neutral": {"vector": [0.5] * 16}})
    assert list(updated.emotions) == ["neutral"] and updated.emotions["neutral"][0] == 0.5
    assert np.array_equal(updated.tensors["formant.0.weight"],
                          load_checkpoint(weights_ckpt).tensors["formant.0.weight"])


def _rewrite(src, dst, tensors=None, meta=None, dtype=None):
    ckpt = load_checkpoint(src)
    arrays = dict(ckpt.tensors if tensors is None else tensors)
    if dtype:
        arrays = {k: v.astype(dtype) for k, v in arrays.items()}
    meta = ckpt.meta if meta is None else meta
    # the reference writer, so dtypes a2f never writes can be tried too
    safetensors.numpy.save_file(arrays, str(dst), metadata={"a2f": json.dumps(meta)})
    return dst


def hostile_cases(src, tmp_path):
    ckpt = load_checkpoint(src)
    good = src.read_bytes()
    p = tmp_path / "bad.safetensors"
    nan = dict(ckpt.tensors)
    nan["output.1.bias"] = nan["output.1.bias"].copy()
    nan["output.1.bias"][0] = np.nan
    wrong_shape = dict(ckpt.tensors)
    wrong_shape["formant.1.weight"] = np.zeros((108, 72, 2), np.float32)
    missing = {k: v for k, v in ckpt.tensors.items() if k != "output.0.bias"}
    newer = {**ckpt.meta, "format_version": 99}
    no_emotions = {k: v for k, v in ckpt.meta.items() if k != "emotions"}
    short_emotion = {**ckpt.meta, "emotions": {"neutral": {"vector": [0.0] * 3}}}
    yield "0-byte", lambda: p.write_bytes(b""), "too short"
    yield "truncated", lambda: p.write_bytes(good[: len(good) // 2]), "truncated|corrupt"
    yield "header too long", lambda: p.write_bytes(struct.pack("<Q", 10**6) + b"{}"), "truncated"
    yield "100 MB header", lambda: p.write_bytes(struct.pack("<Q", 100 * 2**20) + b" " * 64), \
        f"over the {MAX_HEADER_BYTES} limit"
    yield "not json", lambda: p.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{]"), "not valid JSON"
    yield "wrong dtype", lambda: _rewrite(src, p, dtype=np.float64), "unsupported dtype"
    yield "wrong shape", lambda: _rewrite(src, p, tensors=wrong_shape), "has shape"
    yield "nan", lambda: _rewrite(src, p, tensors=nan), "NaN"
    yield "missing tensor", lambda: _rewrite(src, p, tensors=missing), "missing tensors"
    yield "newer version", lambda: _rewrite(src, p, meta=newer), "newer than this a2f"
    yield "missing meta key", lambda: _rewrite(src, p, meta=no_emotions), "lacks"
    yield "emotion length", lambda: _rewrite(src, p, meta=short_emotion), "16 finite numbers"
    yield "no a2f metadata", lambda: safetensors.numpy.save_file(
        {"x": np.zeros(3, np.float32)}, str(p)), "no a2f metadata"


def test_every_rejection_path(tmp_path, weights_ckpt):
    for label, make, message in hostile_cases(weights_ckpt, tmp_path):
        make()
        with pytest.raises(CheckpointError, match=message) as info:
            load_checkpoint(tmp_path / "bad.safetensors")
        assert "bad.safetensors" in str(info.value), label


class _Boom:
    def __reduce__(self):
        return (exec, ("open(__import__('os').environ['A2F_PWNED'], 'w').write('ran')",))


@pytest.mark.parametrize("writer", ["pickle", "torch"])
def test_pickles_are_refused_without_running_code(tmp_path, monkeypatch, writer):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("A2F_PWNED", str(marker))
    path = tmp_path / "model.safetensors"
    if writer == "pickle":
        path.write_bytes(pickle.dumps({"weights": _Boom()}, protocol=4))
    else:
        torch.save({"weights": _Boom()}, path)
    with pytest.raises(CheckpointError, match="pickle or torch"):
        load_checkpoint(path)
    assert not marker.exists()


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_parameter_count_matches_the_paper():
    """About 1.5 M network parameters plus 150 x output size (the paper quotes ~1.7 M)."""
    config = ModelConfig("weights", 52, 16)
    n = sum(int(np.prod(s)) for s in parameter_shapes(config).values())
    assert 1.4e6 < n - 150 * 52 < 1.8e6


def test_random_checkpoint_emotions(tmp_path):
    ckpt = load_checkpoint(random_checkpoint(tmp_path / "r.safetensors", emotion_dim=24))
    assert ckpt.config.emotion_dim == 24 and ckpt.emotions["happy"].shape == (24,)
