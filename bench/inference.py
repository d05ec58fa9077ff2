"""Numpy inference (shared formant grid) against the naive per-window torch evaluation, and
against the machine's FLOP limit: the network's multiply-adds at the speed of one large sgemm."""

import time

import numpy as np

from a2f_core.checkpoint import load_checkpoint, random_checkpoint
from a2f_core.config import ModelConfig
from a2f_core.features import GridFeatures, window_starts
from a2f_core.infer import Animator
from a2f_core.models import DEFAULT_WEIGHTS


def best_of(fn, repeats=3) -> float:
    """Fastest of a few runs: the least disturbed by whatever else the machine is doing."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def multiply_adds_per_minute(config: ModelConfig = ModelConfig(), fps=30.0) -> float:
    """Multiply-adds of the shared evaluation for one audio minute: the formant network and
    articulation layers 0-1 once per 8 ms grid frame, the rest once per video frame."""
    grid, windows = 60 * config.sample_rate / config.hop_length, 60 * fps
    formant, c_in, length = 0, 1, config.lags
    for i, c_out in enumerate(config.formant_channels):
        last = i == len(config.formant_channels) - 1
        length_out = 1 if last else length // 2
        formant += length_out * c_in * (length if last else 3) * c_out
        c_in, length = c_out, length_out
    width, e = config.articulation_channels, config.emotion_dim
    shared = 2 * 3 * width * width
    per_window, length = 0, config.window_frames // 4
    while length > 4:
        length //= 2
        per_window += length * 3 * (width + e) * width
    per_window += 4 * (width + e) * width + (width + e) * config.hidden_size
    per_window += config.hidden_size * config.output_size
    return grid * (formant + shared) + windows * per_window


def sgemm_flops(n=2048) -> float:
    """FLOP/s of one large float32 matrix product: what BLAS reaches on this machine."""
    a = np.random.default_rng(0).standard_normal((n, n), np.float32)
    return 2 * n ** 3 / best_of(lambda: a @ a, repeats=5)


def run(speech: np.ndarray, workdir) -> list:
    """Rows (label, value, unit) for 60 s of 16 kHz speech."""
    import torch

    from a2f_core.torch.model import A2FNet

    ckpt = load_checkpoint(random_checkpoint(workdir / "bench.safetensors"))
    animator = Animator(ckpt)
    emotion = ckpt.emotions["neutral"]
    minutes = len(speech) / 16000 / 60
    numpy_s = best_of(lambda: animator.animate(speech, 30.0, emotion), repeats=5)
    limit_s = 2 * multiply_adds_per_minute(ckpt.config) / sgemm_flops()

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
    shipped = load_checkpoint(DEFAULT_WEIGHTS)
    listening, deaf = (best_of(lambda: Animator(shipped, contact).animate(
        speech, 30.0, shipped.emotions["neutral"])) for contact in (True, False))
    return [
        ("numpy inference (shared grid)", numpy_s / minutes, "s per audio minute (target <= 0.3)"),
        ("FLOP limit (multiply-adds at sgemm speed)", limit_s, "s per audio minute"),
        ("fraction of the FLOP limit reached", limit_s / (numpy_s / minutes), ""),
        ("torch per-window (naive)", torch_s / minutes, "s per audio minute"),
        ("speed-up over naive", torch_s / numpy_s, "x"),
        ("default model with its lip contact head and detector", listening / minutes,
         "s per audio minute"),
        ("time with the head against without", listening / deaf, "x"),
    ]
