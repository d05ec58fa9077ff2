"""What every importer shares: the report, time-based resampling, audio/motion pairing, output.

Captures disagree with themselves in the same few ways (frame rates, lengths, NaNs, gaps), so the
rules are written once. A *problem* makes a take unusable and fails the import unless
--skip-invalid is given (then the take is left out and listed); a *note* records anything that
was changed or ignored. Nothing is dropped without one of the two: both go to the terminal and
to DIR/import_report.json.
"""

import fnmatch
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np

from a2f_core.audio import SAMPLE_RATE
from a2f_core.errors import A2FError, DatasetError
from training.dataset import TAKES_DIR, frame_count, load_dataset, write_dataset_json

REPORT_FILE = "import_report.json"
COMMON_FPS = (24.0, 25.0, 30.0, 50.0, 60.0)  # for naming a likely frame-rate mismatch
MAX_GAP_SECONDS = 0.1  # longer holes in the motion are not interpolated: the take is refused


class ImportReport:
    """Problems (take unusable) and notes (something changed or ignored), per take."""

    def __init__(self, importer: str):
        self.importer = importer
        self.problems, self.notes = [], []

    def problem(self, take: str, message: str) -> None:
        self.problems.append({"take": take, "message": message})

    def note(self, take: str, message: str) -> None:
        self.notes.append({"take": take, "message": message})

    def invalid(self, take: str) -> bool:
        return any(p["take"] == take for p in self.problems)

    def print(self) -> None:
        for kind, items in (("note", self.notes), ("problem", self.problems)):
            for item in items:
                print(f"a2f import {self.importer}: {kind}: {item['take']}: {item['message']}",
                      file=sys.stderr)


def add_common_arguments(parser) -> None:
    parser.add_argument("--out", required=True, help="new (or empty) dataset folder")
    parser.add_argument("--val", nargs="+", default=[], metavar="PATTERN",
                        help="takes whose name matches a shell pattern go to the 'val' split")
    parser.add_argument("--max-length-mismatch", type=float, default=0.5, metavar="SECONDS",
                        help="audio and motion lengths may differ by this much; the longer one "
                             "is trimmed and noted (default 0.5)")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="leave out takes with problems (listed) instead of failing")


