"""Lip contact: a logistic unit on the network's hidden layer that shuts the lips on /p b m/.

Trained for a few epochs, the network stops the lips short of contact wherever it is not sure of
a bilabial (the squared or absolute error asks for the expected pose). Its hidden layer tells
bilabials from other phonemes better than the lip opening it drives
(docs/notes/training-experiments.md, "Lip contact head"), so a logistic unit fitted on that layer after training (`a2f contact`) decides
contact, and the lips are closed the way ARKit closes them with the jaw open: mouthClose rises to
jawOpen. The closing ramps over a band of the unit's probability, so a doubtful frame closes the
lips only part of the way.

The network hears the paper's autocorrelation features, which blur the spectrum a bilabial is
told by. A head may also listen to a small detector of its own (`ContactDetector`): a dilated
conv net on log-mel bands (features.MelFeatures) whose logit is one more input of the unit, and
which hears contact as well as the whole hidden layer does; together they hear it better than
either (docs/notes/training-experiments.md, "Contact detector").
Weights models only (it needs jawOpen and mouthClose).
"""

from dataclasses import dataclass

import numpy as np

from .audio import AudioFile
from .errors import A2FError, CheckpointError
from .features import MEL_BANDS, MelFeatures

WEIGHT, BIAS = "contact.weight", "contact.bias"
META = "lip_contact"  # checkpoint metadata key: {"center", "width", ...how it was fitted}
DETECTOR = "contact.detector."  # tensor prefix: mean, std, then layers 0..len(DILATIONS)
KERNEL, DILATIONS = 5, (1, 2, 4, 8)  # then a 1x1 conv to the logit
MARGIN = (KERNEL - 1) // 2 * sum(DILATIONS)  # grid frames the detector hears on each side (240 ms)
CHANNELS = ("jawopen", "mouthclose")  # matched case-insensitively
SWITCH_WIDTH = 1e-6  # narrower ramps act as a switch (in float32 they would divide by zero)


class ContactDetector:
    """Log-mel bands -> a contact logit per grid frame: dilated convs (kernel KERNEL, no padding)
    with ReLU, then a 1x1 conv. Each logit hears MARGIN grid frames on either side, so a range
    of grid frames is computed from the bands of the range widened by MARGIN, and any split of
    a clip into ranges gives the same logits."""

    def __init__(self, tensors: dict):
        self.mean = np.asarray(tensors[DETECTOR + "mean"], np.float32)
        self.scale = 1.0 / np.asarray(tensors[DETECTOR + "std"], np.float32)
        self.layers = []
        for i in range(len(DILATIONS) + 1):
            w = np.asarray(tensors[f"{DETECTOR}{i}.weight"], np.float32)  # (out, in, kernel)
            taps = np.ascontiguousarray(w.transpose(2, 1, 0).reshape(-1, w.shape[0]))
            self.layers.append((taps, np.asarray(tensors[f"{DETECTOR}{i}.bias"], np.float32)))

    def logits(self, bands: np.ndarray) -> np.ndarray:
        """(G + 2 MARGIN, MEL_BANDS) log-mel bands -> (G,) logits of the G central frames."""
        x = (bands - self.mean) * self.scale
        for (taps, bias), d in zip(self.layers, DILATIONS):
            n = len(x) - (KERNEL - 1) * d
            x = np.maximum(np.concatenate([x[k * d:k * d + n] for k in range(KERNEL)], axis=1)
                           @ taps + bias, 0)
        taps, bias = self.layers[-1]
        return (x @ taps + bias)[:, 0]

    def at_windows(self, mel, starts: np.ndarray, window_frames: int) -> np.ndarray:
        """(T,) logit of each network window: the mean over its two central grid frames.

        mel: features.MelFeatures of the clip; starts: (T,) window starts, ascending."""
        g0 = int(starts[0]) + window_frames // 2 - 1
        g1 = int(starts[-1]) + window_frames // 2 + 1
        grid = self.logits(mel.frames(g0 - MARGIN, g1 + MARGIN))
        centre = starts - g0 + window_frames // 2 - 1
        return 0.5 * (grid[centre] + grid[centre + 1])


def detector_bands(samples, features) -> MelFeatures:
    """The log-mel bands a detector hears of `samples`, at the loudness the network's
    `features` (features.GridFeatures) measured, so it hears every clip at one speech level.
    A streamed clip gets its own reader: both read forward, each at its own pace."""
    own = AudioFile(samples.path) if isinstance(samples, AudioFile) else samples
    return MelFeatures(own, features.gain, features.config)


