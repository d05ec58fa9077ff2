"""Numpy inference (shared formant grid) against the naive per-window torch evaluation."""

import time

import numpy as np

from a2f_core.checkpoint import load_checkpoint, random_checkpoint
from a2f_core.features import GridFeatures, window_starts
from a2f_core.infer import Animator


def best_of(fn, repeats=3) -> float:
    """Fastest of a few runs: the least disturbed by whatever else the machine is doing."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(speech: np.ndarray, workdir) -> list:
    """Rows (label, value, unit) for 60 s of 16 kHz speech."""
    import torch

    from a2f_core.model import A2FNet

    ckpt = load_checkpoint(random_checkpoint(workdir / "bench.safetensors"))
    animator = Animator(ckpt)
    emotion = ckpt.emotions["neutral"]
    minutes = len(speech) / 16000 / 60
    numpy_s = best_of(lambda: animator.animate(speech, 30.0, emotion))

    net = A2FNet(ckpt.config)
    net.load_numpy_tensors(ckpt.tensors)
    net.eval()
    n = animator.frame_count(speech, 30.0)
    grid = GridFeatures(speech)

    def naive():
        windows = np.stack([grid.frames(s, s + 64) for s in window_starts(n, 30.0)])
        e = torch.from_numpy(np.tile(emotion, (n, 1)))
        with torch.no_grad():
            for i in range(0, n, 256):
                net(torch.from_numpy(windows[i:i + 256]), e[i:i + 256])

    torch_s = best_of(naive, repeats=1)
    return [
        ("numpy inference (shared grid)", numpy_s / minutes, "s per audio minute"),
        ("torch per-window (naive)", torch_s / minutes, "s per audio minute"),
        ("speed-up over naive", torch_s / numpy_s, "x"),
    ]
