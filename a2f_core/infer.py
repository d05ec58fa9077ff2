"""The network's forward pass in numpy: audio in, per-frame blendshape weights or vertices out.

Each conv becomes one matrix product over all frames of a chunk (im2col, channels last). The
formant network runs once per 8 ms grid frame and its output is shared by every window that
contains the frame; long audio is processed in chunks of video frames, so memory stays bounded.
"""

import numpy as np

from .audio import SAMPLE_RATE
from .checkpoint import Checkpoint
from .config import articulation_layers
from .errors import A2FError
from .features import GridFeatures, frame_count, window_starts


class Animator:
    """Runs one checkpoint's network; create once, call for any number of clips."""

    def __init__(self, checkpoint: Checkpoint):
        self.checkpoint = checkpoint
        self.config = c = checkpoint.config
        t = checkpoint.tensors
        n_formant, n_art = len(c.formant_channels), articulation_layers(c)
        self._formant = [_Conv(t[f"formant.{i}.weight"], t[f"formant.{i}.bias"],
                               last=i == n_formant - 1) for i in range(n_formant)]
        self._articulation = [_Conv(t[f"articulation.{i}.weight"], t[f"articulation.{i}.bias"],
                                    last=i == n_art - 1) for i in range(n_art)]
        self._fc1 = (np.ascontiguousarray(t["output.0.weight"].T), t["output.0.bias"])

    def output_layer(self):
        """(W (out, hidden), b (out,)): output = hidden @ W.T + b, the PCA-initialised basis."""
        return self.checkpoint.tensors["output.1.weight"], self.checkpoint.tensors["output.1.bias"]

    def frame_count(self, samples: np.ndarray, fps: float, start_seconds: float = 0.0) -> int:
        """Frames this clip animates from start_seconds to its end: ceil(duration * fps)."""
        return max(frame_count(len(samples) / SAMPLE_RATE - start_seconds, fps), 0)

    def animate(self, samples, fps, emotion, start_seconds=0.0) -> np.ndarray:
        """(T, C) weights, or (T, V, 3) vertex offsets from the template, for 16 kHz samples.

        emotion: (E,) for the whole clip or (T, E) per frame. Frame i is at start_seconds + i/fps.
        """
        out = [y for _, y in self.iter_frames(samples, fps, emotion, start_seconds)]
        y = np.concatenate(out) if out else np.zeros((0, self.config.output_size), np.float32)
        return y.reshape(len(y), -1, 3) if self.checkpoint.kind == "vertices" else y

    def iter_frames(self, samples, fps, emotion, start_seconds=0.0):
        """Yield (first_frame, (n, output_size)) chunk by chunk, for progress on long audio."""
        w, b = self.output_layer()
        for first, hidden in self.iter_hidden(samples, fps, emotion, start_seconds):
            yield first, hidden @ w.T + b

    def iter_hidden(self, samples, fps, emotion, start_seconds=0.0, chunk_frames=512):
        """Yield (first_frame, (n, hidden) float32) chunk by chunk: progress and cancel points."""
        if not fps or not np.isfinite(fps) or fps <= 0:
            raise A2FError(f"fps must be a positive number, got {fps!r}")
        n = self.frame_count(samples, fps, start_seconds)
        emotion = self._emotion_frames(emotion, n)
        features = GridFeatures(samples, self.config)
        starts = window_starts(n, fps, start_seconds, self.config)
        for first in range(0, n, chunk_frames):
            s = starts[first:first + chunk_frames]
            g0 = int(s[0])
            formants = self.formants(features.frames(g0, int(s[-1]) + self.config.window_frames))
            yield first, self.hidden(formants, s - g0, emotion[first:first + len(s)])

    def formants(self, grid: np.ndarray) -> np.ndarray:
        """(G, K) autocorrelation frames -> (G, 256) formant features."""
        x = grid[:, :, None]
        for conv in self._formant:
            x = conv(x)
        return x[:, 0]

    def hidden(self, formants: np.ndarray, starts: np.ndarray, emotion: np.ndarray) -> np.ndarray:
        """(G, 256) formant features of a grid span, (T,) window starts in it, (T, E) -> (T, 150).

        The first two articulation layers are shared on the grid as well: inside a window,
        layer-0 output p (p >= 1) depends only on grid frames s+2p-1..s+2p+1, so it is computed
        once per grid frame, and likewise the emotion-free part of layer-1 output p >= 1. Only
        position 0, whose left neighbour is the window's zero padding, is computed per window.
        """
        a0, a1 = self._articulation[:2]
        width = a0.bias.shape[0]
        dim = emotion.shape[1]
        # layer 0 at every grid frame q: taps q-1, q, q+1
        padded = np.concatenate([np.zeros((1, width), np.float32), formants,
                                 np.zeros((1, width), np.float32)])
        grid0 = _relu(np.concatenate([padded[:-2], padded[1:-1], padded[2:]], axis=1) @ a0.weight
                      + a0.bias)
        first0 = _relu(np.concatenate([formants[starts], formants[starts + 1]], axis=1)
                       @ a0.weight[width:] + a0.bias)
        # layer 1 weights split per tap into formant (h) and emotion (e) rows
        w1 = a1.weight.reshape(3, width + dim, -1)
        w1h, w1e = w1[:, :width], w1[:, width:]
        # emotion-free part of layer 1 at grid frame q: layer-0 outputs at q-2, q, q+2
        shared1 = np.concatenate([grid0[:-4], grid0[2:-2], grid0[4:]], axis=1) @ w1h.reshape(
            3 * width, -1)
        n_out = self.config.window_frames // 4
        index = starts[:, None] + 4 * np.arange(1, n_out) - 2  # shared1 row of grid frame s+4p
        rest = shared1[index] + (emotion @ w1e.sum(axis=0) + a1.bias)[:, None]
        head = (first0 @ w1h[1] + grid0[starts + 2] @ w1h[2]
                + emotion @ (w1e[1] + w1e[2]) + a1.bias)
        x = _relu(np.concatenate([head[:, None], rest], axis=1))
        for conv in self._articulation[2:]:
            x = np.concatenate([x, np.broadcast_to(emotion[:, None], (len(x), x.shape[1], dim))],
                               axis=2)
            x = conv(x)
        x = np.concatenate([x[:, 0], emotion], axis=1)
        w, b = self._fc1
        return x @ w + b

    def _emotion_frames(self, emotion, n: int) -> np.ndarray:
        e = np.asarray(emotion, np.float32)
        dim = self.config.emotion_dim
        if e.shape == (dim,):
            return np.broadcast_to(e, (n, dim))
        if e.shape == (n, dim):
            return e
        raise A2FError(f"emotion must have shape ({dim},) or ({n}, {dim}) for this clip, "
                       f"got {e.shape}")


class _Conv:
    """A 1-D conv + ReLU on channels-last (N, L, C) input, as one matrix product.

    Stride-2 layers (kernel 3, padding 1) halve L; the last layer of each network has
    kernel == stride and collapses the remaining length to 1.
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray, last: bool):
        c_out, c_in, self.kernel = weight.shape
        self.last = last
        # Rows ordered tap-major then input channel, matching the column layout built below.
        self.weight = np.ascontiguousarray(weight.transpose(2, 1, 0).reshape(-1, c_out),
                                           np.float32)
        self.bias = np.asarray(bias, np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n, length, c = x.shape
        if self.last:
            cols = x.reshape(n, 1, length * c)
        else:
            padded = np.concatenate([np.zeros((n, 1, c), x.dtype), x], axis=1)
            cols = np.concatenate([padded[:, k:k + length - 1:2] for k in range(self.kernel)],
                                  axis=2)
        y = cols.reshape(-1, cols.shape[2]) @ self.weight
        y += self.bias
        return _relu(y).reshape(n, cols.shape[1], -1)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)
