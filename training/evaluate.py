"""`a2f eval --checkpoint C --data DIR`: a checkpoint's metrics on a dataset, plus curve plots;
`a2f eval --real DIR`: lip sync on real recordings with phone labels (training/real_speech.py).

Inference goes through a2f_core.infer.Animator, the same numpy path the add-on and `a2f infer`
use, so the numbers describe what users get. Metrics (definitions in training/metrics.py):

    position_mse       mean squared error of weights / vertex offsets (the training P)
    weight_mae         mean absolute weight error                        (weights data)
    lip_vertex_error   per frame the max Euclidean error over lip vertices, averaged (vertices)
    motion_mse         mean squared error of frame-to-frame motion (the training M)
    bilabial_closure   fraction of p/b/m phonemes whose predicted lips close (target rate beside)
    closure_elsewhere  the same over all other speech phonemes: high means lips shut too often
    rest_in_silence    error in frames well inside pauses, where the face should rest
"""

import json
from pathlib import Path

import numpy as np

from a2f_core.audio import SAMPLE_RATE
from a2f_core.checkpoint import load_checkpoint
from a2f_core.contact import contact_columns
from a2f_core.emotions import blend, parse_emotion_spec
from a2f_core.errors import A2FError
from a2f_core.infer import Animator
from a2f_core.models import default_checkpoint
from training import metrics, real_speech
from training.dataset import check_compatible, load_dataset

LABELS = "labels"  # --emotion value: animate each take with its own labelled emotion


def evaluate(checkpoint_path, data_dir, split=None, emotion="neutral", out_dir=None,
             plot_takes=3, by=None, lip_contact=True) -> dict:
    """Metrics dict for `split` ('train', 'val', or None: val if the dataset has one, else all);
    with out_dir, also writes metrics.json and curve plots there.

    emotion: a spec for every take, or LABELS to use each take's labelled emotion (a labelled
    happy take is then judged against the mined 'happy' vector, not against neutral).
    by: a take metadata key (e.g. 'language', 'voice'): also report the metrics per value, under
    result['by'][value]. lip_contact=False leaves out the checkpoint's lip contact head."""
    ckpt = load_checkpoint(checkpoint_path)
    dataset = load_dataset(data_dir)
    check_compatible(ckpt, dataset)
    takes = dataset.split(split) if split else (dataset.split("val") or dataset.takes)
    if not takes:
        raise A2FError(f"{data_dir}: no takes in the {split!r} split")
    animator = Animator(ckpt, lip_contact)
    fixed = None if emotion == LABELS else blend(ckpt.emotions, parse_emotion_spec(emotion))
    notes, curves, groups = [], [], {}
    overall = _Scores(ckpt, dataset, notes)
    for take in takes:
        samples = take.audio()
        target = take.targets()
        pred = animator.animate(samples, dataset.fps,
                                fixed if fixed is not None else label_emotion(ckpt, take))
        n = min(len(pred), len(target))
        pred, target = pred[:n], target[:n]
        if dataset.kind == "vertices":
            target = target - dataset.template
        phonemes = take.meta.get("phonemes")
        pieces = {"position_mse": metrics.position(pred, target),
                  "motion_mse": metrics.motion(pred, target),
                  "rest_in_silence": metrics.rest_in_silence(
                      pred, target, metrics.silent_frames(n, dataset.fps, phonemes, samples,
                                                          SAMPLE_RATE))}
        if dataset.kind == "weights":
            pieces["weight_mae"] = metrics.weight_mae(pred, target)
        else:
            pieces["lip_vertex_error"] = metrics.lip_vertex_error(pred, target,
                                                                  dataset.lip_vertices)
        overall.add(pieces, pred, target, phonemes, dataset.fps)
        if by is not None:
            value = take.meta.get(by)
            group = "(none)" if value is None else str(value)  # e.g. silence takes: no language
            if group not in groups:
                groups[group] = _Scores(ckpt, dataset, [])
            groups[group].add(pieces, pred, target, phonemes, dataset.fps)
        if len(curves) < plot_takes:
            curves.append((take.name, pred.reshape(n, -1), target.reshape(n, -1)))
    result = overall.summary()
    if by is not None:
        result["by"] = {k: groups[k].summary() for k in sorted(groups)}
    if not any(t.meta.get("phonemes") for t in takes):
        notes.append("no phoneme timings in these takes: bilabial closure not measured")
    result.update(checkpoint=str(checkpoint_path), data=str(data_dir), emotion=emotion,
                  split=split or ("val" if dataset.split("val") else "all"),
                  lip_contact=animator.contact is not None,
                  notes=notes)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(result, indent=1))
        plot_curves(curves, _column_names(ckpt, dataset), dataset.fps, out_dir)
    return result


