"""Training the lip contact head's detector (a2f_core/contact.py, `ContactDetector`): a dilated
conv net that tells, from log-mel bands alone, the grid frames whose target lips touch.

It trains on every grid frame of the training takes, labelled by the nearest video frame, in
random crops. The tensors it returns are the numpy detector's, so `a2f contact` stores them as
they are.
"""

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from a2f_core import contact
from a2f_core.errors import A2FError
from a2f_core.features import MEL_BANDS, GridFeatures, pad_samples
from training.lip_contact.shut_lips import ShutLips

CROP = 400          # grid frames (3.2 s) a crop is scored on
BATCH = 32
PEAK_LR = 2e-3      # one-cycle schedule
UNLABELLED = -1.0   # grid frames further than NEAREST from any video frame (past the last one)
NEAREST = 3         # grid frames (24 ms)


class DetectorNet(nn.Module):
    """The numpy detector's layers in torch; `tensors()` gives them under the checkpoint's names."""

    def __init__(self, channels: int, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        widths = [MEL_BANDS] + [channels] * len(contact.DILATIONS)
        self.convs = nn.ModuleList(nn.Conv1d(c_in, c_out, contact.KERNEL, dilation=d) for
                                   c_in, c_out, d in zip(widths, widths[1:], contact.DILATIONS))
        self.out = nn.Conv1d(channels, 1, 1)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32)[:, None])
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32)[:, None])

    def forward(self, bands: torch.Tensor) -> torch.Tensor:
        """(B, MEL_BANDS, L + 2 MARGIN) -> (B, L) logits."""
        x = (bands - self.mean) / self.std
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.out(x)[:, 0]

    def tensors(self) -> dict:
        layers = [*self.convs, self.out]
        named = {contact.DETECTOR + "mean": self.mean[:, 0],
                 contact.DETECTOR + "std": self.std[:, 0]}
        for i, conv in enumerate(layers):
            named[f"{contact.DETECTOR}{i}.weight"] = conv.weight
            named[f"{contact.DETECTOR}{i}.bias"] = conv.bias
        return {k: v.detach().numpy().astype(np.float32) for k, v in named.items()}


def take_bands(samples: np.ndarray, config) -> np.ndarray:
    """(G + 2 MARGIN, MEL_BANDS) log-mel bands of a whole take, as the detector reads them."""
    features = GridFeatures(samples, config)
    mel = contact.detector_bands(samples, features)
    return mel.frames(-contact.MARGIN, features.grid_length + contact.MARGIN)


def grid_labels(shut: np.ndarray, fps: float, grid_length: int, config) -> np.ndarray:
    """(G,) per grid frame: `shut` of the video frame whose time is nearest the grid frame's
    centre, UNLABELLED where none is within NEAREST grid frames."""
    centre = (np.arange(grid_length) * config.hop_length - pad_samples(config)
              + config.frame_length / 2) / config.sample_rate
    nearest = np.clip(np.round(centre * fps).astype(np.int64), 0, len(shut) - 1)
    labels = shut[nearest].astype(np.float32)
    labels[np.abs(nearest / fps - centre) * config.sample_rate > NEAREST * config.hop_length] = \
        UNLABELLED
    return labels


def train_detector(dataset, takes, config, epochs: int, channels: int = 64, seed: int = 0) -> dict:
    """Train on `takes` of `dataset` (weights or vertices); returns the detector's tensors."""
    rule = ShutLips(dataset, None)
    bands, labels = [], []
    for take in tqdm(takes, desc="log-mel bands", unit="take", disable=None):
        samples, targets = take.audio(), take.targets()
        if len(targets) == 0:
            continue
        b = take_bands(samples, config)
        shut = rule(torch.from_numpy(targets)).numpy()
        bands.append(b)
        labels.append(grid_labels(shut, dataset.fps, len(b) - 2 * contact.MARGIN, config))
    if not bands:
        raise A2FError(f"{dataset.root}: no take has target frames to train the detector on")
    inner = np.concatenate([b[contact.MARGIN:-contact.MARGIN] for b in bands])
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = DetectorNet(channels, inner.mean(0), inner.std(0) + 1e-3)
    crops = [(i, s) for i, y in enumerate(labels) for s in range(0, len(y), CROP)]
    steps = max(len(crops) // BATCH, 1)
    opt = torch.optim.Adam(net.parameters(), PEAK_LR)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, PEAK_LR, total_steps=epochs * steps)
    net.train()
    with tqdm(total=epochs * steps, desc="contact detector", unit="step", disable=None) as bar:
        for _ in range(epochs):
            order = rng.permutation(len(crops))
            for step in range(steps):
                x, y = _batch([crops[k] for k in order[step * BATCH:(step + 1) * BATCH]],
                              bands, labels, rng)
                z = net(x)
                known = y != UNLABELLED
                loss = nn.functional.binary_cross_entropy_with_logits(z[known], y[known])
                opt.zero_grad()
                loss.backward()
                opt.step()
                schedule.step()
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    return net.tensors()


def _batch(crops, bands, labels, rng):
    """(B, MEL_BANDS, CROP + 2 MARGIN) bands and (B, CROP) labels of crops shifted at random
    within their take, padded with UNLABELLED silence past its end."""
    margin = contact.MARGIN
    x = np.empty((len(crops), CROP + 2 * margin, MEL_BANDS), np.float32)
    y = np.full((len(crops), CROP), UNLABELLED, np.float32)
    for row, (i, start) in enumerate(crops):
        start = min(start + int(rng.integers(CROP)), max(len(labels[i]) - CROP, 0))
        piece = bands[i][start:start + CROP + 2 * margin]
        x[row, :len(piece)] = piece
        x[row, len(piece):] = bands[i][-1]  # the silence after the take
        label = labels[i][start:start + CROP]
        y[row, :len(label)] = label
    return torch.from_numpy(x.transpose(0, 2, 1).copy()), torch.from_numpy(y)
