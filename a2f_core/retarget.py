"""Retargeting: a model's channels -> a rig's targets by a sparse weighted matrix (no bpy).

One preset maps the model's output channels (ARKit for the bundled model) onto the shape keys
(or poses) of a rig: each target is

    target = offset + sum over its sources of gain * channel

optionally clipped to a range, so one channel may drive several targets (`cheekPuff` -> both
cheeks) and several channels one target (a viseme from the ARKit mouth shapes). Presets are small
JSON files:

    {"format": "a2f-retarget", "version": 1,
     "name": "Meta/Oculus visemes", "description": "...",     (description optional)
     "range": [0, 1],                                          (optional: clip every target)
     "targets": {"viseme_PP": {"from": {"mouthClose": 1.9, "jawOpen": -0.4}, "offset": 0.02},
                 "viseme_aa": {"from": {"jawOpen": 1.5}}}}     (offset optional, default 0)

Target and channel names are 1-63 characters (Blender's name length); a preset has at most
4096 targets of at most 256 sources each and numbers are finite with magnitude at most 1000.
Anything else (unknown keys, other types, a file over 1 MiB) is refused with a one-line error.
Shipped presets live in a2f_core/presets/ and are named by their file stem.
"""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .errors import A2FError

FORMAT = "a2f-retarget"
VERSION = 1
PRESETS_DIR = Path(__file__).resolve().parent / "presets"
MAX_BYTES = 1 << 20
MAX_TARGETS = 4096
MAX_SOURCES = 256
MAX_NAME = 63
MAX_VALUE = 1000.0


class PresetError(A2FError):
    """A retarget preset that cannot be read or used."""


@dataclass(frozen=True)
class Preset:
    name: str
    targets: dict          # target -> ({channel: gain}, offset)
    value_range: tuple = None  # (low, high) every target is clipped to, or None
    description: str = ""

    @property
    def channels(self) -> list:
        """Every channel some target reads, in first-use order."""
        return list(dict.fromkeys(c for sources, _ in self.targets.values() for c in sources))

    def apply(self, channel_names, weights: np.ndarray) -> np.ndarray:
        """(T, K) float32 target values, targets in preset order, from (T, C) channel weights.

        A channel the preset reads but the model lacks is an error naming it; the model's other
        channels are ignored.
        """
        column = {c: i for i, c in enumerate(channel_names)}
        missing = [c for c in self.channels if c not in column]
        if missing:
            raise PresetError(f"preset '{self.name}' reads channels the model lacks: "
                              f"{', '.join(missing[:5])}; choose a preset for this model's "
                              f"channels ({', '.join(list(channel_names)[:3])}, ...)")
        weights = np.asarray(weights, np.float32)
        out = np.empty((len(weights), len(self.targets)), np.float32)
        for k, (sources, offset) in enumerate(self.targets.values()):
            value = np.full(len(weights), offset, np.float32)
            for channel, gain in sources.items():
                value += np.float32(gain) * weights[:, column[channel]]
            out[:, k] = value
        if self.value_range is not None:
            np.clip(out, *self.value_range, out=out)
        return out

    def to_json(self) -> dict:
        data = {"format": FORMAT, "version": VERSION, "name": self.name}
        if self.description:
            data["description"] = self.description
        if self.value_range is not None:
            data["range"] = list(self.value_range)
        data["targets"] = {t: ({"from": s, "offset": o} if o else {"from": s})
                           for t, (s, o) in self.targets.items()}
        return data


def identity(mapping: dict, name: str, description: str = "") -> Preset:
    """A preset sending each channel to one target with gain 1: {channel: target}."""
    return Preset(name, {t: ({c: 1.0}, 0.0) for c, t in mapping.items()}, None, description)


def save_preset(preset: Preset, path) -> Path:
    text = json.dumps(preset.to_json(), indent=1) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()), PresetError, "preset ")
    return Path(path)


