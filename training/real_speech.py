"""Lip sync measured on real recordings with phone labels: `a2f eval --real DIR`.

DIR holds NAME.wav (any rate, any channels) with NAME.lab beside it: one `start_s end_s phone`
line per segment, ARPAbet in any case with or without stress digits, `sil` for silence. A
recording without a .lab is skipped. Three measures, each per recording and pooled:

- contact: the share of /p b m/ whose lips touch on at least one frame in
  [start - 30 ms, end + 10 ms] (a little lead, as lips close before the burst);
- false closures: the share of vowels whose lips touch on a frame of their middle half;
- r: Pearson's correlation of the mouth opening with the speech level (dB) per frame; the
  median over recordings is pooled.

On ARKit weights the lips touch where the lip gap
`jawOpen - mouthClose + 0.25 * (mouthLowerDown* + mouthUpperUp*) < 0.05` and the mouth opening
is that gap. A peer's Rhubarb Lip Sync cues (NAME.tsv: `time_s<TAB>shape` per change) can be
measured the same way: shapes A and X touch, the others open by `RHUBARB_OPENING`.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from a2f_core.audio import SAMPLE_RATE, load_audio
from a2f_core.errors import A2FError

BILABIALS = {"p", "b", "m"}
VOWELS = {"aa", "ae", "ah", "ao", "aw", "ax", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy",
          "uh", "uw"}
LEAD_SECONDS, LAG_SECONDS = 0.030, 0.010  # the window in which a bilabial's lips must touch
CONTACT_GAP = 0.05
GAP_TERMS = {"jawOpen": 1.0, "mouthClose": -1.0, "mouthLowerDownLeft": 0.25,
             "mouthLowerDownRight": 0.25, "mouthUpperUpLeft": 0.25, "mouthUpperUpRight": 0.25}
LEVEL_WINDOW_SECONDS = 0.040  # speech level: RMS over this window around each frame
LEVEL_FLOOR_DB = -60.0        # below the recording's loudest frame: silence is all alike
# Rhubarb's mouth shapes as a lip gap on the scale above (A: p/b/m, X: idle; both touch)
RHUBARB_OPENING = {"A": 0.0, "B": 0.2, "C": 0.5, "D": 0.9, "E": 0.4, "F": 0.15, "G": 0.2,
                   "H": 0.35, "X": 0.0}


@dataclass
class Score:
    """Counts of one recording (or a pool of them) and its r."""
    name: str
    bilabials: int = 0
    touched: int = 0
    vowels: int = 0
    closed_vowels: int = 0
    r: float = float("nan")

    @property
    def contact(self) -> float:
        return self.touched / self.bilabials if self.bilabials else float("nan")

    @property
    def false_closures(self) -> float:
        return self.closed_vowels / self.vowels if self.vowels else float("nan")


def read_lab(path) -> list:
    """[(start_s, end_s, phone)] of a .lab file, phones lower case without stress digits."""
    segments = []
    for number, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            start, end = float(fields[0]), float(fields[1])
            phone = fields[2].lower().rstrip("012")
        except (IndexError, ValueError):
            raise A2FError(f"{path}:{number}: expected 'start_s end_s phone', got {line!r}")
        if not (np.isfinite(start) and np.isfinite(end) and 0 <= start <= end):
            raise A2FError(f"{path}:{number}: segment times must satisfy 0 <= start <= end, "
                           f"got {start} {end}")
        segments.append((start, end, phone))
    return segments


def lip_gap(weights: np.ndarray, channel_names) -> np.ndarray:
    """(T,) lip gap of (T, C) ARKit weights: contact below CONTACT_GAP, opening above."""
    missing = [n for n in GAP_TERMS if n not in channel_names]
    if missing:
        raise A2FError(f"the checkpoint has no {', '.join(missing)} channel: real-speech lip "
                       "contact is measured on ARKit weights models")
    return sum(w * weights[:, channel_names.index(n)] for n, w in GAP_TERMS.items())


def rhubarb_gap(path, frame_count: int, fps: float) -> np.ndarray:
    """(T,) lip gap of a Rhubarb Lip Sync TSV cue file sampled at the frame times."""
    times, shapes = [], []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            time = float(fields[0])
        except ValueError:
            time = float("nan")
        if len(fields) != 2 or fields[1] not in RHUBARB_OPENING or not np.isfinite(time):
            raise A2FError(f"{path}:{number}: expected 'time_s shape' with a shape of "
                           f"{''.join(RHUBARB_OPENING)}, got {line!r}")
        times.append(time)
        shapes.append(RHUBARB_OPENING[fields[1]])
    if not times:
        raise A2FError(f"{path}: no cues")
    at = np.searchsorted(times, np.arange(frame_count) / fps, side="right") - 1
    return np.where(at >= 0, np.asarray(shapes)[np.maximum(at, 0)], RHUBARB_OPENING["X"])


def level_db(samples: np.ndarray, frame_count: int, fps: float) -> np.ndarray:
    """(T,) speech level in dB at each frame time, floored LEVEL_FLOOR_DB below its maximum."""
    half = int(LEVEL_WINDOW_SECONDS * SAMPLE_RATE / 2)
    energy = np.concatenate([[0.0], np.cumsum(np.square(samples, dtype=np.float64))])
    centre = np.round(np.arange(frame_count) / fps * SAMPLE_RATE).astype(np.int64)
    lo = np.clip(centre - half, 0, len(samples))
    hi = np.clip(centre + half, 0, len(samples))
    power = (energy[hi] - energy[lo]) / np.maximum(hi - lo, 1)
    db = 10 * np.log10(np.maximum(power, 1e-20))
    return np.maximum(db, db.max(initial=-np.inf) + LEVEL_FLOOR_DB)


def score(name: str, gap: np.ndarray, segments: list, fps: float, level: np.ndarray) -> Score:
    """The three measures of one recording from its (T,) lip gap and its phone segments.

    The gap is read as the curve the frames key, linear between frames, so an interval touches
    when its smallest value (at a frame inside it or at one of its ends) is below CONTACT_GAP.
    """
    result = Score(name)
    for start, end, phone in segments:
        if phone in BILABIALS:
            result.bilabials += 1
            result.touched += _lowest(gap, fps, start - LEAD_SECONDS, end + LAG_SECONDS) < CONTACT_GAP
        elif phone in VOWELS:
            quarter = (end - start) / 4
            result.vowels += 1
            result.closed_vowels += _lowest(gap, fps, start + quarter, end - quarter) < CONTACT_GAP
    opening = np.maximum(gap, 0)
    if opening.std() > 0 and level.std() > 0:
        result.r = float(np.corrcoef(opening, level)[0, 1])
    return result


def _lowest(gap: np.ndarray, fps: float, t0: float, t1: float) -> float:
    """Smallest value of the frames' piecewise-linear curve over [t0, t1] seconds."""
    times = np.arange(len(gap)) / fps
    inside = gap[(times >= t0) & (times <= t1)]
    ends = np.interp([t0, t1], times, gap)
    return float(min(ends.min(), inside.min(initial=np.inf)))


