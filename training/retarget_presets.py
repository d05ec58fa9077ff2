"""`python -m training.retarget_presets`: write the retarget presets shipped in a2f_core/presets/.

Name presets (ARKit, Perfect Sync, CC4 Extended, ICT FaceKit) are tables. Viseme presets (Meta/
Oculus 15 visemes, Rhubarb/Preston Blair mouth shapes, Papagayo/Moho phonemes, VRM's five
vowels) are a projection of the
ARKit weights fitted by least squares on teacher data: random viseme sequences of every emotion
animated by the synthetic teacher (training/synth), each frame labelled with the viseme its
phoneme belongs to, blended like the teacher blends its lips. Each viseme target is
offset + gains . (ARKit mouth and jaw channels), fitted with a small ridge, small gains dropped
and the rest refitted, clipped to 0..1; so a bilabial, where the teacher shuts the lips
(mouthClose up, jaw and lip openers down), lights the rig's closed shape (viseme_PP, A) and
leaves the open ones dark. `--check` prints how often that holds on fresh teacher data.
"""

import argparse
import sys

import numpy as np

from a2f_core.arkit import ARKIT_NAMES, pascal_case
from a2f_core.retarget import PRESETS_DIR, Preset, identity, save_preset
from training.synth.emotion_style import EMOTIONS, apply_style, strength_curve
from training.synth.teacher import TeacherStyle
from training.synth.visemes import VISEMES, _dominance, apply_closure, articulation

FPS = 30.0
RIDGE = 1e-2        # relative to the mean diagonal of the normal equations
MIN_GAIN = 0.05     # gains below this are dropped before the refit
SOURCES = [n for n in ARKIT_NAMES if n.startswith(("jaw", "mouth", "tongue", "cheekPuff"))]
# left and right share one gain, so a fitted preset is as symmetric as the teacher
GROUPS = [[n] + ([n[:-4] + "Right"] if n.endswith("Left") else [])
          for n in SOURCES if not n.endswith("Right")]

# teacher viseme -> {rig target: activation}; unlisted visemes leave every target at 0
OCULUS = {"sil": {"sil": 1}, "PP": {"PP": 1}, "FF": {"FF": 1}, "TH": {"TH": 1},
          "DD": {"DD": 0.6, "nn": 0.4}, "kk": {"kk": 1}, "CH": {"CH": 1}, "SS": {"SS": 1},
          "RR": {"RR": 1}, "W": {"U": 1}, "Y": {"I": 1}, "aa": {"aa": 1}, "E": {"E": 1},
          "@": {"aa": 0.5, "E": 0.5}, "I": {"I": 1}, "O": {"O": 1}, "U": {"U": 1}, "Yu": {"U": 1}}
OCULUS_NAMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")
# Rhubarb's shapes: A closed (M B P), B clenched (K S T, EE), C open (EH), D wide (AA), E rounded
# (AO, ER), F puckered (UW, OW, W), G F/V, H L, X rest
PRESTON_BLAIR = {"sil": {"X": 1}, "PP": {"A": 1}, "FF": {"G": 1}, "TH": {"B": 1},
                 "DD": {"B": 0.6, "H": 0.4}, "kk": {"B": 1}, "CH": {"B": 0.5, "F": 0.5},
                 "SS": {"B": 1}, "RR": {"E": 1}, "W": {"F": 1}, "Y": {"B": 1}, "aa": {"D": 1},
                 "E": {"C": 1}, "@": {"C": 1}, "I": {"B": 1}, "O": {"E": 0.5, "F": 0.5},
                 "U": {"F": 1}, "Yu": {"F": 1}}
# Papagayo / Moho's Preston Blair phoneme set: AI, E, O, U, etc (C D G K N R S Th Y Z), L, WQ,
# MBP, FV, rest
PAPAGAYO = {"sil": {"rest": 1}, "PP": {"MBP": 1}, "FF": {"FV": 1}, "TH": {"etc": 1},
            "DD": {"etc": 0.6, "L": 0.4}, "kk": {"etc": 1}, "CH": {"etc": 1}, "SS": {"etc": 1},
            "RR": {"etc": 1}, "W": {"WQ": 1}, "Y": {"etc": 1}, "aa": {"AI": 1}, "E": {"E": 1},
            "@": {"AI": 0.5, "E": 0.5}, "I": {"E": 1}, "O": {"O": 1}, "U": {"U": 1},
            "Yu": {"U": 1}}
