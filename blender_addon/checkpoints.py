"""Which checkpoint a bake uses, loaded once and cached by file identity.

An empty checkpoint field means the model bundled with the add-on. The panel's emotion menus
read the cache on every redraw, so they must never raise: they get an empty list instead.
"""

import os
from pathlib import Path

import bpy

from . import core
from .core import A2FError

_cache = {}  # path -> ((mtime_ns, size), Checkpoint)


def resolve(path_setting: str) -> Path:
    """The checkpoint file a panel/CLI value names ('' = bundled default)."""
    if not path_setting:
        if not core.models.DEFAULT_WEIGHTS.is_file():
            raise A2FError("no bundled default model in this build of the add-on; "
                           "choose a checkpoint file (.safetensors) in the a2f panel")
        return core.models.DEFAULT_WEIGHTS
    return Path(bpy.path.abspath(path_setting))


def load(path_setting: str):
    """The Checkpoint (cached until the file changes); A2FError naming the problem otherwise."""
    path = resolve(path_setting)
    try:
        stat = os.stat(path)
    except OSError:
        raise A2FError(f"checkpoint {path} does not exist; choose another file") from None
    identity = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(str(path))
    if cached is None or cached[0] != identity:
        cached = _cache[str(path)] = (identity, core.checkpoint.load_checkpoint(path))
    return cached[1]


def has_lip_contact(path_setting: str) -> bool:
    """Whether the checkpoint has a lip contact head; False while it cannot be loaded."""
    try:
        return core.contact.WEIGHT in load(path_setting).tensors
    except A2FError:
        return False


def emotion_names(path_setting: str) -> list:
    """The checkpoint's emotion names, 'neutral' first; [] while it cannot be loaded."""
    try:
        names = load(path_setting).emotions
    except A2FError:
        return []
    return ["neutral"] + sorted(n for n in names if n != "neutral")