def pooled(scores: list, name: str = "pooled") -> Score:
    total = Score(name)
    for s in scores:
        total.bilabials += s.bilabials
        total.touched += s.touched
        total.vowels += s.vowels
        total.closed_vowels += s.closed_vowels
    rs = [s.r for s in scores if np.isfinite(s.r)]
    total.r = float(np.median(rs)) if rs else float("nan")
    return total


def recordings(folder) -> list:
    """[(name, wav path, lab path)] of the labelled recordings in a folder, by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise A2FError(f"{folder} is not a folder of NAME.wav + NAME.lab recordings")
    found = [(p.stem, p, p.with_suffix(".lab")) for p in sorted(folder.glob("*.wav"))
             if p.with_suffix(".lab").is_file()]
    if not found:
        raise A2FError(f"{folder}: no NAME.wav with a NAME.lab beside it")
    return found


def evaluate_real(animator, emotion, folder, fps: float = 30.0, cues=None, progress=None):
    """{'a2f': [Score per recording], and 'cues': [...] when a folder of NAME.tsv is given}."""
    names = animator.checkpoint.channel_names
    if animator.checkpoint.kind != "weights":
        raise A2FError("real-speech lip contact is measured on weights models (ARKit channels)")
    result = {"a2f": [], "cues": [] if cues else None}
    for name, wav, lab in recordings(folder):
        samples = load_audio(wav)
        segments = read_lab(lab)
        weights = animator.animate(samples, fps, emotion)
        level = level_db(samples, len(weights), fps)
        result["a2f"].append(score(name, lip_gap(weights, names), segments, fps, level))
        cue_file = Path(cues) / f"{name}.tsv" if cues else None
        if cue_file is not None and cue_file.is_file():
            gap = rhubarb_gap(cue_file, len(weights), fps)
            result["cues"].append(score(name, gap, segments, fps, level))
        if progress:
            progress(name)
    return result


def format_report(result) -> str:
    """A table: one row per recording and the pooled row, for a2f and the peer's cues."""
    lines = []
    for label, scores in (("a2f", result["a2f"]), ("cues", result["cues"])):
        if not scores:
            continue
        lines.append(f"{label}: {'recording':<28} {'p/b/m':>5} {'contact':>8} {'vowels':>6} "
                     f"{'false':>6} {'r':>6}")
        for s in [*scores, pooled(scores)]:
            lines.append(f"{'':>{len(label) + 1}} {s.name:<28} {s.bilabials:>5} "
                         f"{_percent(s.contact):>8} {s.vowels:>6} {_percent(s.false_closures):>6} "
                         f"{s.r:>6.2f}")
    return "\n".join(lines)


def _percent(x: float) -> str:
    return "-" if not np.isfinite(x) else f"{100 * x:.0f}%"