VRM_VOWELS = {"aa": {"A": 1}, "@": {"A": 0.5, "E": 0.5}, "E": {"E": 1}, "I": {"I": 1},
              "Y": {"I": 0.5}, "O": {"O": 1}, "U": {"U": 1}, "W": {"U": 0.7},
              "Yu": {"U": 0.7, "I": 0.3}, "RR": {"U": 0.4, "O": 0.2}, "CH": {"U": 0.4, "I": 0.2},
              "DD": {"E": 0.2, "I": 0.2}, "kk": {"A": 0.3, "E": 0.2}, "SS": {"I": 0.4},
              "TH": {"E": 0.3}}

# Character Creator 4's Extended facial profile (CC_Base_Body): ARKit channel -> its keys
_CC4_SIDES = {
    "eyeBlink": "Eye_Blink", "eyeSquint": "Eye_Squint", "eyeWide": "Eye_Wide",
    "mouthSmile": "Mouth_Smile", "mouthFrown": "Mouth_Frown", "mouthDimple": "Mouth_Dimple",
    "mouthStretch": "Mouth_Stretch", "mouthPress": "Mouth_Press", "mouthLowerDown": "Mouth_Down_Lower",
    "mouthUpperUp": "Mouth_Up_Upper", "browDown": "Brow_Drop", "browOuterUp": "Brow_Raise_Outer",
    "cheekSquint": "Cheek_Raise", "noseSneer": "Nose_Sneer"}
_CC4_LOOK = {"eyeLookDown": "Look_Down", "eyeLookUp": "Look_Up"}
CC4 = {
    **{f"{a}{side}": [f"{b}_{side[0]}"] for a, b in _CC4_SIDES.items() for side in ("Left", "Right")},
    **{f"{a}{side}": [f"Eye_{side[0]}_{b}"] for a, b in _CC4_LOOK.items() for side in ("Left", "Right")},
    "eyeLookInLeft": ["Eye_L_Look_R"], "eyeLookOutLeft": ["Eye_L_Look_L"],
    "eyeLookInRight": ["Eye_R_Look_L"], "eyeLookOutRight": ["Eye_R_Look_R"],
    "jawForward": ["Jaw_Forward"], "jawLeft": ["Jaw_L"], "jawRight": ["Jaw_R"], "jawOpen": ["Jaw_Open"],
    "mouthClose": ["Mouth_Close"], "mouthLeft": ["Mouth_L"], "mouthRight": ["Mouth_R"],
    "mouthFunnel": ["Mouth_Funnel_Up_L", "Mouth_Funnel_Up_R", "Mouth_Funnel_Down_L", "Mouth_Funnel_Down_R"],
    "mouthPucker": ["Mouth_Pucker_Up_L", "Mouth_Pucker_Up_R", "Mouth_Pucker_Down_L", "Mouth_Pucker_Down_R"],
    "mouthRollLower": ["Mouth_Roll_In_Lower_L", "Mouth_Roll_In_Lower_R"],
    "mouthRollUpper": ["Mouth_Roll_In_Upper_L", "Mouth_Roll_In_Upper_R"],
    "mouthShrugLower": ["Mouth_Shrug_Lower"], "mouthShrugUpper": ["Mouth_Shrug_Upper"],
    "browInnerUp": ["Brow_Raise_Inner_L", "Brow_Raise_Inner_R"],
    "cheekPuff": ["Cheek_Puff_L", "Cheek_Puff_R"], "tongueOut": ["Tongue_Out"]}
# ICT FaceKit: ARKit names with sides as _L/_R; browInnerUp and cheekPuff split per side
_ICT_SPLIT = ("browInnerUp", "cheekPuff")


def ict_targets() -> dict:
    out = {}
    for name in ARKIT_NAMES:
        if name in _ICT_SPLIT:
            out[name] = [f"{name}_L", f"{name}_R"]
        elif name.endswith(("Left", "Right")):
            side = "_L" if name.endswith("Left") else "_R"
            out[name] = [name[:-4 if side == "_L" else -5] + side]
        elif name != "tongueOut":
            out[name] = [name]
    return out


def fanout(table: dict, name: str, description: str) -> Preset:
    """Each channel to one or more targets with gain 1."""
    return Preset(name, {t: ({c: 1.0}, 0.0) for c, targets in table.items() for t in targets},
                  None, description)