class _Scores:
    """Running sums of the per-take metric pieces and bilabial closures over a set of takes."""

    def __init__(self, ckpt, dataset, notes):
        self.totals, self.takes = {}, 0
        self.closure = _ClosureRule(ckpt, dataset, notes)

    def add(self, pieces, pred, target, phonemes, fps):
        self.takes += 1
        for key, (total, count) in pieces.items():
            s, c = self.totals.get(key, (0.0, 0))
            self.totals[key] = (s + total, c + count)
        if phonemes:
            self.closure.add(pred, target, phonemes, fps)

    def summary(self) -> dict:
        result = {k: (s / c if c else None) for k, (s, c) in self.totals.items()}
        return {**result, **self.closure.summary(), "takes": self.takes}


class _ClosureRule:
    """Counts lip closures on bilabials and elsewhere with the lip-gap rule the data supports
    (see metrics.py)."""

    def __init__(self, ckpt, dataset, notes):
        self.kind, self.names, self.template = dataset.kind, dataset.channel_names, dataset.template
        self.upper = dataset.info.get("upper_lip_vertices")
        self.lower = dataset.info.get("lower_lip_vertices")
        # metric name -> [closed in prediction, closed in target, phonemes]
        self.counts = {"bilabial_closure": [0, 0, 0], "closure_elsewhere": [0, 0, 0]}
        self.usable = True
        if self.kind == "weights" and contact_columns(self.names) is None:
            notes.append("no jawOpen/mouthClose channels: bilabial closure not measured")
            self.usable = False
        if self.kind == "vertices" and not (self.upper and self.lower):
            notes.append("dataset.json has no upper_lip_vertices/lower_lip_vertices: "
                         "bilabial closure not measured")
            self.usable = False

    def add(self, pred, target, phonemes, fps):
        if not self.usable:
            return
        if self.kind == "weights":
            gap_p = metrics.weights_lip_gap(pred, self.names)
            gap_t = metrics.weights_lip_gap(target, self.names)
            threshold = metrics.LIP_GAP_CLOSED
        else:
            gap_p = metrics.vertex_lip_gap(pred + self.template, self.upper, self.lower)
            gap_t = metrics.vertex_lip_gap(target + self.template, self.upper, self.lower)
            threshold = metrics.vertex_closed_below(gap_t)
        for name, bilabial in (("bilabial_closure", True), ("closure_elsewhere", False)):
            found = metrics.lip_closures(gap_p, gap_t, phonemes, fps, threshold, bilabial)
            self.counts[name] = [a + b for a, b in zip(self.counts[name], found)]

    def summary(self) -> dict:
        result = {}
        for name, (closed, closed_target, count) in self.counts.items():
            measured = self.usable and count
            result[name] = closed / count if measured else None
            result[f"{name}_target"] = closed_target / count if measured else None
        return {**result, "bilabial_phonemes": self.counts["bilabial_closure"][2]}


def label_emotion(ckpt, take):
    """The database vector named by the take's emotion label; neutral when it has none."""
    label = take.meta.get("emotion")
    return ckpt.emotions.get(label, ckpt.emotions["neutral"])


def _column_names(ckpt, dataset):
    if dataset.kind == "weights":
        return list(dataset.channel_names)
    return [f"v{i}.{axis}" for i in range(len(dataset.template)) for axis in "xyz"]


