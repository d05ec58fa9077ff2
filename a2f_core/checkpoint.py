"""Checkpoints: one safetensors file with JSON metadata, read and written with numpy alone.

The safetensors layout is an 8-byte little-endian header length, a JSON header naming each
tensor's dtype, shape and byte range, then raw little-endian data. It holds no code, so loading a
stranger's file is safe; this reader still checks every field before trusting it.
Our metadata lives under the header's "__metadata__" -> "a2f" key as one JSON string.
"""

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import contact, topology
from .atomic import atomic_write
from .config import ModelConfig, parameter_shapes
from .errors import CheckpointError
from .limits import parse_json

FORMAT = "a2f-checkpoint"
FORMAT_VERSION = 3  # 2 added the optional lip contact head, 3 its detector; files are written
                    # with the oldest version that reads them
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_TRAILING_BYTES = 64 * 1024  # unreferenced bytes after the tensors a file may carry
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}
MAX_EMOTION_VALUE = 1e6  # learned emotion vectors stay within a few units
_REQUIRED_META = ("format", "format_version", "config", "fps", "emotions")


@dataclass
class Checkpoint:
    path: Path
    config: ModelConfig
    tensors: dict           # name -> float32 array: network weights, "template", "training.*"
    meta: dict              # the a2f metadata (see docs/checkpoint-format.md)
    emotions: dict = field(default_factory=dict)  # name -> (E,) float32; always has "neutral"

    @property
    def kind(self) -> str:
        return self.config.output_kind

    @property
    def fps(self) -> float:
        return float(self.meta["fps"])

    @property
    def channel_names(self):
        """The C output names of a weights model, else None."""
        return list(self.meta["channel_names"]) if self.kind == "weights" else None

    @property
    def template(self):
        """(V, 3) neutral vertices of a vertex model, else None."""
        return self.tensors.get("template")


def load_checkpoint(path) -> Checkpoint:
    """Read and validate a checkpoint; any problem raises CheckpointError naming the file."""
    path = Path(path)
    try:
        header, data = _read_safetensors(path)
    except CheckpointError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from None
    try:
        return _build(path, header, data)
    except CheckpointError as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None


def save_checkpoint(path, tensors: dict, config: ModelConfig, *, fps: float,
                    channel_names=None, emotions=None, provenance=None, extra_meta=None,
                    dtype="float32") -> Path:
    """Validate and write a checkpoint atomically (temp file + rename); returns its path.

    emotions: name -> (E,) vector, or an entry {"vector": ..., provenance keys...};
    "neutral" (zeros) is added when missing.
    dtype: "float32" or "float16" storage for the network weights.
    """
    database = {}
    for name, entry in (emotions or {}).items():
        entry = dict(entry) if isinstance(entry, dict) else {"vector": entry}
        database[name] = {**entry, "vector": np.asarray(entry["vector"], np.float32).tolist()}
    database.setdefault("neutral", {"vector": [0.0] * config.emotion_dim})
    meta = {"format": FORMAT, "format_version": _version(tensors), "config": config.to_dict(),
            "fps": float(fps), "emotions": database,
            "provenance": provenance or {}, **(extra_meta or {})}
    if config.output_kind == "weights":
        meta["channel_names"] = list(channel_names or [])
    stored = np.dtype(dtype)
    arrays = {k: np.ascontiguousarray(v, stored if k in parameter_shapes(config) else np.float32)
              for k, v in tensors.items()}
    _build(Path(path), {"__metadata__": {"a2f": json.dumps(meta)}}, None, arrays)
    write_safetensors(path, arrays, {"a2f": json.dumps(meta)})
    return Path(path)


def update_metadata(path, tensors=None, drop=(), **changes) -> Checkpoint:
    """Rewrite a checkpoint with some metadata keys replaced (e.g. its emotion database) and,
    with tensors, some tensors added or replaced (new ones stored as float32) after removing
    those named in drop."""
    ckpt = load_checkpoint(path)
    header, _ = _read_safetensors(Path(path))
    stored = {k: _DTYPES[v["dtype"]] for k, v in header.items() if k != "__metadata__"}
    kept = {k: v for k, v in ckpt.tensors.items() if k not in drop}
    arrays = {**kept, **(tensors or {})}
    arrays = {k: np.ascontiguousarray(v, stored.get(k, np.float32)) for k, v in arrays.items()}
    meta = {**ckpt.meta, **changes}
    meta["format_version"] = _version(arrays)
    _build(Path(path), {"__metadata__": {"a2f": json.dumps(meta)}}, None, arrays)
    write_safetensors(path, arrays, {"a2f": json.dumps(meta)})
    return load_checkpoint(path)


