"""The liveliness layer as a whole: settings, the emotion's say in it, and how its channels
join the network's output.

Joining never fights the network: every added channel is a screen blend,
1 - (1 - network) (1 - added), which adds the most where the network is silent and never
passes 1; brow raises shrink where the network frowns (browDown), eyeWide closes with the lids,
and no mouth, jaw or cheek channel is touched. Each layer draws from its own random stream of
the seed, so switching one layer off leaves the others as they were.
"""

from dataclasses import dataclass

import numpy as np

from ..arkit import ROTATION_NAMES
from ..audio import SAMPLE_RATE
from . import blinks, gaze, head, prosody as prosody_module
from .blinks import RATE_PER_MINUTE

EYE_LOOK_DEGREES = (30.0, 25.0)  # yaw, pitch at which an eyeLook channel reaches 1


@dataclass
class LifeSettings:
    """The user's controls. Strengths scale each layer's motion (0 is the same as off)."""

    blinks: bool = True
    blink_strength: float = 1.0
    blink_rate: float = RATE_PER_MINUTE  # per minute, before the emotion's effect
    gaze: bool = True
    gaze_strength: float = 1.0
    gaze_target: tuple = (0.0, 0.0)  # degrees yaw (positive: the subject's left), pitch (down)
    brows: bool = True
    brow_strength: float = 1.0
    head: bool = True
    head_strength: float = 1.0
    seed: int = 0

    @property
    def any(self) -> bool:
        return self.blinks or self.gaze or self.brows or self.head


@dataclass(frozen=True)
class Mood:
    """How much of each emotion the layer reacts to (0 = none); other emotions leave it as is."""

    happy: float = 0.0
    sad: float = 0.0
    angry: float = 0.0
    surprised: float = 0.0

    @classmethod
    def from_weights(cls, weights: dict) -> "Mood":
        """From emotion name -> weight (as `a2f infer --emotion` gives), each clipped to 0..1.5."""
        return cls(**{name: float(np.clip(weights.get(name, 0.0), 0.0, 1.5))
                      for name in ("happy", "sad", "angry", "surprised")})

    @property
    def blink_rate(self) -> float:   # surprise stares, anger glares
        return (1 - 0.5 * min(self.surprised, 1)) * (1 - 0.2 * min(self.angry, 1))

    @property
    def blink_slowness(self) -> float:  # sadness blinks slowly
        return 1 + 0.4 * self.sad

    @property
    def head(self) -> float:
        return max(1 + 0.3 * self.happy + 0.3 * self.angry + 0.2 * self.surprised - 0.4 * self.sad,
                   0.2)

    @property
    def brows(self) -> float:
        return max(1 + 0.3 * self.surprised - 0.5 * self.angry, 0.2)


@dataclass
class Life:
    """What the layer adds, per video frame."""

    channels: dict     # ARKit name -> (T,) weight to screen-blend onto the network's output
    rotations: np.ndarray  # (T, 9) radians, columns arkit.ROTATION_NAMES
    blink: np.ndarray  # (T, 2) lid closure (left, right): eyeWide closes with it


