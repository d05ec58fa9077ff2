"""`a2f contact CKPT --data DIR`: train a weights checkpoint's lip contact head (a2f_core/contact.py).

The head is a logistic unit on the hidden layer and on the logit of its detector, a small conv
net on log-mel bands trained first on every training take (detector.py). The unit is fitted to
the frames whose target lips touch (the `closure_weight` rule, shut_lips.py) with each take
animated at every emotion in the checkpoint's database, so fit it after `a2f emotions mine`. The
emotion moves the hidden layer too, and whether the lips touch is a matter of the speech, not of
the mood: a head fitted at each take's own emotion alone hears less under the emotions that move
the face most (docs/notes/training-experiments.md, "Where closures are missed"). Its ramp is
centred where it shuts the lips on as many frames as the data does. The unit's fit needs only
the hidden states of the takes, not training; the detector's training takes most of the time.
"""

from dataclasses import replace

import numpy as np
import torch
from tqdm import tqdm

from a2f_core import contact
from a2f_core.checkpoint import load_checkpoint, update_metadata
from a2f_core.errors import A2FError, DatasetError
from a2f_core.features import GridFeatures, window_starts
from a2f_core.infer import Animator
from training.dataset import check_compatible, load_dataset
from training.lip_contact.detector import train_detector
from training.lip_contact.shut_lips import ShutLips

DEFAULT_MINUTES = 60.0  # of the first training takes: ~100k frames an emotion for 151 numbers
DEFAULT_WIDTH = 0.2     # probability band over which the lips go from open to shut
DEFAULT_EPOCHS = 12     # of the detector over all training takes (0: no detector)
DETECTOR_CHANNELS = 64
L2 = 1e-4               # on the standardised weights


def fit(checkpoint_path, data_dir, minutes=DEFAULT_MINUTES, width=DEFAULT_WIDTH,
        epochs=DEFAULT_EPOCHS, seed=0) -> dict:
    """Train the detector on the dataset's training takes (unless epochs is 0), fit the unit on
    the first `minutes` of them and store the head in the checkpoint, replacing any it had;
    returns its metadata entry."""
    ckpt = load_checkpoint(checkpoint_path)
    if not contact.supported(ckpt.kind, ckpt.channel_names):
        raise A2FError(f"{checkpoint_path}: {contact.UNSUPPORTED}")
    if not 0 <= width <= 1:
        raise A2FError(f"--width must be in [0, 1], got {width}")
    if epochs < 0:
        raise A2FError(f"--epochs must be 0 or more, got {epochs}")
    dataset = load_dataset(data_dir)
    check_compatible(ckpt, dataset)
    train = replace(dataset, takes=dataset.split("train") or dataset.takes)
    detector = train_detector(train, train.takes, ckpt.config, epochs, DETECTOR_CHANNELS,
                              seed) if epochs else {}  # its tensors
    try:
        fitting = train.first_minutes(minutes)
    except DatasetError:  # fewer minutes than that: all of them
        fitting = train
    inputs, shut = _frames(Animator(ckpt, lip_contact=False), ckpt, fitting,
                           contact.ContactDetector(detector) if detector else None)
    if not 0 < shut.sum() < len(shut):
        raise A2FError(f"{data_dir}: the lips touch in {int(shut.sum())} of {len(shut)} target "
                       "frames; fitting contact needs frames of both kinds")
    weight, bias = _logistic(inputs, shut)
    p = contact.sigmoid(inputs @ weight + bias)
    entry = {"center": float(np.quantile(p, 1.0 - shut.mean())), "width": float(width),
             "data": str(data_dir), "takes": len(fitting.takes), "emotions": sorted(ckpt.emotions),
             "frames": len(shut), "contact_rate": float(shut.mean()), "frame_auc": auc(shut, p),
             "detector_epochs": epochs, "detector_takes": len(train.takes) if epochs else 0}
    update_metadata(checkpoint_path, drop=contact.tensor_names(ckpt.tensors),
                    tensors={contact.WEIGHT: weight, contact.BIAS: np.array([bias], np.float32),
                             **detector}, **{contact.META: entry})
    return entry


def _frames(animator, ckpt, dataset, detector):
    """(frames, hidden [+ 1]) hidden states of every take at every database emotion, with the
    detector's logit as the last column when there is one; (frames,) lips touching."""
    rule = ShutLips(dataset, None)
    inputs, shut = [], []
    window = ckpt.config.window_frames
    for take in tqdm(dataset.takes, desc="hidden states", unit="take", disable=None):
        samples, targets = take.audio(), take.targets()
        n = min(animator.frame_count(samples, dataset.fps), len(targets))
        if n == 0:
            continue
        touching = rule(torch.from_numpy(targets[:n])).numpy()
        logit = []  # the detector's column, the same at every emotion
        if detector:
            mel = contact.detector_bands(samples, GridFeatures(samples, ckpt.config))
            starts = window_starts(n, dataset.fps, 0.0, ckpt.config)
            logit = [detector.at_windows(mel, starts, window)[:, None]]
        chunks = animator.iter_hidden_at(samples, dataset.fps, list(ckpt.emotions.values()))
        for h in zip(*(per_emotion for _, per_emotion in chunks)):  # emotion by emotion
            inputs.append(np.concatenate([np.concatenate(h)[:n], *logit], axis=1))
            shut.append(touching)
    if not inputs:
        raise A2FError(f"{dataset.root}: no take is long enough to animate a frame")
    return np.concatenate(inputs), np.concatenate(shut)


def _logistic(x, y):
    """L2-regularised logistic regression (L-BFGS on standardised inputs), returned in the raw
    inputs' units: (weight (D,) float32, bias float)."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    xs = torch.from_numpy((x - mean) / std).float()
    ys = torch.from_numpy(y).float()
    w = torch.zeros(x.shape[1], requires_grad=True)
    c = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, c], max_iter=200, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(xs @ w + c, ys) \
            + L2 * (w ** 2).sum()
        value.backward()
        return value

    opt.step(loss)
    weight = w.detach().numpy() / std
    return weight.astype(np.float32), float(c.item() - weight @ mean)


def auc(labels, scores) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative."""
    labels = np.asarray(labels, bool)
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="mergesort")] = np.arange(1, len(scores) + 1)
    n = labels.sum()
    return float((ranks[labels].sum() - n * (n + 1) / 2) / (n * (len(labels) - n)))


def add_arguments(parser):
    parser.add_argument("checkpoint", help="weights checkpoint (.safetensors), updated in place")
    parser.add_argument("--data", required=True,
                        help="dataset with jawOpen and mouthClose targets (e.g. its training data)")
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES,
                        help=f"of the first training takes to fit on (default {DEFAULT_MINUTES:g})")
    parser.add_argument("--width", type=float, default=DEFAULT_WIDTH,
                        help="probability band over which the lips close; 0 is a switch "
                             f"(default {DEFAULT_WIDTH})")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                        help="of the log-mel detector over all training takes; 0 fits the head "
                             f"on the hidden layer alone (default {DEFAULT_EPOCHS})")
    parser.add_argument("--seed", type=int, default=0, help="of the detector's training")


def run(args) -> int:
    entry = fit(args.checkpoint, args.data, args.minutes, args.width, args.epochs, args.seed)
    print(f"{args.checkpoint}: lip contact head fitted on {entry['frames']} frames of "
          f"{entry['takes']} takes at {len(entry['emotions'])} emotions (lips touch in "
          f"{entry['contact_rate']:.1%}); frame AUC {entry['frame_auc']:.3f}, ramp centred at "
          f"p = {entry['center']:.3f}")
    return 0