def teacher_frames(takes: int, seed: int):
    """(T, 52) teacher weights and (T, V) lip-blended one-hot visemes over random sequences."""
    rng = np.random.default_rng(seed)
    names = list(VISEMES)
    speech = [n for n in names if n != "sil"]
    xs, ys = [], []
    for _ in range(takes):
        emotion = str(rng.choice(EMOTIONS))
        style = TeacherStyle.draw(emotion, rng)
        t, segments = 0.0, []
        for _ in range(int(rng.integers(10, 30))):
            pause = rng.random() < 0.12
            duration = rng.uniform(0.1, 0.6) if pause else rng.uniform(0.05, 0.2)
            segments.append([t, t + duration, "sil" if pause else str(rng.choice(speech))])
            t += duration
        segments = [[-0.3, 0.0, "sil"], *segments, [t, t + 0.4, "sil"]]
        times = np.arange(int((t + 0.4) * FPS)) / FPS
        scale = style.target_gain * rng.uniform(1 - style.jitter, 1 + style.jitter,
                                                (len(segments), 1)).astype(np.float32)
        weights, closure = articulation(segments, times, style.timing, scale)
        weights = apply_style(weights, emotion, strength_curve(len(times), FPS, style.strength, rng))
        xs.append(apply_closure(np.clip(weights, 0, 1), closure))
        ys.append(_lip_blend(segments, times, style.timing, names))
    return np.concatenate(xs), np.concatenate(ys), names


def _lip_blend(segments, times, timing, names) -> np.ndarray:
    """(T, V) one-hot visemes blended by the teacher's lip dominance (hold at each segment's
    middle, its lead and carry-over), normalised per frame."""
    start, end = (np.array([s[i] for s in segments]) for i in (0, 1))
    middle = (start + end) / 2 - 0.4 * timing.lead_seconds
    shape = _dominance(times, middle - 0.2 * (end - start), middle + 0.2 * (end - start),
                       timing.lead_seconds / 2.5, timing.carry_seconds)
    lips = shape * np.array([VISEMES[s[2]].lip_dominance for s in segments])
    onehot = np.zeros((len(segments), len(names)))
    onehot[np.arange(len(segments)), [names.index(s[2]) for s in segments]] = 1
    return lips @ onehot / (lips.sum(1, keepdims=True) + 1e-4)


def fit(x, visemes, names, table, targets, prefix, name, description) -> Preset:
    """Least-squares projection of the ARKit source channels onto the rig's targets."""
    activation = np.zeros((len(visemes), len(targets)))
    for v, row in table.items():
        for target, weight in row.items():
            activation[:, targets.index(target)] += weight * visemes[:, names.index(v)]
    features = np.stack([x[:, [ARKIT_NAMES.index(n) for n in g]].sum(1) for g in GROUPS], 1)
    fitted = {}
    for k, target in enumerate(targets):
        keep = list(range(len(GROUPS)))
        while True:  # fit, drop small gains, refit on what is left until none is small
            gains, offset = _ridge(features[:, keep], activation[:, k])
            kept = [i for i, g in zip(keep, gains) if abs(g) >= MIN_GAIN]
            if kept == keep:
                break
            keep = kept
        fitted[prefix + target] = ({n: round(float(g), 4) for i, g in zip(keep, gains)
                                    for n in GROUPS[i]}, round(float(offset), 4))
    return Preset(name, fitted, (0.0, 1.0), description)


def _ridge(x, y):
    a = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    normal = a.T @ a
    penalty = RIDGE * np.trace(normal) / len(normal) * np.eye(len(normal))
    penalty[-1, -1] = 0.0  # the offset is not shrunk
    solution = np.linalg.solve(normal + penalty, a.T @ y)
    return solution[:-1], solution[-1]


