"""The ranges a2f accepts for numbers and JSON it is given, in one place: the command line, the
batch script and the add-on all check frame rates, sample rates and JSON nesting here, so a value
refused by one is refused by all, with the same words."""

import json
import math
import re

import numpy as np

from .errors import A2FError

MIN_FPS, MAX_FPS = 1.0, 1000.0           # video frame rates a bake or an export may use
MIN_RATE, MAX_RATE = 1000, 768000        # beyond these a "sample rate" is a corrupt header
MAX_JSON_DEPTH = 64                      # a2f's own files nest 4 deep; deeper is not ours


def check_fps(fps, what: str = "fps") -> float:
    """fps as a float, or A2FError naming `what` (e.g. '--fps') and the accepted range."""
    try:
        value = float(fps)
    except (TypeError, ValueError):
        value = math.nan
    if not MIN_FPS <= value <= MAX_FPS:  # also false for NaN
        raise A2FError(f"{what} must be a number from {MIN_FPS:g} to {MAX_FPS:g}, got {fps!r}")
    return value


def check_sample_rate(rate, source: str, error=A2FError) -> float:
    """rate as a float, or `error` saying the header of `source` is implausible."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise error(f"{source}: sample rate must be a number, got {rate!r}") from None
    if not MIN_RATE <= value <= MAX_RATE:
        raise error(f"{source}: sample rate {value:.10g} Hz is outside {MIN_RATE}..{MAX_RATE} Hz; "
                    "resample the audio")
    return value


def parse_json(text, what: str, error=A2FError):
    """json.loads(text), refusing invalid JSON and nesting deeper than MAX_JSON_DEPTH with one
    `error` naming `what`, before Python's recursion limit turns either into a traceback."""
    if _depth(text) > MAX_JSON_DEPTH:
        raise error(f"{what} nests deeper than {MAX_JSON_DEPTH} levels; it is corrupt or "
                    "not from a2f")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise error(f"{what} is not valid JSON ({str(e)[:80]})") from None


def _depth(text) -> int:
    """The deepest bracket nesting of JSON text, brackets inside strings left out; vectorised,
    so a 16 MB header costs a fraction of a second."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).encode()
    if not brackets:
        return 0
    steps = np.frombuffer(brackets, np.uint8)
    return int(np.cumsum(np.where((steps == ord("[")) | (steps == ord("{")), 1, -1)).max())


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