def random_checkpoint(path, kind="weights", *, channel_names=None, template=None, emotions=None,
                      emotion_dim=16, fps=30.0, seed=0) -> Path:
    """A checkpoint with He-initialised random weights, for tests and benchmarks."""
    if kind == "weights":
        from .arkit import ARKIT_NAMES
        channel_names = list(channel_names or ARKIT_NAMES)
        config = ModelConfig("weights", len(channel_names), emotion_dim)
    else:
        template = np.asarray(template, np.float32)
        config = ModelConfig("vertices", template.size, emotion_dim)
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in parameter_shapes(config).items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = math.sqrt(2.0 / fan_in) if len(shape) > 1 else 0.05
        tensors[name] = (rng.standard_normal(shape) * scale).astype(np.float32)
    if kind == "vertices":
        tensors["template"] = template
    if emotions is None:
        emotions = {name: rng.standard_normal(emotion_dim) for name in ("happy", "sad")}
    return save_checkpoint(path, tensors, config, fps=fps, channel_names=channel_names,
                           emotions=emotions, provenance={"kind": "random", "seed": seed})


def write_safetensors(path, arrays: dict, metadata: dict):
    """Write the safetensors layout atomically: a reader never sees a half-written file."""
    path = Path(path)
    names = sorted(arrays)
    header, offset = {"__metadata__": metadata}, 0
    for name in names:
        a = arrays[name]
        code = next((c for c, d in _DTYPES.items() if d == a.dtype.newbyteorder("<")), None)
        if code is None:
            raise CheckpointError(f"tensor {name} has unsupported dtype {a.dtype}")
        header[name] = {"dtype": code, "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot write checkpoint {path}: {e.strerror or e}") from None

    def write(f):
        f.write(struct.pack("<Q", len(blob)) + blob)
        for name in names:
            f.write(arrays[name].astype(arrays[name].dtype.newbyteorder("<")).tobytes())
    atomic_write(path, write, CheckpointError, "checkpoint ")


def _read_safetensors(path: Path):
    """(header dict, data bytes) after checking the framing; nothing in it is executed.

    Only the header and the byte range its tensors name are read: a file much larger than its
    tensors (MAX_TRAILING_BYTES after the last) is refused, not loaded.
    """
    if path.is_dir():
        raise CheckpointError("is a directory, not a checkpoint file")
    if path.exists() and not path.is_file():  # a FIFO or device would block or never end
        raise CheckpointError("is not a regular file (a pipe or a device); choose a checkpoint "
                              "file")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        prefix = f.read(8)
        if len(prefix) < 8:
            raise CheckpointError(f"file is too short ({size} bytes) to be a checkpoint")
        n = struct.unpack("<Q", prefix)[0]
        if n > min(MAX_HEADER_BYTES, size - 8) and (prefix[:2] == b"PK" or prefix[:1] == b"\x80"):
            raise CheckpointError("is a pickle or torch .pt file, which a2f never loads; "
                                  "convert it to a2f's safetensors checkpoint format")
        if n > MAX_HEADER_BYTES:
            raise CheckpointError(f"header claims {n} bytes, over the {MAX_HEADER_BYTES} limit; "
                                  "the file is corrupt or not a checkpoint")
        if n > size - 8:
            raise CheckpointError(f"header claims {n} bytes but the file has {size - 8} after "
                                  "the length field; the file is truncated or not a checkpoint")
        header = _parse_header(f.read(n))
        extent = _data_extent(header)
        trailing = size - 8 - n - extent
        if trailing > MAX_TRAILING_BYTES:
            raise CheckpointError(f"has {trailing} bytes after its last tensor; the file is "
                                  "corrupt or not a checkpoint")
        data = f.read(min(extent, size - 8 - n))  # a range past the end is refused later
    return header, data


def _parse_header(raw: bytes) -> dict:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointError("header is not valid JSON; the file is corrupt or not a "
                              "checkpoint") from None
    header = parse_json(text, "header", CheckpointError)
    if not isinstance(header, dict):
        raise CheckpointError("header is not a JSON object")
    return header


def _data_extent(header: dict) -> int:
    """Bytes of data the header's tensors span (their largest end offset); entries are checked
    in full by `_tensors`."""
    ends = [info["data_offsets"][1] for name, info in header.items()
            if name != "__metadata__" and isinstance(info, dict)
            and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2
            and type(info["data_offsets"][1]) is int]
    return max([0] + ends)


def _version(tensors) -> int:
    """The oldest format version that reads these tensors, so older readers load what they can."""
    if contact.has_detector(tensors):
        return 3
    return 2 if contact.WEIGHT in tensors else 1