def build(takes: int = 600, seed: int = 0) -> dict:
    """{file stem: Preset} of every shipped preset."""
    x, visemes, names = teacher_frames(takes, seed)
    arkit = {n: n for n in ARKIT_NAMES}
    source = (f"fitted by least squares on {takes} random viseme sequences of the synthetic "
              f"teacher, every emotion (training/retarget_presets.py, seed {seed})")
    vrm = fit(x, visemes, names, VRM_VOWELS, list("AIUEO"), "Fcl_MTH_", "VRM five vowels (VRoid)",
              "VRoid's Fcl_MTH_A/I/U/E/O mouth keys " + source + "; eyeBlink drives Fcl_EYE_Close_L/R")
    vrm.targets.update({"Fcl_EYE_Close_L": ({"eyeBlinkLeft": 1.0}, 0.0),
                        "Fcl_EYE_Close_R": ({"eyeBlinkRight": 1.0}, 0.0)})
    return {
        "arkit": identity(arkit, "ARKit", "The 52 ARKit blendshapes, one to one"),
        "vrm_perfect_sync": identity({n: pascal_case(n) for n in ARKIT_NAMES}, "VRM Perfect Sync",
                                     "VRoid/VRM Perfect Sync: the ARKit names in PascalCase (JawOpen)"),
        "cc4_extended": fanout(CC4, "Character Creator 4 Extended",
                               "CC4/iClone Extended facial profile keys (Jaw_Open, Mouth_Smile_L, ...); "
                               "funnel, pucker, roll, inner brow and cheek puff drive each of their parts"),
        "ict_facekit": fanout(ict_targets(), "ICT FaceKit",
                              "ICT FaceKit keys: ARKit names with _L/_R sides, browInnerUp and cheekPuff per side"),
        "oculus_visemes": fit(x, visemes, names, OCULUS, list(OCULUS_NAMES), "viseme_",
                              "Meta/Oculus visemes", "The 15 Oculus/Meta visemes (viseme_sil, "
                              "viseme_PP, ...) of Ready Player Me and OVR Lip Sync, " + source),
        "preston_blair": fit(x, visemes, names, PRESTON_BLAIR, list("ABCDEFGHX"), "",
                             "Rhubarb / Preston Blair", "Rhubarb Lip Sync's mouth shapes A-H and X "
                             "(A closed for M B P, X at rest), " + source),
        "papagayo": fit(x, visemes, names, PAPAGAYO, ["AI", "E", "O", "U", "etc", "L", "WQ", "MBP",
                                                     "FV", "rest"], "", "Papagayo / Moho phonemes",
                        "Papagayo's and Moho's Preston Blair phoneme set (AI, E, O, U, etc, L, WQ, "
                        "MBP, FV, rest), " + source),
        "vrm_vowels": vrm,
    }


CLOSED_SHAPES = {"oculus_visemes": ("viseme_PP", "viseme_sil"), "preston_blair": ("A", "X"),
                 "papagayo": ("MBP", "rest")}
VOWELS_OPEN = 0.15  # VRM vowels: the mouth counts as closed while every vowel is below this


def rig_lips_closed(stem: str, preset: Preset, weights: np.ndarray) -> np.ndarray:
    """(T,) bool: whether the rig's mouth is closed on these (T, 52) ARKit frames: its strongest
    shape is a closed one (the bilabial or rest viseme), or for VRM's vowels every vowel is
    below VOWELS_OPEN."""
    values = preset.apply(ARKIT_NAMES, weights)
    targets = list(preset.targets)
    if stem in CLOSED_SHAPES:
        return np.isin(values.argmax(1), [targets.index(t) for t in CLOSED_SHAPES[stem]])
    vowels = [targets.index(f"Fcl_MTH_{v}") for v in "AIUEO"]
    return values[:, vowels].max(1) < VOWELS_OPEN


def closure_check(presets: dict, takes: int = 200, seed: int = 99) -> dict:
    """On fresh teacher data: how often the rig's lips are closed where the teacher's meet
    (mouthClose >= 0.8 jawOpen during speech), and where they are apart (jawOpen - mouthClose
    over a2f eval's LIP_GAP_CLOSED). Returns {preset: (share where they meet, where apart)}."""
    from training.metrics import LIP_GAP_CLOSED
    x, _, _ = teacher_frames(takes, seed)
    jaw, close = x[:, ARKIT_NAMES.index("jawOpen")], x[:, ARKIT_NAMES.index("mouthClose")]
    meet = (close >= 0.8 * jaw) & (close > 0.02)
    apart = jaw - close > LIP_GAP_CLOSED
    out = {}
    for stem in ("oculus_visemes", "preston_blair", "papagayo", "vrm_vowels"):
        closed = rig_lips_closed(stem, presets[stem], x)
        out[stem] = (float(closed[meet].mean()), float(closed[apart].mean()))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=600, help="teacher sequences to fit on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="print how often lips close on the rigs")
    args = parser.parse_args(argv)
    presets = build(args.takes, args.seed)
    for stem, preset in presets.items():
        save_preset(preset, PRESETS_DIR / f"{stem}.json")
        print(f"{PRESETS_DIR / stem}.json: {len(preset.targets)} targets")
    if args.check:
        for stem, (meet, apart) in closure_check(presets).items():
            print(f"{stem}: lips closed on {meet:.0%} of the frames where the teacher's meet, "
                  f"{apart:.0%} where they are apart")
    return 0


if __name__ == "__main__":
    sys.exit(main())
