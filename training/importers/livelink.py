"""`a2f import livelink CSV...`: Apple Live Link Face recordings (ARKit-52 weights).

A CSV has `Timecode,BlendShapeCount,` 52 PascalCase ARKit names and 9 head/eye rotations
(radians; when all nine are there they are kept beside the weights, in takes/NAME.rotations.npy,
resampled the same way, and the take's meta names that file). Timecodes are `HH:MM:SS:FF.mmm`,
FF counting frames at the capture rate (60 or 30, detected from the largest FF, or
--capture-fps) and mmm thousandths of a frame. Rows are placed by their time, not their row
number, so reordered, repeated or dropped rows are found, and resampled to --fps. Frame i of the
take shows audio time i / fps + --audio-offset-seconds; the audio is --audio or the file beside
the CSV with the same name.
"""

import csv
import re
from pathlib import Path

import numpy as np

from a2f_core.arkit import ARKIT_NAMES, ROTATION_NAMES as ROTATIONS
from a2f_core.audio import SAMPLE_RATE, load_audio
from a2f_core.errors import A2FError
from training.dataset import TAKES_DIR, write_take
from . import common

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".WAV", ".FLAC")
TIMECODE = re.compile(r"^(\d+):(\d\d):(\d\d):(\d+)(?:\.(\d+))?$")
# mouth channels whose Left/Right the phone can report mirrored (--swap-mouth-left-right)
MOUTH_PAIRS = [(n, n[:-4] + "Right") for n in ARKIT_NAMES
               if n.startswith("mouth") and n.endswith("Left")]


def add_arguments(parser) -> None:
    parser.add_argument("csv", nargs="+", help="Live Link Face CSV files, one take each")
    common.add_common_arguments(parser)
    parser.add_argument("--audio", help="audio of the take (one CSV only; default: the audio "
                                        "file beside each CSV with the same name)")
    parser.add_argument("--audio-offset-seconds", type=float, default=0.0, metavar="S",
                        help="audio time of the first CSV row (positive: the audio starts "
                             "earlier and its first S seconds are skipped)")
    parser.add_argument("--swap-mouth-left-right", action="store_true",
                        help="exchange each mouth*Left channel with its mouth*Right partner")
    parser.add_argument("--fps", type=float, default=30.0, help="dataset frame rate (default 30)")
    parser.add_argument("--capture-fps", type=float, choices=(30.0, 60.0),
                        help="timecode frame rate (default: detected)")


def run(args) -> int:
    if args.audio and len(args.csv) > 1:
        raise A2FError("--audio pairs one CSV with one audio file; for several takes put each "
                       "audio file beside its CSV with the same name")
    out = common.new_output_folder(args.out)
    report = common.ImportReport("livelink")
    entries, names = [], set()
    for path in map(Path, args.csv):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem).lstrip("._-") or "take"
        if name in names:
            report.problem(name, f"{path}: a take of this name was already imported")
            continue
        names.add(name)
        take = read_take(report, name, path, args)
        if take is not None:
            audio, frames = take
            meta = {"voice": None, "language": None, "emotion": None, "phonemes": None,
                    "synthesiser": None, "split": common.split_of(name, args.val),
                    "source_file": path.name}
            if frames.shape[1] > len(ARKIT_NAMES):
                meta["rotations"] = _write_rotations(out, name, frames[:, len(ARKIT_NAMES):])
            entries.append(write_take(out, name, audio, frames[:, :len(ARKIT_NAMES)], meta))
    common.finish(out, report, entries, skip_invalid=args.skip_invalid, fps=args.fps,
                  kind="weights", channel_names=list(ARKIT_NAMES),
                  provenance={"source": "Live Link Face CSV", "licence": "LicenseRef-Proprietary",
                              "files": [str(p) for p in args.csv],
                              "swap_mouth_left_right": args.swap_mouth_left_right})
    return 0