def plot_curves(curves, names, fps, out_dir, channels=4):
    """One PNG per take: predicted (solid) vs target (dashed) for its most active columns."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    for take, pred, target in curves:
        columns = np.argsort(target.var(axis=0))[::-1][:channels]
        fig, axes = plt.subplots(len(columns), 1, figsize=(10, 1.8 * len(columns)), sharex=True,
                                 squeeze=False)
        t = np.arange(len(pred)) / fps
        for ax, c in zip(axes[:, 0], columns):
            ax.plot(t, target[:, c], "k--", lw=1, label="target")
            ax.plot(t, pred[:, c], "C1", lw=1.2, label="predicted")
            ax.set_ylabel(names[c], rotation=0, ha="right", fontsize=8)
        axes[0, 0].legend(loc="upper right", fontsize=8)
        axes[-1, 0].set_xlabel("seconds")
        fig.suptitle(take)
        fig.tight_layout()
        fig.savefig(Path(out_dir) / f"curves_{take}.png", dpi=80)
        plt.close(fig)


TABLE_METRICS = ("position_mse", "weight_mae", "lip_vertex_error", "motion_mse",
                 "bilabial_closure", "bilabial_closure_target", "closure_elsewhere",
                 "closure_elsewhere_target", "rest_in_silence")


def format_table(result: dict) -> str:
    """Metric rows; with result['by'], one column per group after the overall one."""
    columns = [("all", result), *result.get("by", {}).items()]
    keys = [k for k in TABLE_METRICS if k in result]
    lines = [f"{'metric':<26}" + "".join(f"{name:>12}" for name, _ in columns)]
    lines += [f"{'takes':<26}" + "".join(f"{c['takes']:>12}" for _, c in columns)]
    for k in keys:
        cells = [c.get(k) for _, c in columns]
        lines.append(f"{k:<26}" + "".join(f"{('n/a' if v is None else f'{v:.5g}'):>12}"
                                         for v in cells))
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


def add_arguments(parser):
    parser.add_argument("--checkpoint", help="a2f checkpoint (.safetensors); default: bundled model")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="dataset folder (dataset.json)")
    source.add_argument("--real", metavar="DIR",
                        help="folder of real recordings, NAME.wav + NAME.lab phone labels: lip "
                             "contact on p/b/m, false closures on vowels, r(opening, loudness)")
    parser.add_argument("--cues", metavar="DIR",
                        help="with --real: a peer's Rhubarb Lip Sync cues, NAME.tsv per recording")
    parser.add_argument("--fps", type=float, default=30.0, help="with --real: frame rate (default 30)")
    parser.add_argument("--split", choices=("train", "val"),
                        help="takes to measure (default: val if present, else all)")
    parser.add_argument("--emotion", default="neutral",
                        help=f"NAME[=WEIGHT],... for every take, or '{LABELS}': each take's "
                             "labelled emotion from the checkpoint's database (default neutral)")
    parser.add_argument("--out", help="folder for metrics.json and plots "
                                      "(default: eval_<checkpoint name> beside the checkpoint)")
    parser.add_argument("--plot-takes", type=int, default=3, help="takes to plot (default 3)")
    parser.add_argument("--by", metavar="KEY",
                        help="also report per value of this take metadata key "
                             "(e.g. language, voice, emotion)")
    parser.add_argument("--no-lip-contact", dest="lip_contact", action="store_false",
                        help="measure without the checkpoint's lip contact head (a2f contact)")


def run(args) -> int:
    args.checkpoint = args.checkpoint or str(default_checkpoint())
    if args.real:
        return _run_real(args)
    out = Path(args.out or Path(args.checkpoint).with_name(f"eval_{Path(args.checkpoint).stem}"))
    result = evaluate(args.checkpoint, args.data, args.split, args.emotion, out, args.plot_takes,
                      args.by, args.lip_contact)
    print(format_table(result))
    print(f"wrote {out / 'metrics.json'} and plots in {out}")
    return 0


def _run_real(args) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    animator = Animator(ckpt, args.lip_contact)
    emotion = blend(ckpt.emotions, parse_emotion_spec(args.emotion))
    result = real_speech.evaluate_real(animator, emotion, args.real, args.fps, args.cues)
    print(real_speech.format_report(result))
    return 0
