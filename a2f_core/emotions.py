"""Choosing the emotion input: named vectors from a checkpoint's database, blended by weight."""

import numpy as np

from .errors import A2FError

MAX_WEIGHT = 10.0  # beyond ten times an emotion's offset the face is no longer a face


def parse_emotion_spec(spec: str) -> dict:
    """'happy=0.8,sad' -> {'happy': 0.8, 'sad': 1.0}. An empty spec means neutral; 'happy='
    (a weight left out after '=') is an error, not 1."""
    weights = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        name, equals, value = part.partition("=")
        name = name.strip()
        try:
            weight = float(value) if equals else 1.0
        except ValueError:
            raise A2FError(f"emotion weight {value!r} for {name!r} is not a number; "
                           "write NAME=WEIGHT, e.g. happy=0.8") from None
        if not name or not abs(weight) <= MAX_WEIGHT:
            raise A2FError(f"invalid emotion entry {part!r}; write NAME=WEIGHT with a weight "
                           f"from -{MAX_WEIGHT:g} to {MAX_WEIGHT:g}, e.g. happy=0.8")
        weights[name] = weights.get(name, 0.0) + weight
    return weights or {"neutral": 1.0}


def blend(database: dict, weights: dict) -> np.ndarray:
    """(E,) vector: neutral plus each named emotion's offset from neutral, times its weight.

    So {'happy': 0.5} lies half-way from neutral to happy, {'happy': 0.7, 'sad': 0.3} mixes the
    two, and weights above 1 exaggerate. Weights are not renormalised.
    """
    unknown = [name for name in weights if name not in database]
    if unknown:
        raise A2FError(f"unknown emotion {unknown[0]!r}; this checkpoint has: "
                       f"{', '.join(sorted(database))}")
    neutral = np.asarray(database["neutral"], np.float32)
    vector = neutral.copy()
    for name, weight in weights.items():
        vector += np.float32(weight) * (np.asarray(database[name], np.float32) - neutral)
    return vector