def read_take(report, name, path: Path, args):
    """(16 kHz audio, (T, 52) weights at args.fps, then the 9 rotations when the CSV has them)
    of one CSV, or None after reporting why."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        report.problem(name, f"{path}: unreadable CSV ({e})")
        return None
    parsed = _parse(report, name, path, rows)
    if parsed is None:
        return None
    timecodes, weights = parsed
    times = _times(report, name, timecodes, args.capture_fps)
    if times is None:
        return None
    times, weights = _by_time(report, name, times, weights)
    if times is None:
        return None
    if args.swap_mouth_left_right:
        order = {n: i for i, n in enumerate(ARKIT_NAMES)}
        for left, right in MOUTH_PAIRS:
            weights[:, [order[left], order[right]]] = weights[:, [order[right], order[left]]]
    face = weights[:, :len(ARKIT_NAMES)]  # a view: rotations follow the weights' rows
    outside = int(((face < 0) | (face > 1)).sum())
    if outside:
        report.note(name, f"{outside} weight values outside 0..1 clipped")
        np.clip(face, 0.0, 1.0, out=face)
    audio = _audio(report, name, path, args.audio)
    if audio is None:
        return None
    offset = args.audio_offset_seconds
    if offset >= 0:
        audio = audio[int(round(offset * SAMPLE_RATE)):]
    else:
        keep = times >= -offset - 1e-9
        if not keep.any():
            report.problem(name, f"the motion ends {times[-1]:.3f} s in, before the audio starts "
                                 f"(--audio-offset-seconds {offset:g}); check the offset's sign")
            return None
        report.note(name, f"dropped {int((~keep).sum())} motion rows before the audio starts "
                          f"(--audio-offset-seconds {offset:g})")
        times, weights = times[keep] - times[keep][0], weights[keep]
    source_fps = float(np.round(1.0 / np.median(np.diff(times)))) if len(times) > 1 else args.fps
    frames = common.resample_by_time(report, name, times, weights, args.fps, source_fps)
    return None if frames is None else common.pair(report, name, audio, frames, args.fps,
                                                   args.max_length_mismatch, source_fps)


def _parse(report, name, path, rows):
    """(timecode strings, (N, 52) float weights in ARKit order, then the 9 rotations when all
    are there) or None."""
    if not rows or rows[0][:2] != ["Timecode", "BlendShapeCount"]:
        report.problem(name, f"{path}: not a Live Link Face CSV (the header must start with "
                             "Timecode,BlendShapeCount)")
        return None
    header = rows[0]
    by_lower = {n.lower(): n for n in ARKIT_NAMES}
    columns = {by_lower[h.lower()]: i for i, h in enumerate(header) if h.lower() in by_lower}
    missing = [n for n in ARKIT_NAMES if n not in columns]
    if missing:
        report.problem(name, f"missing channels {', '.join(missing)}")
        return None
    rotations = [h for h in header if h in ROTATIONS]
    if 0 < len(rotations) < len(ROTATIONS):
        report.note(name, f"{len(rotations)} of the {len(ROTATIONS)} head/eye rotation columns "
                          "found; rotations not imported")
    unknown = [h for h in header[2:] if h.lower() not in by_lower and h not in ROTATIONS]
    if unknown:
        report.note(name, f"unknown columns ignored: {', '.join(unknown)}")
    data = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    short = [i + 2 for i, r in enumerate(data) if len(r) != len(header)]
    if short or not data:
        report.problem(name, f"rows {short[:5]} have {len(data[short[0] - 2]) if short else 0} "
                             f"fields, the header {len(header)}" if short else "no data rows")
        return None
    index = [columns[n] for n in ARKIT_NAMES]
    if len(rotations) == len(ROTATIONS):
        index += [header.index(n) for n in ROTATIONS]
    try:
        weights = np.array([[float(r[i]) if r[i].strip() else np.nan for i in index]
                            for r in data], np.float32)
    except ValueError as e:
        report.problem(name, f"a weight is not a number ({e})")
        return None
    bad = common.nonfinite_problem(weights, "weights")
    if bad:
        report.problem(name, bad)
        return None
    return [r[0].strip() for r in data], weights


def _times(report, name, timecodes, capture_fps):
    """Seconds of each row from its timecode, relative to the earliest row; None on a problem."""
    fields = []
    for row, code in enumerate(timecodes, start=2):
        match = TIMECODE.match(code)
        if not match:
            report.problem(name, f"row {row}: timecode {code!r} is not HH:MM:SS:FF.mmm")
            return None
        h, m, s, ff, frac = match.groups()
        fields.append((int(h) * 3600 + int(m) * 60 + int(s), int(ff),
                       float(f"0.{frac}") if frac else 0.0))
    top = max(f[1] for f in fields)
    seconds_seen = len({f[0] for f in fields})
    if capture_fps is None:
        if top >= 30:
            capture_fps = 60.0
        elif seconds_seen > 1 and top >= 24:
            capture_fps = 30.0
        else:
            report.problem(name, "too short to tell a 30 from a 60 fps capture; pass "
                                 "--capture-fps")
            return None
    elif top >= capture_fps:
        report.problem(name, f"frame field reaches {top}, impossible at --capture-fps "
                             f"{capture_fps:g}: frame-rate mismatch")
        return None
    times = np.array([s + (ff + frac) / capture_fps for s, ff, frac in fields])
    return times - times.min()


def _by_time(report, name, times, weights):
    """Rows sorted by time; exact repeats merged (noted), conflicting repeats a problem."""
    order = np.argsort(times, kind="stable")
    if (np.diff(order) < 0).any():
        report.note(name, "rows are not in time order; sorted by timecode")
    times, weights = times[order], weights[order]
    same = np.flatnonzero(np.diff(times) < 1e-6)
    if same.size:
        differ = same[~np.all(np.isclose(weights[same], weights[same + 1], atol=1e-6), axis=1)]
        if differ.size:
            report.problem(name, f"{differ.size} duplicated timecodes with different weights "
                                 f"(first at {times[differ[0]]:.3f} s)")
            return None, None
        report.note(name, f"{same.size} duplicated rows (same timecode and weights) merged")
        keep = np.ones(len(times), bool)
        keep[same + 1] = False
        times, weights = times[keep], weights[keep]
    return times, weights


def _write_rotations(out: Path, name: str, rotations: np.ndarray) -> str:
    """Save a take's (T, 9) rotations beside its weights; the path relative to out."""
    rel = f"{TAKES_DIR}/{name}.rotations.npy"
    (out / TAKES_DIR).mkdir(parents=True, exist_ok=True)
    np.save(out / rel, np.ascontiguousarray(rotations, np.float32))
    return rel


def _audio(report, name, csv_path: Path, given):
    candidates = [Path(given)] if given else [csv_path.with_suffix(s) for s in AUDIO_SUFFIXES]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        video = next((p for p in (csv_path.with_suffix(".mov"), csv_path.with_suffix(".MOV"))
                      if p.is_file()), None)
        hint = (f"; extract it from the video: ffmpeg -i {video} -vn {csv_path.with_suffix('.wav')}"
                if video else "; put NAME.wav beside NAME.csv or pass --audio")
        report.problem(name, f"no audio for {csv_path.name}{hint}")
        return None
    try:
        return load_audio(path)
    except A2FError as e:
        report.problem(name, str(e))
        return None