def make_life(p: prosody_module.Prosody, duration: float, seconds: np.ndarray,
              settings: LifeSettings, mood: Mood = Mood()) -> Life:
    """The layer at the given times (seconds of the audio, sorted) for a clip of `duration`."""
    stream = lambda k: np.random.default_rng([settings.seed, k])  # noqa: E731
    n = len(seconds)
    channels, rotations, lids = {}, np.zeros((n, 9), np.float32), np.zeros((n, 2), np.float32)
    if settings.blinks and settings.blink_strength > 0:
        boundaries = p.pause_onsets / prosody_module.RATE
        events = blinks.sample_blinks(duration, boundaries, stream(1),
                                      settings.blink_rate * mood.blink_rate, mood.blink_slowness)
        lids = np.clip(events.curves(seconds) * settings.blink_strength, 0, 1)
        lower = 0.15 * mood.sad * settings.blink_strength  # sad lids hang lower
        channels["eyeBlinkLeft"] = lower + (1 - lower) * lids[:, 0]
        channels["eyeBlinkRight"] = lower + (1 - lower) * lids[:, 1]
        if mood.surprised:
            wide = np.full(n, 0.3 * mood.surprised * settings.blink_strength, np.float32)
            channels["eyeWideLeft"], channels["eyeWideRight"] = wide, wide
    if settings.gaze and settings.gaze_strength > 0:
        yaw, pitch = settings.gaze_target
        saccades = gaze.sample_gaze(duration, stream(2), (yaw, pitch + 4.0 * mood.sad),
                                    settings.gaze_strength)
        angles = saccades.angles(seconds)
        channels.update(_eye_look(angles))
        rotations[:, [3, 4]] = rotations[:, [6, 7]] = np.radians(angles)
    if settings.brows and settings.brow_strength > 0:
        raise_ = p.at(head.brow_raise(p), seconds) * settings.brow_strength * mood.brows
        channels["browInnerUp"] = raise_
        channels["browOuterUpLeft"] = channels["browOuterUpRight"] = 0.8 * raise_
    if settings.head and settings.head_strength > 0:
        degrees = head.head_degrees(p, stream(4), nod=settings.head_strength * mood.head,
                                    drift=settings.head_strength * mood.head)
        rotations[:, :3] = np.radians(np.stack([p.at(degrees[:, i], seconds) for i in range(3)],
                                               axis=1))
    return Life({k: np.clip(np.asarray(v, np.float32), 0, 1) for k, v in channels.items()},
                rotations, lids)


def add_life(weights: np.ndarray, names, life: Life) -> np.ndarray:
    """(T, C) network weights with the layer's channels joined (see the module docstring)."""
    out = np.array(weights, np.float32)
    column = {name: i for i, name in enumerate(names)}
    net = lambda name: np.clip(out[:, column[name]], 0, 1) if name in column else 0.0  # noqa: E731
    for name, added in life.channels.items():
        if name not in column:
            continue
        if name.startswith("browOuterUp"):
            added = added * (1 - net("browDown" + name[len("browOuterUp"):]))
        elif name == "browInnerUp":
            added = added * (1 - 0.5 * (net("browDownLeft") + net("browDownRight")))
        out[:, column[name]] = 1 - (1 - net(name)) * (1 - added)
    for side, i in (("Left", 0), ("Right", 1)):
        if f"eyeWide{side}" in column:
            out[:, column[f"eyeWide{side}"]] *= 1 - life.blink[:, i]
    return out


def _eye_look(degrees: np.ndarray) -> dict:
    """eyeLook* weights of both eyes from gaze (T, 2) yaw (positive: the subject's left),
    pitch (positive: down). Looking left turns the left eye out and the right eye in."""
    yaw, pitch = (degrees / np.asarray(EYE_LOOK_DEGREES)).T
    left, right, down, up = (np.clip(v, 0, 1) for v in (yaw, -yaw, pitch, -pitch))
    return {"eyeLookOutLeft": left, "eyeLookInLeft": right, "eyeLookInRight": left,
            "eyeLookOutRight": right, "eyeLookDownLeft": down, "eyeLookDownRight": down,
            "eyeLookUpLeft": up, "eyeLookUpRight": up}



def liven(samples, weights, names, fps: float, start_seconds: float, settings: LifeSettings,
          mood: Mood = Mood()):
    """The layer on a clip's (T, C) weights: (weights with it, (T, 9) rotations in radians).

    samples: the whole clip, (N,) 16 kHz or an `AudioFile`; frame i is at start + i / fps.
    names: the weights' ARKit channel names, or None for a vertex model (rotations only).
    """
    n = len(weights)
    if not settings.any:
        return weights, np.zeros((n, len(ROTATION_NAMES)), np.float32)
    p = prosody_module.analyse(samples)
    life = make_life(p, len(samples) / SAMPLE_RATE, start_seconds + np.arange(n) / fps,
                     settings, mood)
    return (weights if names is None else add_life(weights, names, life)), life.rotations
