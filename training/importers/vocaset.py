"""`a2f import vocaset ROOT`: VOCASET (Cudeiro et al. 2019) in its published layout.

    data_verts.npy          float32 (N, 5023, 3): every captured frame at 60 fps (memory-mapped)
    templates.pkl           subject -> (5023, 3) neutral FLAME mesh
    raw_audio_fixed.pkl     subject -> sentence -> {'audio': samples, 'sample_rate': 22000}
    subj_seq_to_idx.pkl     subject -> sentence -> frame number -> row of data_verts

The pickles are read with `safe_pickle` (they are Python 2 pickles: never `pickle.load` them).
Each subject/sentence becomes a take `SUBJECT_SENTENCE`. Frames are placed by frame number at
1/60 s and resampled to --fps by time (60 -> 30 keeps every other frame). Subjects have their own
neutral faces but the dataset has one template, so each take is re-based: its offsets from its
subject's template are added to the mean template of the imported subjects, and the network
learns speech motion rather than identity.
"""

from pathlib import Path

import numpy as np

from a2f_core.audio import prepare
from a2f_core.errors import A2FError, DatasetError
from training.dataset import write_take
from . import common, flame_lips, safe_pickle

CAPTURE_FPS = 60.0
FILES = ("data_verts.npy", "templates.pkl", "raw_audio_fixed.pkl", "subj_seq_to_idx.pkl")


def add_arguments(parser) -> None:
    parser.add_argument("root", help="VOCASET folder (data_verts.npy and the three .pkl files)")
    common.add_common_arguments(parser)
    parser.add_argument("--subjects", nargs="+", help="subjects to import (default: all)")
    parser.add_argument("--fps", type=float, default=30.0, help="dataset frame rate (default 30)")
    parser.add_argument("--flame-masks", help="FLAME_masks.pkl: use its published 'lips' region "
                                              "instead of the derived approximation")


def run(args) -> int:
    import_vocaset(args.root, args.out, subjects=args.subjects, fps=args.fps, val=args.val,
                   flame_masks=args.flame_masks, tolerance=args.max_length_mismatch,
                   skip_invalid=args.skip_invalid)
    return 0


def import_vocaset(root, out, subjects=None, fps=30.0, val=(), flame_masks=None,
                   tolerance=0.5, skip_invalid=False) -> Path:
    """Convert VOCASET at root into a vertex dataset at out; returns its dataset.json path."""
    files = _find_files(Path(root))
    verts = _load_verts(files["data_verts.npy"])
    templates, audio, index = (_dict(files[name]) for name in FILES[1:])
    chosen = _subjects(subjects, templates, index)
    out = common.new_output_folder(out)
    report = common.ImportReport("vocaset")
    for subject in chosen:
        t = np.asarray(templates[subject], np.float32)
        if t.shape != verts.shape[1:]:
            raise DatasetError(f"{files['templates.pkl']}: template of {subject} has shape "
                               f"{t.shape}, data_verts.npy frames are {verts.shape[1:]}")
    mean_template = np.mean([np.asarray(templates[s], np.float32) for s in chosen], axis=0)
    entries = []
    for subject in chosen:
        sentences = sorted(set(index[subject]) | set(audio.get(subject, {})))
        for sentence in sentences:
            name = f"{subject}_{sentence}"
            targets, samples = _take(report, name, verts, index[subject].get(sentence),
                                     audio.get(subject, {}).get(sentence), fps, tolerance)
            if targets is None:
                continue
            targets += mean_template - np.asarray(templates[subject], np.float32)
            entries.append(write_take(out, name, samples, targets, {
                "voice": subject, "language": "en", "emotion": None, "phonemes": None,
                "synthesiser": None, "split": common.split_of(name, val),
                "subject": subject, "sentence": sentence}))
    lips, upper, lower = flame_lips.lip_groups(mean_template, flame_masks)
    region = ("FLAME_masks.pkl 'lips'" if flame_masks else
              "derived from the template (approximation, see training/importers/flame_lips.py)")
    return common.finish(
        out, report, entries, skip_invalid=skip_invalid, fps=fps, kind="vertices",
        template=mean_template, lip_vertices=lips,
        extra_info={"upper_lip_vertices": upper.tolist(), "lower_lip_vertices": lower.tolist()},
        provenance={"source": f"VOCASET ({Path(root).resolve()})", "licence": "LicenseRef-VOCA",
                    "subjects": chosen, "capture_fps": CAPTURE_FPS, "lip_region": region,
                    "template": "mean of the subjects' templates; takes re-based onto it"})


