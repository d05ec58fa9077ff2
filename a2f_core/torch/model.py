"""The Karras 2017 network in torch, for training and parity tests (the add-on uses infer.py).

Tensors are (batch, channels, length). The formant network looks at one audio frame's 32
autocorrelation lags, so it runs on grid frames as a batch; the articulation network slides over
the 64 frames of each window, with the emotion vector appended after every layer.
"""

import numpy as np
import torch
from torch import nn

from ..config import ModelConfig, articulation_layers, parameter_shapes

NOISE_BASE = 1.4  # the paper's training noise: each feature map times NOISE_BASE ** N(0, 1)


class A2FNet(nn.Module):
    def __init__(self, config: ModelConfig, noise_base: float = NOISE_BASE):
        super().__init__()
        self.config = config
        self.noise_base = noise_base  # 1.0 turns the training noise off
        shapes = parameter_shapes(config)
        n_formant, n_art = len(config.formant_channels), articulation_layers(config)
        # Stride-2 convs with padding 1 halve the length; the last layer of each collapses it.
        self.formant = nn.ModuleList(
            _conv(shapes[f"formant.{i}.weight"], last=i == n_formant - 1) for i in range(n_formant))
        self.articulation = nn.ModuleList(
            _conv(shapes[f"articulation.{i}.weight"], last=i == n_art - 1) for i in range(n_art))
        self.output = nn.Sequential(
            nn.Linear(*shapes["output.0.weight"][::-1]), nn.Linear(*shapes["output.1.weight"][::-1]))
        # He initialisation with zero biases keeps the signal's scale through ten ReLU layers;
        # torch's default shrinks it about 2x per layer, leaving the articulation output constant.
        for conv in (*self.formant, *self.articulation):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)

    def formants(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, K) autocorrelation frames -> (N, 256) formant features, one per audio frame."""
        x = frames.unsqueeze(1)
        for conv in self.formant:
            x = self._noise(torch.relu(conv(x)))
        return x.squeeze(-1)

    def hidden(self, windows: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        """(B, 64, 256) formant features of each window, (B, E) emotion -> (B, 150)."""
        x = windows.transpose(1, 2)
        for conv in self.articulation:
            x = self._noise(torch.relu(conv(x)))
            x = torch.cat([x, emotion[:, :, None].expand(-1, -1, x.shape[2])], dim=1)
        return self.output[0](x.squeeze(-1))

    def forward(self, windows: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        """Per-window evaluation: (B, 64, K) autocorrelation windows -> (B, output_size)."""
        b, t, k = windows.shape
        formants = self.formants(windows.reshape(b * t, k)).reshape(b, t, -1)
        return self.output[1](self.hidden(formants, emotion))

    def forward_grid(self, grid: torch.Tensor, starts: torch.Tensor, emotion: torch.Tensor):
        """Shared evaluation: (G, K) grid features, (B,) window starts, (B, E) -> (B, output_size).

        The formant network runs once per grid frame and its output is shared by every window.
        """
        return self.output[1](self.hidden_grid(grid, starts, emotion))

    def hidden_grid(self, grid: torch.Tensor, starts: torch.Tensor, emotion: torch.Tensor):
        """`forward_grid` up to the (B, 150) hidden layer."""
        formants = self.formants(grid)
        index = starts[:, None] + torch.arange(self.config.window_frames, device=grid.device)
        return self.hidden(formants[index], emotion)

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        """Multiplicative noise per feature map (sample, channel), in training mode only."""
        if not self.training or self.noise_base == 1.0:
            return x
        return x * self.noise_base ** torch.randn(x.shape[0], x.shape[1], 1, device=x.device)

    def numpy_tensors(self) -> dict:
        """State dict as float32 numpy arrays, ready for checkpoint.save_checkpoint."""
        return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in self.state_dict().items()}

    def load_numpy_tensors(self, tensors: dict):
        self.load_state_dict({k: torch.tensor(np.asarray(tensors[k], np.float32))
                              for k in self.state_dict()})

    @torch.no_grad()
    def pca_init(self, targets: np.ndarray, max_rows: int = 50_000, max_values: int = 50_000_000,
                 seed: int = 0):
        """Initialise the last layer from the top principal components of (N, output) targets.

        Columns are the components scaled by their standard deviations and the bias is the mean,
        so unit-scale hidden activations span the training motion from the first step. A random
        subset of at most max_rows frames and max_values numbers is used, so vertex data
        (thousands of values per frame) costs hundreds of megabytes here, not tens of gigabytes.
        """
        y = np.asarray(targets).reshape(len(targets), -1)
        max_rows = min(max_rows, max(max_values // y.shape[1], 4 * self.config.hidden_size))
        if len(y) > max_rows:
            y = y[np.random.default_rng(seed).choice(len(y), max_rows, replace=False)]
        y = y.astype(np.float64)
        mean = y.mean(axis=0)
        _, s, vt = np.linalg.svd(y - mean, full_matrices=False)
        k = min(self.config.hidden_size, len(s))
        weight = np.zeros((y.shape[1], self.config.hidden_size))
        weight[:, :k] = vt[:k].T * (s[:k] / np.sqrt(max(len(y) - 1, 1)))
        self.output[1].weight.copy_(torch.from_numpy(weight).float())
        self.output[1].bias.copy_(torch.from_numpy(mean).float())


def _conv(shape, last: bool) -> nn.Conv1d:
    """Conv for an (out, in, kernel) weight: stride 2 + padding 1, or a collapsing last layer."""
    out_channels, in_channels, kernel = shape
    if last:
        return nn.Conv1d(in_channels, out_channels, kernel, stride=kernel)
    return nn.Conv1d(in_channels, out_channels, kernel, stride=2, padding=1)