def shipped_presets() -> dict:
    """{stem: path} of the presets shipped in a2f_core/presets/, by name."""
    return {p.stem: p for p in sorted(PRESETS_DIR.glob("*.json"))}


def resolve(name_or_path) -> Path:
    """A shipped preset's name (e.g. 'oculus_visemes') or a preset file's path."""
    shipped = shipped_presets()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    path = Path(name_or_path)
    if not path.is_file():
        raise PresetError(f"no preset file {path} and no shipped preset of that name; shipped: "
                          f"{', '.join(shipped) or 'none'}")
    return path


def load_preset(name_or_path) -> Preset:
    """Read and validate a preset (shipped name or file); PresetError naming the problem."""
    path = resolve(name_or_path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise PresetError(f"cannot read preset {path}: {e.strerror or e}") from None
    if len(raw) > MAX_BYTES:
        raise PresetError(f"preset {path} is over {MAX_BYTES >> 20} MiB; it is not an a2f preset")
    try:
        return parse_preset(raw)
    except PresetError as e:
        raise PresetError(f"preset {path}: {e}") from None


def parse_preset(raw: bytes) -> Preset:
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant,
                          object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise PresetError(f"is not valid JSON ({str(e)[:80]}); write it as a JSON object") from None
    if not isinstance(data, dict):
        raise PresetError("must be a JSON object")
    _only(data, "preset", {"format", "version", "name", "description", "range", "targets"})
    if data.get("format") != FORMAT:
        raise PresetError(f"format must be {FORMAT!r} (got {str(data.get('format'))[:40]!r})")
    if data.get("version") != VERSION:
        raise PresetError(f"version {str(data.get('version'))[:20]} is not one this a2f reads "
                          f"({VERSION}); update a2f")
    name = _name(data.get("name"), "name")
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise PresetError("description must be a string of at most 2000 characters")
    value_range = data.get("range")
    if value_range is not None:
        if (not isinstance(value_range, list) or len(value_range) != 2
                or not value_range[0] < value_range[1]):
            raise PresetError("range must be [low, high] with low < high")
        value_range = tuple(_number(v, "range") for v in value_range)
    targets = data.get("targets")
    if not isinstance(targets, dict) or not targets:
        raise PresetError("targets must be a non-empty object of target -> {from, offset}")
    if len(targets) > MAX_TARGETS:
        raise PresetError(f"has {len(targets)} targets, more than {MAX_TARGETS}")
    parsed = {}
    for target, spec in targets.items():
        where = f"target {target[:MAX_NAME]!r}"
        _name(target, "a target name")
        if not isinstance(spec, dict):
            raise PresetError(f"{where} must be an object with 'from' (and 'offset')")
        _only(spec, where, {"from", "offset"})
        sources = spec.get("from")
        if not isinstance(sources, dict) or len(sources) > MAX_SOURCES:
            raise PresetError(f"{where}: 'from' must be an object of at most {MAX_SOURCES} "
                              "channel: gain pairs")
        parsed[target] = ({_name(c, f"{where}'s channel name"): _number(g, where)
                           for c, g in sources.items()}, _number(spec.get("offset", 0.0), where))
    return Preset(name, parsed, value_range, description)


def _only(data: dict, where: str, allowed: set):
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise PresetError(f"{where} has unknown keys {unknown[:3]} (allowed: {', '.join(sorted(allowed))})")


def _name(value, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME or not value.isprintable():
        raise PresetError(f"{what} must be 1-{MAX_NAME} printable characters "
                          f"(got {str(value)[:40]!r})")
    return value


def _number(value, where: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or abs(value) > MAX_VALUE):
        raise PresetError(f"{where}: {str(value)[:40]!r} is not a finite number of magnitude at "
                          f"most {MAX_VALUE:g}")
    return float(value)


def _no_constant(name):
    raise PresetError(f"{name} is not a number a preset may hold")


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        repeated = next(k for k in keys if keys.count(k) > 1)
        raise PresetError(f"{repeated[:MAX_NAME]!r} appears twice in one object")
    return dict(pairs)
