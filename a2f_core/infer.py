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
        self._offsets = np.arange(c.window_frames)

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
            windows = formants[(s - g0)[:, None] + self._offsets]
            yield first, self.hidden(windows, emotion[first:first + len(s)])

    def formants(self, grid: np.ndarray) -> np.ndarray:
        """(G, K) autocorrelation frames -> (G, 256) formant features."""
        x = grid[:, :, None]
        for conv in self._formant:
            x = conv(x)
        return x[:, 0]

    def hidden(self, windows: np.ndarray, emotion: np.ndarray) -> np.ndarray:
        """(T, 64, 256) windows of formant features and (T, E) emotion -> (T, hidden)."""
        x = windows
        for conv in self._articulation:
            x = conv(x)
            x = np.concatenate([x, np.broadcast_to(emotion[:, None], (len(x), x.shape[1],
                                                                      emotion.shape[1]))], axis=2)
        w, b = self._fc1
        return x[:, 0] @ w + b

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
        np.maximum(y, 0, out=y)
        return y.reshape(n, cols.shape[1], -1)
