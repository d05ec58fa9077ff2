"""Lip contact: a logistic unit on the network's hidden layer that shuts the lips on /p b m/.

Trained for a few epochs, the network stops the lips short of contact wherever it is not sure of
a bilabial (the squared or absolute error asks for the expected pose). Its hidden layer tells
bilabials from other phonemes better than the lip opening it drives (docs/training.md, "Lip
contact head"), so a logistic unit fitted on that layer after training (`a2f contact`) decides
contact, and the lips are closed the way ARKit closes them with the jaw open: mouthClose rises to
jawOpen. The closing ramps over a band of the unit's probability, so a doubtful frame closes the
lips only part of the way.
Weights models only (it needs jawOpen and mouthClose).
"""

from dataclasses import dataclass

import numpy as np

from .errors import CheckpointError

WEIGHT, BIAS = "contact.weight", "contact.bias"
META = "lip_contact"  # checkpoint metadata key: {"center", "width", ...how it was fitted}
CHANNELS = ("jawopen", "mouthclose")  # matched case-insensitively
SWITCH_WIDTH = 1e-6  # narrower ramps act as a switch (in float32 they would divide by zero)


@dataclass(frozen=True)
class LipContact:
    weight: np.ndarray  # (hidden,) logistic weights on the hidden layer
    bias: float
    center: float       # probability at which the lips are half way to contact
    width: float        # probability band over which they go from open to shut (0: a switch)
    jaw: int            # output columns of jawOpen and mouthClose
    close: int

    @classmethod
    def from_checkpoint(cls, ckpt):
        """The checkpoint's head, or None when it has none."""
        if WEIGHT not in ckpt.tensors:
            return None
        info = ckpt.meta[META]
        jaw, close = contact_columns(ckpt.channel_names)
        return cls(ckpt.tensors[WEIGHT], float(ckpt.tensors[BIAS][0]), float(info["center"]),
                   float(info["width"]), jaw, close)

    def probability(self, hidden: np.ndarray) -> np.ndarray:
        """(T, hidden) -> (T,) probability that the lips touch."""
        return sigmoid(hidden @ self.weight + self.bias)

    def apply(self, hidden: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Close the lips of (T, C) weights in place where the head hears contact; returns them."""
        p = self.probability(hidden)
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


def validate(config, tensors: dict, meta: dict):
    """Refuse a head that cannot be applied; called by the checkpoint reader."""
    present = [k for k in (WEIGHT, BIAS) if k in tensors]
    if not present and META not in meta:
        return
    if len(present) < 2 or not isinstance(meta.get(META), dict):
        raise CheckpointError(f"a lip contact head needs {WEIGHT}, {BIAS} and '{META}' metadata")
    if not supported(config.output_kind, meta.get("channel_names")):
        raise CheckpointError(UNSUPPORTED)
    for name, shape in ((WEIGHT, (config.hidden_size,)), (BIAS, (1,))):
        if tensors[name].shape != shape:
            raise CheckpointError(f"tensor {name} has shape {tensors[name].shape}, expected {shape}")
    center, width = (meta[META].get(k) for k in ("center", "width"))
    if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in (center, width)) \
            or not 0 < center < 1 or not 0 <= width <= 1:
        raise CheckpointError(f"'{META}' needs a center in (0, 1) and a width in [0, 1]")
