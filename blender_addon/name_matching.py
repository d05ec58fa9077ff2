"""Match a model's output channel names to a mesh's shape-key names (no bpy, unit-tested).

Rigs rarely spell ARKit names exactly: `A_jawOpen`, `Mouth.jaw_open`, `mouthSmile_L`,
`EyeBlink.L`, `L_eyeBlink`. Names are compared by a key that ignores case and separators and
spells sides out (`L`/`R` -> left/right, a leading side moves to the end). A shape key may also
carry a namespace prefix (`A_`, `Mouth.`, `blendShape1.`): after the whole name, each suffix that
starts at a separator is tried, so the closest (least stripped) spelling wins.
"""

import re

_SEPARATORS = re.compile(r"[._:|\-\s]+")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SIDES = {"l": "left", "r": "right", "left": "left", "right": "right"}


def name_key(name: str) -> str:
    """Comparison key: 'mouthSmile_L' -> 'mouthsmileleft', 'L.eye_blink' -> 'eyeblinkleft'."""
    words = [w.lower() for w in _WORDS.findall(name)]
    words = [_SIDES.get(w, w) for w in words]
    if len(words) > 1 and words[0] in ("left", "right"):
        words = words[1:] + words[:1]
    return "".join(words)


def _candidate_keys(shape_key: str) -> list:
    """Keys for the whole name, then with 1, 2, ... leading separator-delimited segments removed.

    A trailing side segment ('_L') is never tried on its own, nor is an empty remainder; a key
    that is only a side letter ('L', Papagayo's mouth shape) is still its own whole name.
    """
    segments = [s for s in _SEPARATORS.split(shape_key) if s]
    keys = []
    for drop in range(len(segments)):
        rest = segments[drop:]
        if drop and len(rest) == 1 and rest[0].lower() in _SIDES:
            break
        keys.append(name_key("_".join(rest)))
    return keys


def match_channels(channels, shape_keys, overrides=None):
    """Map each channel to a shape key.

    channels: the model's channel names; shape_keys: the mesh's key names (the basis excluded);
    overrides: channel -> shape key name from the user's mapping list, taking precedence; an
    empty name there means "leave this channel out".
    Returns (mapping channel -> shape key, unmatched channels in model order). Each shape key
    drives at most one channel: the best (least prefix-stripped, then earliest) claim wins.
    """
    overrides = dict(overrides or {})
    existing = set(shape_keys)
    mapping = {c: k for c, k in overrides.items() if c in channels and k in existing}
    taken = set(mapping.values())
    wanted = {}  # key -> the first channel spelling it
    for c in channels:
        if c not in overrides:
            wanted.setdefault(name_key(c), c)
    claims = []  # (strip depth, key order, channel, shape key)
    for order, key in enumerate(shape_keys):
        if key in taken:
            continue
        for depth, candidate in enumerate(_candidate_keys(key)):
            if candidate in wanted:
                claims.append((depth, order, wanted[candidate], key))
                break
    for _, _, channel, key in sorted(claims):
        if channel not in mapping and key not in taken:
            mapping[channel] = key
            taken.add(key)
    unmatched = [c for c in channels if c not in mapping]
    return mapping, unmatched