def _build(path: Path, header: dict, data, arrays=None) -> Checkpoint:
    """Validate header + data (or already-built arrays) against the metadata's model config."""
    meta = _parse_meta(header.get("__metadata__"))
    try:
        config = ModelConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"invalid model config: {e}") from None
    if arrays is None:
        arrays = _tensors(header, data)
    tensors = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
    expected = parameter_shapes(config)
    if config.output_kind == "vertices":
        expected["template"] = (config.output_size // 3, 3)
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise CheckpointError(f"missing tensors {missing[:5]}; it was not written by a2f")
    head = set(contact.tensor_names(tensors))  # checked by contact.validate
    for name, array in tensors.items():
        if name in expected and array.shape != tuple(expected[name]):
            raise CheckpointError(f"tensor {name} has shape {array.shape}, expected "
                                  f"{tuple(expected[name])} for its model config")
        if name not in expected and not name.startswith("training.") and name not in head:
            raise CheckpointError(f"unexpected tensor {name!r}")
        if not np.isfinite(array).all():
            raise CheckpointError(f"tensor {name} contains NaN or infinite values; the training "
                                  "run diverged, use an earlier checkpoint")
    if config.output_kind == "weights":
        names = meta.get("channel_names")
        if (not isinstance(names, list) or len(names) != config.output_size
                or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names)):
            raise CheckpointError(f"channel_names must be {config.output_size} distinct names")
    contact.validate(config, tensors, meta)
    if config.output_kind == "vertices" and "topology" in meta:
        topology.parse(meta["topology"], config.output_size // 3)
    emotions = _parse_emotions(meta["emotions"], config.emotion_dim)
    return Checkpoint(path, config, tensors, meta, emotions)


def _parse_meta(raw) -> dict:
    if not isinstance(raw, dict) or not isinstance(raw.get("a2f"), str):
        raise CheckpointError("has no a2f metadata; it is not an a2f checkpoint")
    meta = parse_json(raw["a2f"], "a2f metadata", CheckpointError)
    if not isinstance(meta, dict):
        raise CheckpointError("a2f metadata is not a JSON object")
    missing = [k for k in _REQUIRED_META if k not in meta]
    if missing:
        raise CheckpointError(f"metadata lacks {missing}; it is incomplete or not from a2f")
    if meta["format"] != FORMAT:
        raise CheckpointError(f"format is {meta['format']!r}, not {FORMAT!r}")
    version = meta["format_version"]
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"format version {version} is newer than this a2f reads "
                              f"({FORMAT_VERSION}); update a2f")
    if not isinstance(meta["fps"], (int, float)) or not 0 < meta["fps"] <= 1000:
        raise CheckpointError(f"invalid training fps {meta['fps']!r}")
    if not isinstance(meta["config"], dict):
        raise CheckpointError("model config is not a JSON object")
    return meta


def _parse_emotions(raw, dim: int) -> dict:
    if not isinstance(raw, dict) or "neutral" not in raw:
        raise CheckpointError("emotion database must be an object that includes 'neutral'")
    emotions = {}
    for name, entry in raw.items():
        vector = entry.get("vector") if isinstance(entry, dict) else None
        try:  # float64 first: a float32 cast of 1e300 warns on its way to infinity
            v = np.asarray(vector, np.float64)
        except (TypeError, ValueError):
            v = None
        if v is None or v.shape != (dim,) or not (np.abs(v) <= MAX_EMOTION_VALUE).all():
            raise CheckpointError(f"emotion {name!r} must be {dim} finite numbers between "
                                  f"-{MAX_EMOTION_VALUE:g} and {MAX_EMOTION_VALUE:g}")
        emotions[name] = v.astype(np.float32)
    return emotions


def _tensors(header: dict, data: bytes) -> dict:
    """Zero-copy numpy views of each tensor after checking dtype, shape and byte range."""
    spans, arrays = [], {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise CheckpointError(f"tensor {name!r} is {info!r}, not an entry with dtype, shape "
                                  "and data_offsets; the file is corrupt")
        if not isinstance(info.get("dtype"), str) or info["dtype"] not in _DTYPES:
            raise CheckpointError(f"tensor {name!r} has unsupported dtype {info.get('dtype')!r}; "
                                  "only F32 and F16 are allowed")
        shape, offsets = info.get("shape"), info.get("data_offsets")
        if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) for o in offsets)):
            raise CheckpointError(f"tensor {name!r} has an invalid shape or byte range")
        dtype = _DTYPES[info["dtype"]]
        begin, end = offsets
        if not 0 <= begin <= end <= len(data) or end - begin != math.prod(shape) * dtype.itemsize:
            raise CheckpointError(f"tensor {name!r} byte range {offsets} does not fit its shape "
                                  "or the file; the file is truncated or corrupt")
        spans.append((begin, end, name))
        arrays[name] = np.frombuffer(data, dtype, math.prod(shape), begin).reshape(shape)
    spans.sort()
    for (_, end0, a), (begin1, _, b) in zip(spans, spans[1:]):
        if begin1 < end0:
            raise CheckpointError(f"tensors {a!r} and {b!r} overlap; the file is corrupt")
    return arrays