def new_output_folder(out) -> Path:
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise A2FError(f"{out} exists and is not an empty folder; choose a new --out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def split_of(name: str, val_patterns) -> str:
    return "val" if any(fnmatch.fnmatchcase(name, p) for p in val_patterns) else "train"


def nonfinite_problem(values: np.ndarray, what: str):
    """None when all finite, else a message naming the first bad frames (axis 0)."""
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not bad.any():
        return None
    frames = np.flatnonzero(bad)
    listed = ", ".join(str(int(i)) for i in frames[:5]) + (", ..." if len(frames) > 5 else "")
    return f"NaN or infinite {what} in {len(frames)} of {len(values)} frames ({listed})"


def resample_by_time(report, take, times, values, fps: float, source_fps: float):
    """values (N, ...) sampled at increasing `times` (s, first 0) -> frames at i / fps.

    Linear interpolation by time, so dropped or irregular source frames land where they belong
    and 60 fps sources at exact 1/60 s steps become plain decimation at 30 fps. Holes longer than
    MAX_GAP_SECONDS are a problem (returns None); shorter ones are interpolated and noted.
    """
    times = np.asarray(times, np.float64)
    step = np.diff(times)
    holes = step > 1.5 / source_fps
    if holes.any():
        missing = int(np.round(step[holes] * source_fps).sum() - holes.sum())
        longest = float(step.max())
        if longest > MAX_GAP_SECONDS:
            report.problem(take, f"the motion has a hole of {longest:.3f} s at "
                                 f"{times[np.argmax(step)]:.3f} s (longer than "
                                 f"{MAX_GAP_SECONDS} s cannot be interpolated)")
            return None
        report.note(take, f"{missing} missing source frames in {int(holes.sum())} hole(s) "
                          "interpolated linearly")
    if fps != source_fps:
        report.note(take, f"resampled from {source_fps:g} to {fps:g} fps by time")
    if len(times) == 1:
        return np.asarray(values[:1], np.float32)
    count = int(math.floor(times[-1] * fps + 1e-6)) + 1
    at = np.arange(count) / fps
    right = np.clip(np.searchsorted(times, at, side="right"), 1, len(times) - 1)
    left = right - 1
    span = np.where(times[right] > times[left], times[right] - times[left], 1.0)
    w = np.clip((at - times[left]) / span, 0.0, 1.0).reshape((-1,) + (1,) * (values.ndim - 1))
    out = values[left] * (1.0 - w) + values[right] * w
    return out.astype(np.float32)


def pair(report, take, audio: np.ndarray, frames: np.ndarray, fps: float, tolerance: float,
         source_fps=None):
    """Trim 16 kHz audio and (T, ...) frames at fps to a common length; (audio, frames) or None.

    A difference beyond `tolerance` seconds is a problem, with a hint when the source frames
    (captured at source_fps) would fit the audio at another common rate: a frame-rate mismatch.
    Trims of a frame or more are noted.
    """
    audio_s, motion_s = len(audio) / SAMPLE_RATE, len(frames) / fps
    if abs(audio_s - motion_s) > tolerance:
        source_fps = source_fps or fps
        source_frames = motion_s * source_fps
        fits = {other: abs(source_frames / other - audio_s) for other in COMMON_FPS
                if other != source_fps}
        best = min(fits, key=fits.get)
        hint = (f"; the {source_frames:.0f} source frames fit the audio at {best:g} fps, not "
                f"{source_fps:g}: frame-rate mismatch?"
                if fits[best] <= max(tolerance, 2 / best) else "")
        longer = "longer" if audio_s > motion_s else "shorter"
        report.problem(take, f"audio ({audio_s:.3f} s) is {longer} than the motion "
                             f"({len(frames)} frames = {motion_s:.3f} s at {fps:g} fps) by more "
                             f"than {tolerance:g} s{hint}")
        return None
    keep = min(len(frames), frame_count(len(audio), fps))
    if keep < len(frames):
        report.note(take, f"dropped the last {len(frames) - keep} motion frame(s): the audio "
                          f"ends {motion_s - audio_s:.3f} s before the motion")
    samples = min(len(audio), int(math.floor(keep * SAMPLE_RATE / fps + 1e-9)))
    if len(audio) - samples >= SAMPLE_RATE / fps:
        report.note(take, f"dropped the last {(len(audio) - samples) / SAMPLE_RATE:.3f} s of "
                          "audio: it runs past the motion")
    return audio[:samples], frames[:keep]


def finish(out: Path, report: ImportReport, entries: list, *, skip_invalid: bool,
           extra_info=None, **dataset) -> Path:
    """Write import_report.json and, when the import is acceptable, dataset.json; validate it.

    Without skip_invalid any problem fails the import and the written takes are removed again
    (the folder was new or empty), so a half-imported dataset is never left to train on.
    """
    report.print()
    failed = bool(report.problems) and not skip_invalid or not entries
    summary = {"importer": report.importer, "takes": [e["name"] for e in entries],
               "skipped": sorted({p["take"] for p in report.problems}),
               "problems": report.problems, "notes": report.notes}
    (out / REPORT_FILE).write_text(json.dumps(summary, indent=1))
    if failed:
        shutil.rmtree(out / TAKES_DIR, ignore_errors=True)
        reason = (f"{len(report.problems)} problem(s) listed above" if report.problems
                  else "no takes found")
        raise DatasetError(f"import failed: {reason}; nothing was imported (see "
                           f"{out / REPORT_FILE})"
                           + ("; --skip-invalid imports the other takes" if entries else ""))
    provenance = dict(dataset.pop("provenance"), import_report=REPORT_FILE,
                      skipped_takes=summary["skipped"])
    path = write_dataset_json(out, takes=entries, provenance=provenance, **dataset)
    if extra_info:
        info = json.loads(path.read_text())
        info.update(extra_info)
        path.write_text(json.dumps(info, indent=1))
    load_dataset(out)  # the trainer's own checks, so a bad import fails here, not in training
    print(f"a2f import {report.importer}: wrote {len(entries)} take(s) to {path}"
          + (f", skipped {len(summary['skipped'])}" if summary["skipped"] else ""))
    return path
