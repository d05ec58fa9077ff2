"""Which target frames have the lips touching: the frames `closure_weight` counts K times and
`contact_loss` teaches the hidden layer to tell.

Contact lasts a few frames per /p b m/ (about 2% of speech), and a mean squared error trained for
a few epochs averages it into a near miss; weighting these frames is what closes the lips
(docs/notes/training-experiments.md, "Lip contact"). The vertex rule is `a2f eval`'s (metrics.vertex_closed_below);
the weights rule asks for contact, stricter than eval's near-closure (jawOpen - mouthClose < 0.1).
"""

import numpy as np
import torch
from torch import nn

from a2f_core.contact import contact_columns
from a2f_core.errors import A2FError
from training import metrics


class ShutLips(nn.Module):
    """(B, outputs) training targets -> (B,) 1.0 where the lips touch, else 0.0.

    Weights: mouthClose > 0.01 and jawOpen - mouthClose < 0.02 (a resting face, both zero, does
    not count). Vertices: the distance between the upper- and lower-lip centroids is within
    VERTEX_CLOSED_FRACTION of its 5-95 percentile range over the training frames.
    """

    def __init__(self, dataset, targets: np.ndarray):
        """targets: (frames, outputs) training targets as the network sees them (offsets from
        the template for vertex data), to place the vertex threshold."""
        super().__init__()
        self.kind = dataset.kind
        if self.kind == "weights":
            columns = contact_columns(dataset.channel_names)
            if columns is None:
                raise A2FError("closure_weight and contact_loss need jawOpen and mouthClose "
                               "channels in weights data; set them to 1.0 and 0 for this dataset")
            self.jaw, self.close = columns
            return
        upper, lower = (dataset.info.get(k) for k in ("upper_lip_vertices", "lower_lip_vertices"))
        if not (upper and lower):
            raise A2FError("closure_weight and contact_loss need upper_lip_vertices and "
                           "lower_lip_vertices in the vertex dataset's dataset.json; set them to "
                           "1.0 and 0 for this dataset")
        # the centroid difference is linear in the offsets: one (outputs, 3) product per batch
        selector = np.zeros((len(dataset.template), 3, 3), np.float32)
        np.add.at(selector, np.asarray(upper), np.eye(3, dtype=np.float32) / len(upper))
        np.add.at(selector, np.asarray(lower), -np.eye(3, dtype=np.float32) / len(lower))
        selector = selector.reshape(-1, 3)
        rest = dataset.template[upper].mean(0) - dataset.template[lower].mean(0)
        self.threshold = metrics.vertex_closed_below(np.linalg.norm(targets @ selector + rest,
                                                                    axis=1))
        self.register_buffer("selector", torch.from_numpy(selector), persistent=False)
        self.register_buffer("rest", torch.from_numpy(rest.astype(np.float32)), persistent=False)

    def forward(self, targets: torch.Tensor) -> torch.Tensor:
        if self.kind == "weights":
            jaw, close = targets[:, self.jaw], targets[:, self.close]
            shut = (close > 0.01) & (jaw - close < 0.02)
        else:
            shut = torch.linalg.vector_norm(targets @ self.selector + self.rest, dim=1) < \
                self.threshold
        return shut.to(targets.dtype)
