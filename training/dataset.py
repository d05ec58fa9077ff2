"""The native training dataset: a folder with `dataset.json`, audio files and per-frame targets.

Every importer and `a2f synth` write this layout and the trainer reads only this layout, so the
rules live here once (docs/dataset.md describes them for people):

    DIR/dataset.json          format version, fps, kind, channels or template, provenance, takes
    DIR/template.npy          (V, 3) float32 neutral mesh, vertex datasets only
    DIR/takes/NAME.wav        16 kHz mono audio
    DIR/takes/NAME.npy        (T, C) weights or (T, V, 3) ABSOLUTE vertex positions, float32

Frame i of a take is the face at time i / fps from the start of its audio and
T = ceil(duration * fps); loading tolerates one frame of disagreement. numpy only (no torch).
"""

import json
import math
import re
import wave
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from a2f_core import features
from a2f_core.atomic import atomic_write
from a2f_core.audio import SAMPLE_RATE, load_audio
from a2f_core.errors import A2FError, DatasetError
from a2f_core.limits import parse_json

DATASET_FORMAT_VERSION = 1
KINDS = ("weights", "vertices")
SPLITS = ("train", "val")
TAKES_DIR = "takes"
TEMPLATE_FILE = "template.npy"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

try:  # only for cheap duration checks; load_audio is the fallback
    import soundfile
except ImportError:  # pragma: no cover - soundfile is a project dependency
    soundfile = None


@dataclass
class Take:
    """One recording: its audio, its per-frame face targets and what is known about it.

    meta keys: voice, language, emotion (label or None), phonemes ([start_s, end_s, symbol]
    list or None), synthesiser (or None for real capture), split ('train' | 'val').
    """
    name: str
    audio_path: Path
    targets_path: Path
    meta: dict = field(default_factory=dict)

    def audio(self) -> np.ndarray:
        """(N,) float32 mono samples at 16 kHz."""
        return load_audio(self.audio_path)

    def targets(self) -> np.ndarray:
        """(T, C) weights or (T, V, 3) absolute vertex positions, float32."""
        return np.load(self.targets_path).astype(np.float32, copy=False)


@dataclass
class Dataset:
    """A loaded dataset.json with its takes; `info` is the raw JSON for anything else."""
    root: Path
    fps: float
    kind: str
    channel_names: list | None
    template: np.ndarray | None
    lip_vertices: np.ndarray | None
    takes: list
    info: dict

    def split(self, name: str) -> list:
        """The takes whose meta['split'] is `name` ('train' or 'val')."""
        if name not in SPLITS:
            raise DatasetError(f"unknown split {name!r}; use one of {', '.join(SPLITS)}")
        return [t for t in self.takes if t.meta.get("split", "train") == name]

    def first_minutes(self, minutes: float) -> "Dataset":
        """The shortest prefix of the takes holding `minutes` of audio. `a2f synth` lists takes
        in the order it makes them and stops the same way, so a prefix of its set is the set
        that many minutes of the same seed make."""
        kept, seconds = [], 0.0
        for take in self.takes:
            if seconds >= minutes * 60.0:
                break
            kept.append(take)
            seconds += audio_seconds(take.audio_path)
        if seconds < minutes * 60.0:
            raise DatasetError(f"{self.root} holds {seconds / 60:.1f} minutes of takes, fewer "
                               f"than the {minutes:g} asked for")
        return replace(self, takes=kept)


def write_take(root, name: str, audio_16k: np.ndarray, targets: np.ndarray, meta: dict) -> dict:
    """Write one take's audio and targets under root/takes/ and return its dataset.json entry.

    audio_16k: (N,) float32 at 16 kHz, stored as 16-bit PCM WAV (clipped to [-1, 1]).
    targets: (T, C) or (T, V, 3) with T = ceil(N / 16000 * fps), stored as float32.
    """
    if not _NAME.match(name):
        raise DatasetError(f"take name {name!r} must be letters, digits, '_', '-' or '.'")
    root = Path(root)
    (root / TAKES_DIR).mkdir(parents=True, exist_ok=True)
    audio_rel = f"{TAKES_DIR}/{name}.wav"
    targets_rel = f"{TAKES_DIR}/{name}.npy"
    _write_wav(root / audio_rel, np.clip(np.asarray(audio_16k, np.float32), -1.0, 1.0))
    np.save(root / targets_rel, np.ascontiguousarray(targets, dtype=np.float32))
    return {"name": name, "audio": audio_rel, "targets": targets_rel, "meta": dict(meta)}


