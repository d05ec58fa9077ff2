"""The paper's three loss terms and the Adam-style normaliser that balances them (torch)."""

import torch
from torch import nn


def position_loss(pred: torch.Tensor, target: torch.Tensor, frame_weight=None,
                  power: float = 2.0) -> torch.Tensor:
    """P = mean(|yhat - y|^power) over every frame and output value; frame_weight (B,) scales
    each frame's share (1 everywhere and power 2 is the paper's loss)."""
    error = (pred - target).abs() ** power
    return torch.mean(error if frame_weight is None else error * frame_weight[:, None])


def motion_loss(pred0, pred1, target0, target1) -> torch.Tensor:
    """M = mean(((yhat1 - yhat0) - (y1 - y0))^2): frame-to-frame motion must match too."""
    return torch.mean(((pred1 - pred0) - (target1 - target0)) ** 2)


def emotion_loss(e0: torch.Tensor, e1: torch.Tensor) -> torch.Tensor:
    """R = mean((e1 - e0)^2) / mean(e^2): emotion varies slowly; the ratio stops shrinking e."""
    energy = torch.mean(torch.cat([e0, e1]) ** 2)
    return torch.mean((e1 - e0) ** 2) / (energy + 1e-12)


class LossNormalizer(nn.Module):
    """Divides a loss term by the running RMS of its own values, as Adam does with gradients.

    v <- beta v + (1 - beta) l^2; vhat = v / (1 - beta^t); lhat = l / (sqrt(vhat) + eps).
    The state is a buffer, so it is saved for resuming and carries no gradient.
    """

    def __init__(self, beta: float = 0.99, eps: float = 1e-8):
        super().__init__()
        self.beta, self.eps = beta, eps
        self.register_buffer("v", torch.zeros((), dtype=torch.float64))
        self.register_buffer("t", torch.zeros((), dtype=torch.int64))

    def forward(self, loss: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.t += 1
            self.v.mul_(self.beta).add_((1 - self.beta) * loss.detach().double() ** 2)
            vhat = self.v / (1 - self.beta ** self.t.double())
        return loss / (torch.sqrt(vhat).to(loss.dtype) + self.eps)
