"""Phonemes -> visemes -> ARKit-52 weights per frame, with Cohen-Massaro coarticulation.

Each phoneme becomes a viseme gesture: a target pose and a dominance function that is flat over
the gesture's hold and decays exponentially before it (anticipation, lead 50-120 ms) and after it
(carry-over). Every frame blends all targets weighted by their dominance, separately for the jaw
and the lips, so weak consonants (t, k, s) borrow the jaw of neighbouring vowels while bilabials
and rounded vowels win the lips. Bilabial closure is then made exact in ARKit terms: the jaw
rises and mouthClose follows jawOpen by the bilabials' share of the lip blend, so at a /p b m/
the lips meet.
"""

import unicodedata
from dataclasses import dataclass

import numpy as np

from a2f_core.arkit import ARKIT_NAMES
from .speech import SILENCE

CHANNEL = {name: i for i, name in enumerate(ARKIT_NAMES)}
JAW_CHANNELS = ("jawOpen", "jawForward", "mouthLowerDownLeft", "mouthLowerDownRight")


def both(name: str, value: float) -> dict:
    """{'mouthSmileLeft': v, 'mouthSmileRight': v} from 'mouthSmile'."""
    return {f"{name}Left": value, f"{name}Right": value}


@dataclass(frozen=True)
class Viseme:
    """A mouth pose and how strongly it imposes itself on its neighbours (jaw, lips)."""
    pose: dict
    jaw_dominance: float
    lip_dominance: float
    closure: bool = False   # the lips must meet (bilabials)


VISEMES = {
    "sil": Viseme({}, 1.0, 1.0),
    "PP": Viseme({"jawOpen": 0.06, **both("mouthPress", 0.45), "mouthRollLower": 0.15,
                  "mouthRollUpper": 0.1}, 2.0, 5.0, closure=True),
    "FF": Viseme({"jawOpen": 0.1, "mouthRollLower": 0.6, **both("mouthUpperUp", 0.25),
                  "mouthShrugUpper": 0.1}, 1.5, 6.0),
    "TH": Viseme({"jawOpen": 0.16, "tongueOut": 0.25, **both("mouthUpperUp", 0.1)}, 1.0, 2.0),
    "DD": Viseme({"jawOpen": 0.18, **both("mouthStretch", 0.08)}, 0.6, 0.4),
    "kk": Viseme({"jawOpen": 0.22}, 0.5, 0.3),
    "CH": Viseme({"jawOpen": 0.14, "mouthFunnel": 0.45, "mouthPucker": 0.2,
                  **both("mouthUpperUp", 0.15), **both("mouthLowerDown", 0.15)}, 1.0, 3.0),
    "SS": Viseme({"jawOpen": 0.07, **both("mouthStretch", 0.25), **both("mouthSmile", 0.08)},
                 1.2, 1.0),
    "RR": Viseme({"jawOpen": 0.15, "mouthPucker": 0.3, "mouthFunnel": 0.25}, 0.8, 2.0),
    "W": Viseme({"jawOpen": 0.08, "mouthPucker": 0.75, "mouthFunnel": 0.3}, 1.0, 4.0),
    "Y": Viseme({"jawOpen": 0.1, **both("mouthStretch", 0.25)}, 0.8, 1.0),
    "aa": Viseme({"jawOpen": 0.6, **both("mouthLowerDown", 0.3), **both("mouthUpperUp", 0.1)},
                 2.0, 1.0),
    "E": Viseme({"jawOpen": 0.35, **both("mouthStretch", 0.2), **both("mouthLowerDown", 0.15)},
                1.8, 1.0),
    "@": Viseme({"jawOpen": 0.25, **both("mouthLowerDown", 0.08)}, 1.0, 0.6),
    "I": Viseme({"jawOpen": 0.14, **both("mouthStretch", 0.35), **both("mouthSmile", 0.15)},
                1.5, 1.5),
    "O": Viseme({"jawOpen": 0.4, "mouthFunnel": 0.55, "mouthPucker": 0.35}, 1.8, 2.5),
    "U": Viseme({"jawOpen": 0.15, "mouthPucker": 0.7, "mouthFunnel": 0.4}, 1.5, 3.0),
    "Yu": Viseme({"jawOpen": 0.14, "mouthPucker": 0.6, "mouthFunnel": 0.2,
                  **both("mouthStretch", 0.1)}, 1.5, 3.0),
}