def write_dataset_json(root, *, fps: float, kind: str, takes: list, channel_names=None,
                       template=None, lip_vertices=None, provenance=None,
                       extra_info=None) -> Path:
    """Write root/dataset.json (and root/template.npy for vertex data); returns the JSON path.

    takes: entries from `write_take`. provenance: free dict, should hold 'licence' and 'source'.
    extra_info: more top-level keys, e.g. upper_lip_vertices / lower_lip_vertices for `a2f eval`.
    """
    if kind not in KINDS:
        raise DatasetError(f"dataset kind must be one of {KINDS}, not {kind!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    info = {"format_version": DATASET_FORMAT_VERSION, "fps": float(fps), "kind": kind,
            "sample_rate": SAMPLE_RATE, "provenance": dict(provenance or {})}
    if kind == "weights":
        info["channel_names"] = [str(n) for n in channel_names]
    else:
        np.save(root / TEMPLATE_FILE, np.asarray(template, np.float32))
        info["template"] = TEMPLATE_FILE
        info["lip_vertices"] = [int(i) for i in np.asarray(lip_vertices).ravel()]
    info.update(extra_info or {})
    info["takes"] = list(takes)
    path = root / "dataset.json"
    atomic_write(path, lambda f: f.write(json.dumps(info, indent=1).encode()), DatasetError)
    return path


def load_dataset(root, validate: bool = True) -> Dataset:
    """Read root/dataset.json; with validate, check every take's files, shapes, values and length.

    Raises DatasetError naming the file and the problem.
    """
    root = Path(root)
    info = _read_json(root / "dataset.json")
    version = info.get("format_version")
    if version != DATASET_FORMAT_VERSION:
        raise DatasetError(f"{root / 'dataset.json'}: format_version {version!r} is not "
                           f"{DATASET_FORMAT_VERSION}; regenerate or convert the dataset")
    fps = _positive_float(info.get("fps"), root / "dataset.json", "fps")
    kind = info.get("kind")
    if kind not in KINDS:
        raise DatasetError(f"{root / 'dataset.json'}: kind must be one of {KINDS}, not {kind!r}")
    channel_names, template, lip_vertices = None, None, None
    if kind == "weights":
        channel_names = info.get("channel_names")
        if not isinstance(channel_names, list) or not channel_names:
            raise DatasetError(f"{root / 'dataset.json'}: a weights dataset needs a non-empty "
                               "'channel_names' list")
    else:
        template, lip_vertices = _read_template(root, info)
    takes = [_take(root, entry, i) for i, entry in enumerate(info.get("takes") or [])]
    if not takes:
        raise DatasetError(f"{root / 'dataset.json'} lists no takes")
    names = [t.name for t in takes]
    if len(set(names)) != len(names):
        raise DatasetError(f"{root / 'dataset.json'}: take names must be unique")
    dataset = Dataset(root, fps, kind, channel_names, template, lip_vertices, takes, info)
    if validate:
        for take in takes:
            validate_take(dataset, take)
    return dataset


def validate_take(dataset: Dataset, take: Take) -> None:
    """Check one take: files exist, targets finite with the dataset's shape, length matches audio."""
    for path in (take.audio_path, take.targets_path):
        if not path.is_file():
            raise DatasetError(f"take {take.name!r}: missing file {path}")
    try:
        targets = np.load(take.targets_path, mmap_mode="r")
    except (ValueError, OSError) as e:
        raise DatasetError(f"{take.targets_path}: not a readable .npy array ({e})") from None
    expected = ((len(dataset.channel_names),) if dataset.kind == "weights"
                else tuple(dataset.template.shape))
    if targets.ndim != 1 + len(expected) or tuple(targets.shape[1:]) != expected:
        what = "(T, C)" if dataset.kind == "weights" else "(T, V, 3)"
        raise DatasetError(f"{take.targets_path}: shape {targets.shape} is not {what} with "
                           f"{what[4:-1]} = {expected}")
    if not np.issubdtype(targets.dtype, np.floating) or not np.isfinite(targets).all():
        raise DatasetError(f"{take.targets_path}: targets must be finite floats (found NaN, "
                           "infinity or a non-float dtype)")
    seconds = audio_seconds(take.audio_path)
    if abs(seconds * dataset.fps - targets.shape[0]) > 1.0:
        raise DatasetError(f"take {take.name!r}: {targets.shape[0]} frames do not match "
                           f"{seconds:.3f} s of audio at {dataset.fps:g} fps (expected "
                           f"{features.frame_count(seconds, dataset.fps)}); re-export the targets")