@dataclass(frozen=True)
class LipContact:
    weight: np.ndarray  # (hidden,) logistic weights on the hidden layer, (hidden + 1,) with a
    bias: float         # detector: the last one weighs its logit
    center: float       # probability at which the lips are half way to contact
    width: float        # probability band over which they go from open to shut (0: a switch)
    jaw: int            # output columns of jawOpen and mouthClose
    close: int
    detector: ContactDetector | None = None

    @classmethod
    def from_checkpoint(cls, ckpt):
        """The checkpoint's head, or None when it has none."""
        if WEIGHT not in ckpt.tensors:
            return None
        info = ckpt.meta[META]
        jaw, close = contact_columns(ckpt.channel_names)
        detector = ContactDetector(ckpt.tensors) if has_detector(ckpt.tensors) else None
        return cls(ckpt.tensors[WEIGHT], float(ckpt.tensors[BIAS][0]), float(info["center"]),
                   float(info["width"]), jaw, close, detector)

    def probability(self, hidden: np.ndarray, heard=None) -> np.ndarray:
        """(T, hidden) and, with a detector, its (T,) logits -> (T,) probability that the lips
        touch."""
        if self.detector is None:
            return sigmoid(hidden @ self.weight + self.bias)
        if heard is None:
            raise A2FError("this lip contact head also listens to its detector: pass the "
                           "detector's logits (Animator.iter_frames computes them)")
        return sigmoid(hidden @ self.weight[:-1] + heard * self.weight[-1] + self.bias)

    def apply(self, hidden: np.ndarray, weights: np.ndarray, heard=None) -> np.ndarray:
        """Close the lips of (T, C) weights in place where the head hears contact; returns them.
        heard: the detector's (T,) logits when the head has one."""
        p = self.probability(hidden, heard)
        shut = (p >= self.center) if self.width < SWITCH_WIDTH else np.clip(
            (p - self.center) / self.width + 0.5, 0.0, 1.0)
        weights[:, self.close] += shut * (weights[:, self.jaw] - weights[:, self.close])
        return weights


def sigmoid(z):
    """The logistic function, written with tanh so large logits do not overflow exp."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def supported(kind: str, channel_names) -> bool:
    """Whether a model of this output kind and channels can carry a head."""
    return kind == "weights" and contact_columns(channel_names) is not None


UNSUPPORTED = "a lip contact head needs a weights model with jawOpen and mouthClose channels"


def contact_columns(channel_names):
    """(jawOpen column, mouthClose column) or None: the channels whose difference is the lip gap."""
    index = {n.lower(): i for i, n in enumerate(channel_names or ())}
    if not all(c in index for c in CHANNELS):
        return None
    return tuple(index[c] for c in CHANNELS)


def has_detector(tensors) -> bool:
    return DETECTOR + "mean" in tensors


def tensor_names(tensors) -> list:
    """The names of the head's tensors among a checkpoint's."""
    return [k for k in tensors if k in (WEIGHT, BIAS) or k.startswith(DETECTOR)]


def detector_shapes(channels: int) -> dict:
    """Name -> shape of a detector's tensors, for `channels` wide hidden convs."""
    shapes = {DETECTOR + "mean": (MEL_BANDS,), DETECTOR + "std": (MEL_BANDS,)}
    c_in = MEL_BANDS
    for i in range(len(DILATIONS)):
        shapes[f"{DETECTOR}{i}.weight"], shapes[f"{DETECTOR}{i}.bias"] = \
            (channels, c_in, KERNEL), (channels,)
        c_in = channels
    shapes[f"{DETECTOR}{len(DILATIONS)}.weight"] = (1, channels, 1)
    shapes[f"{DETECTOR}{len(DILATIONS)}.bias"] = (1,)
    return shapes


def validate(config, tensors: dict, meta: dict):
    """Refuse a head that cannot be applied; called by the checkpoint reader."""
    present = [k for k in (WEIGHT, BIAS) if k in tensors]
    if not present and META not in meta and not tensor_names(tensors):
        return
    if len(present) < 2 or not isinstance(meta.get(META), dict):
        raise CheckpointError(f"a lip contact head needs {WEIGHT}, {BIAS} and '{META}' metadata")
    if not supported(config.output_kind, meta.get("channel_names")):
        raise CheckpointError(UNSUPPORTED)
    shapes = {WEIGHT: (config.hidden_size,), BIAS: (1,)}
    if has_detector(tensors):
        first = tensors.get(DETECTOR + "0.bias")  # its length is the detector's width
        shapes.update(detector_shapes(len(first) if first is not None and first.ndim == 1 else 0))
        shapes[WEIGHT] = (config.hidden_size + 1,)
    for name in sorted(set(tensor_names(tensors)) | set(shapes)):
        if name not in tensors:
            raise CheckpointError(f"the lip contact detector lacks tensor {name}")
        if name not in shapes:
            raise CheckpointError(f"unexpected tensor {name!r}")
        if tensors[name].shape != shapes[name]:
            raise CheckpointError(f"tensor {name} has shape {tensors[name].shape}, "
                                  f"expected {shapes[name]}")
    if has_detector(tensors) and not (tensors[DETECTOR + "std"] > 0).all():
        raise CheckpointError(f"tensor {DETECTOR}std must be positive")
    center, width = (meta[META].get(k) for k in ("center", "width"))
    if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in (center, width)) \
            or not 0 < center < 1 or not 0 <= width <= 1:
        raise CheckpointError(f"'{META}' needs a center in (0, 1) and a width in [0, 1]")
