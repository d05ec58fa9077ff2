"""`a2f emotions`: mine named emotion vectors from a trained checkpoint, and curate them by hand.

    a2f emotions mine CKPT --data DIR [--clusters K] [--max-jitter R] [--max-out-of-range F]
    a2f emotions list CKPT
    a2f emotions add CKPT NAME (--vector V1,V2,... | --blend happy=0.5,sad=0.5)
    a2f emotions rename CKPT OLD NEW
    a2f emotions remove CKPT NAME

Mining follows the paper: the learned per-frame table (stored by `a2f train` as
"training.emotion_table" with each take's rows) is summarised per take; takes sharing an emotion
label are averaged into one candidate, unlabelled takes are clustered (k-means). Each candidate
then animates held-out audio and is dropped when its motion is unstable (frame-to-frame jitter
far above neutral's on the same audio) or implausible (values far outside the training range).
`neutral` is always kept: the 'neutral'-labelled takes' mean, else the mean of the whole table.
"""

import numpy as np

from a2f_core.checkpoint import MAX_EMOTION_VALUE, load_checkpoint, update_metadata
from a2f_core.emotions import blend, parse_emotion_spec
from a2f_core.errors import A2FError
from a2f_core.infer import Animator
from training.dataset import check_compatible, load_dataset

MAX_JITTER_RATIO = 2.0      # drop when mean |second difference| exceeds this times neutral's
MAX_OUT_OF_RANGE = 0.02     # drop when more than this fraction of values leave the range below
RANGE_MARGIN = 0.25         # training range per output value, widened by this fraction each side
RANGE_FLOOR = 0.05          # plus this fraction of the widest output range: values that never
                            # move in training (unused channels) may carry small network noise


def mine(checkpoint_path, data_dir, clusters=4, max_jitter=MAX_JITTER_RATIO,
         max_out_of_range=MAX_OUT_OF_RANGE, seed=0) -> dict:
    """Mine, cull and store the emotion database; returns {'kept': {...}, 'dropped': {...}}."""
    ckpt = load_checkpoint(checkpoint_path)
    table = ckpt.tensors.get("training.emotion_table")
    rows = ckpt.meta.get("training", {}).get("takes")
    if table is None or not rows:
        raise A2FError(f"{checkpoint_path} holds no training emotion table; mine a checkpoint "
                       "written by `a2f train`")
    dataset = load_dataset(data_dir)
    check_compatible(ckpt, dataset)
    candidates = propose(table, rows, clusters, seed)
    held_out = dataset.split("val")
    held_out_note = "val split" if held_out else "no val split: all takes (not held out)"
    culler = _Culler(Animator(ckpt), dataset, held_out or dataset.takes,
                     candidates["neutral"]["vector"])
    kept, dropped = {}, {}
    for name, entry in candidates.items():
        measured = culler.measure(entry["vector"])
        entry = {**entry, "vector": entry["vector"].tolist(), "metrics": measured}
        reasons = [] if name == "neutral" else _reasons(measured, max_jitter, max_out_of_range)
        if reasons:
            dropped[name] = {**entry, "reasons": reasons}
        else:
            kept[name] = entry
    update_metadata(checkpoint_path, emotions=kept, emotion_mining={
        "data": str(data_dir), "held_out": held_out_note, "clusters": clusters,
        "max_jitter_ratio": max_jitter, "max_out_of_range": max_out_of_range,
        "dropped": {k: {"reasons": v["reasons"], "metrics": v["metrics"]}
                    for k, v in dropped.items()}})
    return {"kept": kept, "dropped": dropped, "held_out": held_out_note}


def propose(table, rows, clusters=4, seed=0) -> dict:
    """Candidate name -> {vector (E,), source, takes}: label means, then clusters of the rest."""
    means = {r["name"]: table[r["row0"]:r["row0"] + r["frames"]].mean(0) for r in rows}
    by_label = {}
    for r in rows:
        by_label.setdefault(r.get("label"), []).append(r["name"])
    out = {}
    for label, names in sorted(by_label.items(), key=lambda kv: str(kv[0])):
        if label is not None:
            out[label] = {"vector": np.mean([means[n] for n in names], 0), "source": "label",
                          "takes": names}
    unlabelled = by_label.get(None, [])
    if unlabelled:
        points = np.stack([means[n] for n in unlabelled])
        for k, members in enumerate(kmeans(points, min(clusters, len(points)), seed)):
            out[f"cluster{k + 1}"] = {"vector": points[members].mean(0), "source": "k-means",
                                      "takes": [unlabelled[i] for i in members]}
    if "neutral" not in out:
        out["neutral"] = {"vector": table.mean(0), "source": "mean of the emotion table",
                          "takes": []}
    return out