# IPA base letters (diacritics and length marks removed) -> viseme.
_IPA = {
    **dict.fromkeys("pbmɱʙ", "PP"), **dict.fromkeys("fvɸβ", "FF"), **dict.fromkeys("θð", "TH"),
    **dict.fromkeys("tdnlɫɾɗʈɖɳɭ", "DD"), **dict.fromkeys("kgŋxɣqɢɡhɦχʔc", "kk"),
    **dict.fromkeys("ʃʒɕʑ", "CH"), **dict.fromkeys("szʂʐ", "SS"), **dict.fromkeys("rɹʁɻʀ", "RR"),
    **dict.fromkeys("wʍɥ", "W"), **dict.fromkeys("jʎɲ", "Y"), **dict.fromkeys("aɑɐæʌɶ", "aa"),
    **dict.fromkeys("eɛɜœ", "E"), **dict.fromkeys("əɘɚɝ", "@"), **dict.fromkeys("iɪɨ", "I"),
    **dict.fromkeys("oɔɒø", "O"), **dict.fromkeys("uʊɯɵ", "U"), **dict.fromkeys("yʏ", "Yu"),
}
# CMU phones (flite) -> one or two visemes (diphthongs glide between two).
_ARPABET = {
    "aa": "aa", "ae": "aa", "ah": "@", "ao": "O", "aw": "aa U", "ax": "@", "ay": "aa I",
    "eh": "E", "er": "RR", "ey": "E I", "ih": "I", "iy": "I", "ow": "O U", "oy": "O I",
    "uh": "U", "uw": "U", "b": "PP", "p": "PP", "m": "PP", "f": "FF", "v": "FF", "th": "TH",
    "dh": "TH", "t": "DD", "d": "DD", "n": "DD", "l": "DD", "dx": "DD", "k": "kk", "g": "kk",
    "ng": "kk", "hh": "kk", "ch": "CH", "jh": "CH", "sh": "CH", "zh": "CH", "s": "SS",
    "z": "SS", "r": "RR", "w": "W", "y": "Y",
}


def phoneme_visemes(symbol: str, alphabet: str) -> list:
    """One phoneme symbol -> its viseme names in time order (diphthongs and affricates give 2)."""
    if symbol == SILENCE:
        return ["sil"]
    if alphabet == "arpabet":
        return _ARPABET.get(symbol, "DD").split()
    letters = [c for c in unicodedata.normalize("NFD", symbol) if c in _IPA]
    names = [_IPA[c] for c in letters]
    merged = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
    return merged[:2] or ["DD"]


def viseme_segments(phonemes: list, alphabet: str) -> list:
    """[start_s, end_s, symbol] -> [start_s, end_s, viseme], splitting glides in equal parts."""
    out = []
    for start, end, symbol in phonemes:
        names = phoneme_visemes(symbol, alphabet)
        edges = np.linspace(start, end, len(names) + 1)
        out.extend([float(a), float(b), n] for a, b, n in zip(edges, edges[1:], names))
    return out


@dataclass
class Coarticulation:
    """Timing of gestures, drawn per take so the model cannot memorise one speaker's habits."""
    lead_seconds: float = 0.08       # anticipation: gesture visible this long before its sound
    carry_seconds: float = 0.045     # carry-over time constant after a gesture's hold
    rest_delay_seconds: float = 0.06  # a pause starts pulling to rest this long after it starts


