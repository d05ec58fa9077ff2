"""Per-take animation metrics (numpy): how far predicted frames are from the captured ones.

The error functions return (sum, count) so that takes of any length combine into exact
dataset means. Arrays are (T, C) weights or (T, V, 3) vertex offsets.
"""

import unicodedata

import numpy as np

from a2f_core.contact import contact_columns

SILENCE_SYMBOLS = {"_", "pau", "sil", "sp", ""}
BILABIALS = {"p", "b", "m"}
LIP_GAP_CLOSED = 0.1        # weights: lips closed when jawOpen - mouthClose < this
VERTEX_CLOSED_FRACTION = 0.1  # vertices: closed when the gap is within 10% of the take's range
SILENCE_MARGIN_SECONDS = 0.1  # rest is measured this far inside a pause (speech is anticipated)


def position(pred, target):
    """Squared error over every value: the training position loss."""
    return float(np.sum((pred - target) ** 2)), pred.size


def motion(pred, target):
    """Squared error of frame-to-frame differences: the training motion loss."""
    d = np.diff(pred, axis=0) - np.diff(target, axis=0)
    return float(np.sum(d ** 2)), d.size


def weight_mae(pred, target):
    return float(np.sum(np.abs(pred - target))), pred.size


def lip_vertex_error(pred, target, lips):
    """Per frame the largest Euclidean error over the lip vertices, summed over frames."""
    distance = np.linalg.norm(pred[:, lips] - target[:, lips], axis=2)
    return float(distance.max(axis=1).sum()), len(pred)


def rest_in_silence(pred, target, silent):
    """Error in frames well inside pauses, where the target is the resting face:
    mean absolute weight error, or mean vertex distance for vertex data."""
    if not silent.any():
        return 0.0, 0
    p, t = pred[silent], target[silent]
    if p.ndim == 3:
        return float(np.linalg.norm(p - t, axis=2).mean(axis=1).sum()), len(p)
    return float(np.abs(p - t).sum()), p.size


def is_silence(symbol: str) -> bool:
    """A pause in any of the alphabets: '_', 'pau', 'sil', 'sp' or an empty symbol."""
    return symbol.strip().lower() in SILENCE_SYMBOLS


def is_bilabial(symbol: str) -> bool:
    """'p', 'b', 'm' in ARPAbet or IPA, ignoring length, aspiration and diacritic marks."""
    base = "".join(c for c in symbol.strip().lower()
                   if unicodedata.category(c) in ("Ll", "Lu", "Lo"))
    return base in BILABIALS


def lip_closures(gap_pred, gap_target, phonemes, fps, closed_below, bilabial=True):
    """(closed in prediction, closed in target, count) over the take's bilabial phonemes, or
    with bilabial=False over its other speech phonemes, where a closure is a false one.

    gap_*: (T,) lip opening per frame. A phoneme counts as closed when the gap falls below
    `closed_below` at any frame inside it (the nearest frame for phonemes shorter than a frame).
    """
    closed_pred = closed_target = count = 0
    for start, end, symbol in phonemes:
        if is_silence(symbol) or is_bilabial(symbol) != bilabial:
            continue
        frames = _frames_inside(start, end, fps, len(gap_pred))
        count += 1
        closed_pred += bool((gap_pred[frames] < closed_below).any())
        closed_target += bool((gap_target[frames] < closed_below).any())
    return closed_pred, closed_target, count


def weights_lip_gap(weights, channel_names):
    """(T,) jawOpen - mouthClose, or None when either channel is missing."""
    columns = contact_columns(channel_names)
    if columns is None:
        return None
    jaw, close = columns
    return weights[:, jaw] - weights[:, close]


def vertex_lip_gap(vertices, upper, lower):
    """(T,) distance between the upper- and lower-lip centroids of absolute vertices."""
    return np.linalg.norm(vertices[:, upper].mean(1) - vertices[:, lower].mean(1), axis=1)


def vertex_closed_below(gap):
    """The lip distance under which vertex lips count as closed, from the (T,) gaps it is judged
    in: VERTEX_CLOSED_FRACTION of the way up their 5-95 percentile range."""
    lo, hi = np.percentile(gap, [5, 95])
    return float(lo + VERTEX_CLOSED_FRACTION * (hi - lo))


def silent_frames(n_frames, fps, phonemes, samples, sample_rate):
    """(T,) bool: frames at least SILENCE_MARGIN_SECONDS inside a pause.

    Pauses come from the phoneme timings when present, else from audio energy: a frame is
    silent when every 10 ms around it is 40 dB below the take's loudest 10 ms.
    """
    times = np.arange(n_frames) / fps
    silent = np.zeros(n_frames, bool)
    if phonemes:
        for start, end, symbol in phonemes:
            if is_silence(symbol):
                silent |= (times >= start + SILENCE_MARGIN_SECONDS) & (
                    times <= end - SILENCE_MARGIN_SECONDS)
        return silent
    hop = sample_rate // 100
    n = len(samples) // hop
    if n == 0:
        return silent
    energy = np.square(samples[:n * hop].reshape(n, hop)).mean(1)
    quiet = energy < energy.max() * 1e-4
    margin = int(SILENCE_MARGIN_SECONDS * 100)
    for i, t in enumerate(times):
        c = int(t * 100)
        window = quiet[max(c - margin, 0):c + margin + 1]
        silent[i] = c - margin >= 0 and c + margin < n and window.all()
    return silent


def _frames_inside(start, end, fps, n):
    first, last = int(np.ceil(start * fps)), int(np.floor(end * fps))
    if last < first:  # shorter than a frame: the frame nearest its middle
        first = last = int(round((start + end) / 2 * fps))
    return np.arange(min(first, n - 1), min(last, n - 1) + 1)