def _take(report, name, verts, frames, audio_entry, fps, tolerance):
    """(targets (T, V, 3) at fps, 16 kHz audio) of one sentence, or (None, None) on a problem."""
    if frames is None or audio_entry is None:
        missing = ("motion (subj_seq_to_idx.pkl)" if frames is None
                   else "audio (raw_audio_fixed.pkl)")
        report.problem(name, f"no {missing} for this sentence")
        return None, None
    try:
        samples = prepare(_samples(audio_entry), audio_entry.get("sample_rate"), source=name)
        numbers = sorted(int(k) for k in frames)
        rows = np.array([int(frames[k]) for k in sorted(frames, key=int)], np.int64)
    except (A2FError, AttributeError, TypeError, ValueError) as e:
        report.problem(name, f"unreadable entry ({e})")
        return None, None
    if rows.size == 0 or rows.min() < 0 or rows.max() >= len(verts):
        report.problem(name, f"frame rows must lie in 0..{len(verts) - 1} of data_verts.npy")
        return None, None
    motion = np.asarray(verts[rows], np.float32)
    bad = common.nonfinite_problem(motion, "vertex positions")
    if bad:
        report.problem(name, bad)
        return None, None
    times = (np.array(numbers, np.float64) - numbers[0]) / CAPTURE_FPS
    targets = common.resample_by_time(report, name, times, motion, fps, CAPTURE_FPS)
    paired = None if targets is None else common.pair(report, name, samples, targets, fps,
                                                      tolerance, CAPTURE_FPS)
    return (None, None) if paired is None else (paired[1], paired[0])


def _samples(entry):
    """Float samples from an entry's 'audio' (int16 as published, other ints, or floats)."""
    x = np.asarray(entry["audio"])
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float32) / float(2 ** (8 * x.dtype.itemsize - 1))
    return x


def _find_files(root: Path) -> dict:
    """Each published file at root or one folder down (the archives nest some, e.g. audio/)."""
    found, missing = {}, []
    for name in FILES:
        hits = [root / name] if (root / name).is_file() else sorted(root.glob(f"*/{name}"))
        if hits:
            found[name] = hits[0]
        else:
            missing.append(name)
    if missing:
        raise DatasetError(f"{root}: missing {', '.join(missing)}; point at the VOCASET folder "
                           f"holding {', '.join(FILES)}")
    return found


def _load_verts(path):
    try:
        verts = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: not a readable .npy array ({e})") from None
    if verts.ndim != 3 or verts.shape[2] != 3 or not np.issubdtype(verts.dtype, np.floating):
        raise DatasetError(f"{path}: expected float (frames, vertices, 3), got {verts.dtype} "
                           f"{verts.shape}")
    return verts


def _dict(path):
    value = safe_pickle.load(path)
    if not isinstance(value, dict) or not all(isinstance(v, (dict, np.ndarray))
                                              for v in value.values()):
        raise DatasetError(f"{path}: expected a dict keyed by subject")
    return value


def _subjects(requested, templates, index):
    available = sorted(set(index) & set(templates))
    for subject in sorted(set(index) ^ set(templates)):
        where = "subj_seq_to_idx.pkl" if subject in index else "templates.pkl"
        if requested is None or subject in requested:
            raise DatasetError(f"subject {subject} is only in {where}: it needs both a template "
                               "and frame indices; leave it out with --subjects")
    unknown = sorted(set(requested or ()) - set(available))
    if unknown:
        raise DatasetError(f"unknown subject(s) {', '.join(unknown)}; VOCASET here has "
                           f"{', '.join(available)}")
    return sorted(set(requested)) if requested else available
