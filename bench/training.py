"""Training throughput (item 5): one full step (forward, backward, Adam) of the full-size network.

Shared: a minibatch of 2 runs of 26 consecutive frames (50 adjacent pairs), whose windows index
one formant pass over the grid frames they cover (`A2FNet.forward_grid`, as training/batches.py
batches). Independent: 50 pairs from anywhere, 100 windows with formants evaluated per window.
Targets and features are random: the cost of a step does not depend on them.
"""

import time

import torch

from a2f_core.config import ModelConfig
from a2f_core.torch.model import A2FNet

RUNS, RUN_FRAMES, FPS = 2, 26, 30.0


def step_function(device: str, shared: bool):
    """(frames, step): one training step of a fresh network on a minibatch of either kind."""
    torch.manual_seed(0)
    config = ModelConfig()
    net = A2FNet(config).to(device).train()
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.99))
    hop = config.sample_rate / FPS / config.hop_length  # grid frames per video frame
    span = int(RUN_FRAMES * hop) + config.window_frames
    grid = torch.randn(RUNS * span, config.lags, device=device)
    if shared:  # RUNS runs of RUN_FRAMES consecutive frames
        offsets = (torch.arange(RUN_FRAMES) * hop).round().long()
        starts = torch.cat([r * span + offsets for r in range(RUNS)]).to(device)
    else:  # as many adjacent pairs, each pair from anywhere: two windows per pair
        pairs = RUNS * (RUN_FRAMES - 1)
        first = torch.randint(0, len(grid) - config.window_frames - 5, (pairs,))
        starts = torch.stack([first, first + int(round(hop))], dim=1).reshape(-1).to(device)
    windows = grid[starts[:, None] + torch.arange(config.window_frames, device=device)]
    emotion = torch.randn(len(starts), config.emotion_dim, device=device)
    target = torch.randn(len(starts), config.output_size, device=device)

    def step():
        y = net.forward_grid(grid, starts, emotion) if shared else net(windows, emotion)
        loss = torch.mean((y - target) ** 2) + torch.mean(((y[1:] - y[:-1]) - (target[1:] - target[:-1])) ** 2)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        _sync(device)

    return len(starts), step


def frames_per_second(device: str, steps=6) -> tuple:
    """(shared, independent) frames/s, best of `steps` steps each after a warm-up step; the
    two kinds alternate, so both see the same load from other jobs."""
    kinds = [step_function(device, shared) for shared in (True, False)]
    best = [float("inf")] * 2
    for i in range(steps + 1):
        for k, (_, step) in enumerate(kinds):
            start = time.perf_counter()
            step()
            if i:
                best[k] = min(best[k], time.perf_counter() - start)
    return tuple(frames / t for (frames, _), t in zip(kinds, best))


def run() -> list:
    """Rows (label, value, unit): CPU with torch's threads and with one (which other jobs on
    the machine disturb far less), then CUDA where there is a GPU."""
    rows = []
    threads = torch.get_num_threads()
    settings = [("cpu", n) for n in sorted({threads, 1}, reverse=True)]
    settings += [("cuda", threads)] if torch.cuda.is_available() else []
    for device, n in settings:
        torch.set_num_threads(n)
        shared, independent = frames_per_second(device)
        name = f"{device}, {n} thread{'s' * (n > 1)}" if device == "cpu" else device
        rows += [(f"training {name}: shared formant grid", shared, "frames/s"),
                 (f"training {name}: independent pairs", independent, "frames/s"),
                 (f"training {name}: shared / independent", shared / independent, "x (target >= 3)")]
    torch.set_num_threads(threads)
    if not torch.cuda.is_available():
        rows.append(("training cuda (--device cuda)", float("nan"), "no GPU on this machine"))
    return rows


def _sync(device: str):
    if device == "cuda":
        torch.cuda.synchronize()