def audio_seconds(path: Path) -> float:
    """Duration of an audio file, from its header where possible."""
    if soundfile is not None:
        try:
            info = soundfile.info(str(path))
            return info.frames / info.samplerate
        except (RuntimeError, soundfile.LibsndfileError) as e:
            raise DatasetError(f"{path}: unreadable audio ({str(e).splitlines()[0]})") from None
    return len(load_audio(path)) / SAMPLE_RATE


def frame_count(num_samples: int, fps: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Target frames of a take of num_samples: the core's rule (features.frame_count), at least one."""
    return max(1, features.frame_count(num_samples / sample_rate, fps))


def check_compatible(ckpt, dataset):
    """Refuse a dataset whose outputs do not line up with the checkpoint's."""
    if ckpt.kind != dataset.kind:
        raise A2FError(f"checkpoint outputs {ckpt.kind} but the dataset holds {dataset.kind}")
    if ckpt.kind == "weights" and ckpt.channel_names != dataset.channel_names:
        raise A2FError("checkpoint channel names differ from the dataset's; use data with the "
                       "same channels in the same order")
    if ckpt.kind == "vertices" and ckpt.template.shape != dataset.template.shape:
        raise A2FError(f"checkpoint template has {len(ckpt.template)} vertices, the dataset "
                       f"{len(dataset.template)}")


def _take(root: Path, entry, index: int) -> Take:
    where = f"{root / 'dataset.json'} take #{index}"
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str)
                                              for k in ("name", "audio", "targets")):
        raise DatasetError(f"{where}: needs string fields 'name', 'audio' and 'targets'")
    meta = entry.get("meta") or {}
    if not isinstance(meta, dict):
        raise DatasetError(f"{where}: 'meta' must be an object")
    if meta.get("split", "train") not in SPLITS:
        raise DatasetError(f"{where}: split must be one of {SPLITS}, not {meta.get('split')!r}")
    return Take(entry["name"], _inside(root, entry["audio"], f"take {entry['name']!r}"),
                _inside(root, entry["targets"], f"take {entry['name']!r}"), meta)


def _inside(root: Path, relative: str, who: str) -> Path:
    """root / relative, refused unless it resolves (symlinks followed) inside root: a
    dataset.json from elsewhere must not make training read /etc/passwd."""
    path = root / relative
    if not path.resolve().is_relative_to(root.resolve()):
        raise DatasetError(f"{who}: {relative} leads outside the dataset folder {root} (through "
                           "'..', an absolute path or a symlink); keep take files inside it")
    return path


def _read_template(root: Path, info: dict):
    name = info.get("template")
    if not isinstance(name, str):
        raise DatasetError(f"{root / 'dataset.json'}: a vertices dataset needs a 'template' file")
    path = _inside(root, name, "template")
    try:
        template = np.load(path).astype(np.float32)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: cannot read the template mesh ({e})") from None
    if template.ndim != 2 or template.shape[1] != 3 or not np.isfinite(template).all():
        raise DatasetError(f"{path}: template must be finite (V, 3), got {template.shape}")
    lips = np.asarray(info.get("lip_vertices") or [], dtype=np.int64)
    if lips.ndim != 1 or lips.size == 0 or lips.min() < 0 or lips.max() >= len(template):
        raise DatasetError(f"{root / 'dataset.json'}: 'lip_vertices' must be a non-empty list "
                           f"of vertex indices below {len(template)}")
    return template, lips


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(f"{path} not found; point at a dataset folder made by `a2f synth` "
                           "or an importer")
    info = parse_json(path.read_bytes(), str(path), DatasetError)
    if not isinstance(info, dict):
        raise DatasetError(f"{path}: expected a JSON object at the top level")
    return info


def _positive_float(value, path: Path, key: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if not math.isfinite(x) or x <= 0:
        raise DatasetError(f"{path}: {key} must be a positive number, got {value!r}")
    return x


def _write_wav(path: Path, samples: np.ndarray) -> None:
    """16-bit PCM WAV with the standard library: readable everywhere, even inside Blender."""
    pcm = np.round(samples * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes(pcm.tobytes())
