"""Strength and smoothing of the network's own output per face region, as Audio2Face's
post-processing offers: upper face (eyes, brows, cheek squint, sneer), lips (the channels that
shape and close the lips) and the rest of the lower face (jaw, smile, frown, stretch, ...)."""

from dataclasses import dataclass

import numpy as np

from .filters import zero_phase

LIPS = ("mouthClose", "mouthFunnel", "mouthPucker", "mouthRollLower", "mouthRollUpper",
        "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft", "mouthPressRight",
        "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight")
REGIONS = ("upper", "lower", "lips")


def region_of(name: str) -> str:
    """'upper', 'lips' or 'lower' for an ARKit channel name."""
    if name.startswith(("eye", "brow", "cheekSquint", "noseSneer")):
        return "upper"
    return "lips" if name in LIPS else "lower"


@dataclass
class RegionSettings:
    """Per region: strength multiplies the network's weights, smoothing_ms is the time constant
    of a zero-phase low pass over them (0: none). The defaults change nothing."""

    upper_strength: float = 1.0
    lower_strength: float = 1.0
    lips_strength: float = 1.0
    upper_smoothing_ms: float = 0.0
    lower_smoothing_ms: float = 0.0
    lips_smoothing_ms: float = 0.0

    def is_identity(self) -> bool:
        return all(getattr(self, f"{r}_strength") == 1.0 and getattr(self, f"{r}_smoothing_ms") == 0
                   for r in REGIONS)


def shape_regions(weights: np.ndarray, names, fps: float, settings: RegionSettings) -> np.ndarray:
    """(T, C) network weights with each region's smoothing, then strength, applied."""
    if settings.is_identity():
        return weights
    out = np.array(weights, np.float32)
    regions = np.array([region_of(n) for n in names])
    for region in REGIONS:
        columns = np.flatnonzero(regions == region)
        seconds = getattr(settings, f"{region}_smoothing_ms") / 1000.0
        strength = getattr(settings, f"{region}_strength")
        if columns.size and (seconds > 0 or strength != 1.0):
            out[:, columns] = strength * zero_phase(out[:, columns], seconds, fps)
    return out