def kmeans(points, k, seed=0, iterations=50) -> list:
    """Index arrays of k non-empty clusters of (N, E) points (k-means++ seeding, Lloyd steps)."""
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        d = np.min([np.sum((points - c) ** 2, 1) for c in centres], 0)
        centres.append(points[rng.choice(len(points), p=d / d.sum())] if d.sum() > 0
                       else points[rng.integers(len(points))])
    centres = np.stack(centres)
    for _ in range(iterations):
        assign = np.argmin(((points[:, None] - centres[None]) ** 2).sum(2), 1)
        new = np.stack([points[assign == j].mean(0) if (assign == j).any() else centres[j]
                        for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    return [np.flatnonzero(assign == j) for j in range(k) if (assign == j).any()]


class _Culler:
    """Animates held-out takes with a candidate vector and measures how its motion behaves."""

    def __init__(self, animator, dataset, takes, neutral):
        self.animator, self.fps = animator, dataset.fps
        self.audio = [t.audio() for t in takes]
        train = np.concatenate([_flat(t.targets(), dataset.template)
                                for t in dataset.split("train") or dataset.takes])
        lo, hi = train.min(0), train.max(0)
        margin = RANGE_MARGIN * (hi - lo) + RANGE_FLOOR * max(float((hi - lo).max()), 1e-6)
        self.lo, self.hi = lo - margin, hi + margin
        self.neutral_out = [self._animate(a, neutral) for a in self.audio]
        self.neutral_jitter = _jitter(self.neutral_out)

    def _animate(self, audio, vector):
        return self.animator.animate(audio, self.fps, vector).reshape(-1, len(self.lo))

    def measure(self, vector) -> dict:
        outs = [self._animate(a, vector) for a in self.audio]
        values = np.concatenate(outs)
        outside = np.mean((values < self.lo) | (values > self.hi))
        effect = np.sqrt(np.mean((values - np.concatenate(self.neutral_out)) ** 2))
        return {"jitter_ratio": round(_jitter(outs) / max(self.neutral_jitter, 1e-12), 4),
                "out_of_range": round(float(outside), 4),
                "rms_change_from_neutral": round(float(effect), 6)}


def _reasons(measured, max_jitter, max_out_of_range) -> list:
    reasons = []
    if measured["jitter_ratio"] > max_jitter:
        reasons.append(f"unstable: frame-to-frame jitter is {measured['jitter_ratio']:.2f}x "
                       f"neutral's on the same audio (limit {max_jitter:g}x)")
    if measured["out_of_range"] > max_out_of_range:
        reasons.append(f"implausible: {measured['out_of_range']:.1%} of output values lie "
                       f"outside the training range (limit {max_out_of_range:.1%})")
    return reasons


def _jitter(outputs) -> float:
    """Mean |second difference| over frames: acceleration, which shaky motion inflates."""
    d2 = [np.abs(np.diff(o, 2, axis=0)) for o in outputs if len(o) > 2]
    return float(np.mean(np.concatenate(d2))) if d2 else 0.0


def _flat(targets, template):
    targets = targets if template is None else targets - template
    return targets.reshape(len(targets), -1)


# --- hand curation ----------------------------------------------------------------------------
def list_emotions(path) -> dict:
    return load_checkpoint(path).meta["emotions"]


def add_emotion(path, name, vector=None, blend_spec=None):
    ckpt = load_checkpoint(path)
    if (vector is None) == (blend_spec is None):
        raise A2FError("give exactly one of --vector or --blend")
    if name in ckpt.emotions:
        raise A2FError(f"{path} already has an emotion {name!r}; remove or rename it first")
    if blend_spec is not None:
        v = blend(ckpt.emotions, parse_emotion_spec(blend_spec))
        entry = {"source": "manual blend", "blend": blend_spec}
    else:
        try:
            v = np.array([float(x) for x in vector.split(",")])  # float64: 1e300 stays finite
        except ValueError:
            raise A2FError(f"--vector must be {ckpt.config.emotion_dim} comma-separated "
                           "numbers") from None
        entry = {"source": "manual vector"}
    if v.shape != (ckpt.config.emotion_dim,) or not (np.abs(v) <= MAX_EMOTION_VALUE).all():
        raise A2FError(f"an emotion vector needs {ckpt.config.emotion_dim} finite numbers "
                       f"between -{MAX_EMOTION_VALUE:g} and {MAX_EMOTION_VALUE:g}, got {v.size}")
    _store(path, {**ckpt.meta["emotions"], name: {"vector": v.tolist(), **entry}})


def rename_emotion(path, old, new):
    database = _existing(path, old)
    if old == "neutral":
        raise A2FError("'neutral' cannot be renamed: every checkpoint needs it")
    if new in database:
        raise A2FError(f"{path} already has an emotion {new!r}")
    _store(path, {(new if k == old else k): v for k, v in database.items()})


def remove_emotion(path, name):
    database = _existing(path, name)
    if name == "neutral":
        raise A2FError("'neutral' cannot be removed: every checkpoint needs it")
    _store(path, {k: v for k, v in database.items() if k != name})


def _existing(path, name) -> dict:
    database = load_checkpoint(path).meta["emotions"]
    if name not in database:
        raise A2FError(f"{path} has no emotion {name!r}; it has: {', '.join(sorted(database))}")
    return database


def _store(path, database):
    if any(not isinstance(k, str) or not k.strip() or "," in k or "=" in k for k in database):
        raise A2FError("emotion names must be non-empty and contain no ',' or '='")
    update_metadata(path, emotions=database)


def add_arguments(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("mine", help="mine emotion vectors from a trained checkpoint's table")
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True, help="the dataset the checkpoint was trained on")
    p.add_argument("--clusters", type=int, default=4, help="k-means clusters for unlabelled takes")
    p.add_argument("--max-jitter", type=float, default=MAX_JITTER_RATIO,
                   help="drop candidates whose jitter exceeds this times neutral's")
    p.add_argument("--max-out-of-range", type=float, default=MAX_OUT_OF_RANGE,
                   help="drop candidates with more than this fraction of values out of range")
    p = sub.add_parser("list", help="show the checkpoint's emotion database")
    p.add_argument("checkpoint")
    p = sub.add_parser("add", help="add a named vector, given directly or as a blend")
    p.add_argument("checkpoint")
    p.add_argument("name")
    p.add_argument("--vector", help="E comma-separated numbers")
    p.add_argument("--blend", help="NAME=WEIGHT,... of existing emotions")
    p = sub.add_parser("rename", help="rename an emotion")
    p.add_argument("checkpoint")
    p.add_argument("old")
    p.add_argument("new")
    p = sub.add_parser("remove", help="remove an emotion (never 'neutral')")
    p.add_argument("checkpoint")
    p.add_argument("name")


def run(args) -> int:
    if args.action == "mine":
        report = mine(args.checkpoint, args.data, args.clusters, args.max_jitter,
                      args.max_out_of_range)
        print(f"held-out audio: {report['held_out']}")
        for name, entry in report["kept"].items():
            print(f"kept    {name:<16} {entry['source']:<24} {_metrics_text(entry['metrics'])}")
        for name, entry in report["dropped"].items():
            print(f"dropped {name:<16} {'; '.join(entry['reasons'])}")
    elif args.action == "list":
        for name, entry in list_emotions(args.checkpoint).items():
            print(f"{name:<16} {entry.get('source', ''):<24} "
                  f"{_metrics_text(entry.get('metrics', {}))}")
    elif args.action == "add":
        add_emotion(args.checkpoint, args.name, args.vector, args.blend)
    elif args.action == "rename":
        rename_emotion(args.checkpoint, args.old, args.new)
    else:
        remove_emotion(args.checkpoint, args.name)
    return 0


def _metrics_text(measured: dict) -> str:
    return " ".join(f"{k}={v:g}" for k, v in measured.items())