def articulation(segments: list, times: np.ndarray, timing: Coarticulation,
                 target_scale: np.ndarray | None = None) -> tuple:
    """Blend viseme targets over frame times.

    segments: [start_s, end_s, viseme]; times: (T,) seconds; target_scale: (S, 52) per-segment
    multipliers (take style and per-phoneme jitter) or None.
    Returns (weights (T, 52) float32 without mouthClose, closure (T,) in [0, 1]).
    """
    poses = np.zeros((len(segments), len(ARKIT_NAMES)))
    jaw_alpha, lip_alpha, closes = (np.zeros(len(segments)) for _ in range(3))
    start, end = (np.array([s[i] for s in segments]) for i in (0, 1))
    hold_start, hold_end = start.copy(), end.copy()
    for i, (s, e, name) in enumerate(segments):
        v = VISEMES[name]
        for channel, value in v.pose.items():
            poses[i, CHANNEL[channel]] = value
        jaw_alpha[i], lip_alpha[i], closes[i] = v.jaw_dominance, v.lip_dominance, v.closure
        if name == "sil":  # short pauses barely relax; long ones reach rest ~200 ms in
            long_pause = e - s > 0.25
            hold_start[i] = s + (timing.rest_delay_seconds if long_pause else (e - s) / 2)
            jaw_alpha[i] = lip_alpha[i] = 1.0 if long_pause else 0.15
        elif v.closure or name == "FF":  # lips hold the contact (>= 50 ms) until the release,
            hold_start[i] = s  # from the phoneme's start: the contact silences or muffles the sound
            hold_end[i] = max(e - 0.01, hold_start[i] + 0.05)
        else:  # other targets are points near the middle, reached ahead of the sound
            mid = (s + e) / 2 - 0.4 * timing.lead_seconds
            hold_start[i], hold_end[i] = mid - 0.2 * (e - s), mid + 0.2 * (e - s)
    if target_scale is not None:
        poses = poses * target_scale
    hold_end = np.maximum(hold_end, hold_start)
    shape = _dominance(times, hold_start, hold_end, timing.lead_seconds / 2.5,
                       timing.carry_seconds)
    jaw_w, lip_w = shape * jaw_alpha, shape * lip_alpha
    floor = 1e-4  # a faint pull to the neutral pose where no gesture reaches
    jaw = jaw_w @ poses / (jaw_w.sum(1, keepdims=True) + floor)
    weights = lip_w @ poses / (lip_w.sum(1, keepdims=True) + floor)
    for name in JAW_CHANNELS:
        weights[:, CHANNEL[name]] = jaw[:, CHANNEL[name]]
    # lip contact is all-or-nothing, so it gets its own fast ramps (closing ~lead/4, opening 20 ms)
    contact = _dominance(times, hold_start, hold_end, timing.lead_seconds / 4, 0.02)
    closure = (contact * closes).max(axis=1) if closes.any() else np.zeros(len(times))
    return weights.astype(np.float32), closure.astype(np.float32)


def _dominance(times, hold_start, hold_end, tau_before, tau_after) -> np.ndarray:
    """(T, S) dominance shapes: 1 over each hold, exp(-dt / tau) outside it."""
    t = times[:, None]
    before = np.clip(hold_start[None, :] - t, 0, None) / tau_before
    after = np.clip(t - hold_end[None, :], 0, None) / tau_after
    return np.exp(-(before + after))


LIP_OPENERS = ("mouthFunnel", *both("mouthLowerDown", 0), *both("mouthUpperUp", 0))
JAW_RAISE = 0.6  # at full lip contact the jaw closes this share of the opening it borrowed from
                 # the vowels around it: the jaw rises for p b m, the lips do the rest


def apply_closure(weights: np.ndarray, closure: np.ndarray) -> np.ndarray:
    """Make lips meet where bilabials rule (in place): the jaw rises by JAW_RAISE * closure,
    mouthClose = closure * jawOpen, and the shapes that part the lips (funnel, lower lip down,
    upper lip up) fade by the closure's share."""
    weights[:, CHANNEL["jawOpen"]] *= 1.0 - JAW_RAISE * closure
    weights[:, CHANNEL["mouthClose"]] = closure * weights[:, CHANNEL["jawOpen"]]
    for name in LIP_OPENERS:
        weights[:, CHANNEL[name]] *= 1.0 - closure
    return weights
