"""The network's forward pass in numpy: audio in, per-frame blendshape weights or vertices out.

Each conv is a few large float32 matrix products over all frames of a chunk, channels last,
without im2col copies (see `_Conv`). The formant network and the first articulation layers run
once per 8 ms grid frame and are shared by every window containing the frame (see `hidden`);
long audio is processed in chunks of video frames, so memory stays bounded.
"""

import numpy as np

from .audio import SAMPLE_RATE
from .checkpoint import Checkpoint
from .config import articulation_layers
from .contact import LipContact, detector_bands
from .errors import A2FError
from .features import GridFeatures, frame_count, window_starts
from .limits import check_fps

FORMANT_BLOCK = 256  # grid frames per pass of the formant network (see `Animator.formants`)


class Animator:
    """Runs one checkpoint's network; create once, call for any number of clips."""

    def __init__(self, checkpoint: Checkpoint, lip_contact: bool = True):
        """lip_contact: apply the checkpoint's lip contact head, if it has one (contact.py)."""
        self.checkpoint = checkpoint
        self.contact = LipContact.from_checkpoint(checkpoint) if lip_contact else None
        self.config = c = checkpoint.config
        t = checkpoint.tensors
        n_formant, n_art = len(c.formant_channels), articulation_layers(c)
        self._formant_first = (_lag_matrix(t["formant.0.weight"], c.lags),
                               np.tile(np.asarray(t["formant.0.bias"], np.float32), c.lags // 2))
        self._formant = [_Conv(t[f"formant.{i}.weight"], t[f"formant.{i}.bias"])
                         for i in range(1, n_formant - 1)]
        self._formant_last = _Collapse(t[f"formant.{n_formant - 1}.weight"],
                                       t[f"formant.{n_formant - 1}.bias"])
        width = c.articulation_channels
        self._articulation = [_Conv(t[f"articulation.{i}.weight"], t[f"articulation.{i}.bias"],
                                    width) for i in range(n_art - 1)]
        self._articulation_last = _Collapse(t[f"articulation.{n_art - 1}.weight"],
                                            t[f"articulation.{n_art - 1}.bias"], width)
        w = np.asarray(t["output.0.weight"], np.float32).T
        self._fc1 = np.ascontiguousarray(w[:width]), w[width:], t["output.0.bias"]

    def output_layer(self):
        """(W (out, hidden), b (out,)): output = hidden @ W.T + b, the PCA-initialised basis."""
        return self.checkpoint.tensors["output.1.weight"], self.checkpoint.tensors["output.1.bias"]

    def outputs(self, hidden: np.ndarray, heard=None) -> np.ndarray:
        """(T, hidden) -> (T, output_size): the output layer, then the lip contact head, which
        also takes its detector's (T,) logits when it has one (see `iter_frames`)."""
        w, b = self.output_layer()
        y = hidden @ w.T + b
        return y if self.contact is None else self.contact.apply(hidden, y, heard)

    def frame_count(self, samples: np.ndarray, fps: float, start_seconds: float = 0.0) -> int:
        """Frames this clip animates from start_seconds to its end: ceil(duration * fps)."""
        fps = check_fps(fps)
        return max(frame_count(len(samples) / SAMPLE_RATE - start_seconds, fps), 0)

    def animate(self, samples, fps, emotion, start_seconds=0.0) -> np.ndarray:
        """(T, C) weights, or (T, V, 3) vertex offsets from the template, for 16 kHz samples.

        emotion: (E,) for the whole clip or (T, E) per frame. Frame i is at start_seconds + i/fps.
        """
        out = [y for _, y in self.iter_frames(samples, fps, emotion, start_seconds)]
        y = np.concatenate(out) if out else np.zeros((0, self.config.output_size), np.float32)
        return y.reshape(len(y), -1, 3) if self.checkpoint.kind == "vertices" else y

    def iter_frames(self, samples, fps, emotion, start_seconds=0.0, chunk_frames=512):
        """Yield (first_frame, (n, output_size)) chunk by chunk, for progress on long audio."""
        features = GridFeatures(samples, self.config)
        detector = self.contact.detector if self.contact else None
        if detector:
            mel = detector_bands(samples, features)
        for first, starts, (hidden,) in self._chunks(features, fps, [emotion], start_seconds,
                                                     chunk_frames):
            heard = detector and detector.at_windows(mel, starts, self.config.window_frames)
            yield first, check_finite(self.outputs(hidden, heard), first)

    def iter_hidden(self, samples, fps, emotion, start_seconds=0.0, chunk_frames=512):
        """Yield (first_frame, (n, hidden) float32) chunk by chunk: progress and cancel points."""
        for first, (hidden,) in self.iter_hidden_at(samples, fps, [emotion], start_seconds,
                                                   chunk_frames):
            yield first, hidden

    def iter_hidden_at(self, samples, fps, emotions, start_seconds=0.0, chunk_frames=512):
        """Yield (first_frame, [(n, hidden) float32 per emotion]) chunk by chunk: the features
        and the formant network, half the work and independent of the emotion, run once."""
        for first, _, hidden in self._chunks(GridFeatures(samples, self.config), fps, emotions,
                                             start_seconds, chunk_frames):
            yield first, hidden

    def _chunks(self, features, fps, emotions, start_seconds, chunk_frames):
        """Yield (first_frame, (n,) window starts, [(n, hidden) per emotion]) chunk by chunk."""
        n = self.frame_count(features.samples, fps, start_seconds)
        emotions = [self._emotion_frames(e, n) for e in emotions]
        starts = window_starts(n, fps, start_seconds, self.config)
        for first in range(0, n, chunk_frames):
            s = starts[first:first + chunk_frames]
            g0 = int(s[0])
            formants = self.formants(features.frames(g0, int(s[-1]) + self.config.window_frames))
            hidden = [self.hidden(formants, s - g0, e[first:first + len(s)]) for e in emotions]
            for h in hidden:
                check_finite(h, first)
            yield first, s, hidden

    def formants(self, grid: np.ndarray) -> np.ndarray:
        """(G, K) autocorrelation frames -> (G, 256) formant features.

        Grid frames are independent here, so they go through in blocks small enough that each
        layer's output stays in the CPU cache for the next (the first layer's is 4.5 KB a frame).
        """
        out = np.empty((len(grid), self._formant_last.bias.size), np.float32)
        weight, bias = self._formant_first
        for i in range(0, len(grid), FORMANT_BLOCK):
            x = _relu(grid[i:i + FORMANT_BLOCK] @ weight + bias)
            x = x.reshape(len(x), self.config.lags // 2, -1)
            for conv in self._formant:
                x = conv(x)
            out[i:i + FORMANT_BLOCK] = self._formant_last(x)
        return out

    def hidden(self, formants: np.ndarray, starts: np.ndarray, emotion: np.ndarray) -> np.ndarray:
        """(G, 256) formant features of a grid span, (T,) window starts in it, (T, E) -> (T, 150).

        Articulation layers are shared on the grid too: inside a window starting at grid frame
        s, layer-l output p >= 1 depends only on grid frames around s + 2^(l+1) p, never on the
        window's zero padding, so it is computed once per grid frame and indexed by every window.
        Only position 0, whose left neighbour is padding, is computed per window. Layers 0 and 1
        are always shared (layer 1 without its emotion part, which is a per-window vector);
        with one emotion for the whole chunk (the common case) layer 2 is shared as well.
        """
        a0, a1, a2 = self._articulation[:3]
        emotion = np.ascontiguousarray(emotion)  # a broadcast view would miss BLAS
        # layer 0 at grid frame q is row q-1: taps q-1, q, q+1
        grid0 = _relu(_dilated(formants, a0.taps, 1) + a0.bias)
        first0 = _relu(np.concatenate([formants[starts], formants[starts + 1]], axis=1)
                       @ a0.pair + a0.bias)
        # layer 1 at grid frame q is row q-3: layer-0 outputs q-2, q, q+2 (no emotion yet)
        shared1 = _dilated(grid0, a1.taps, 2)
        # position 0: taps on the padding, layer-0 position 0 and layer-0 position 1 (grid s+2)
        head1 = _relu(np.concatenate([first0, grid0[starts + 1]], axis=1) @ a1.pair
                      + a1.emotion_terms(emotion, first=True))
        positions = self.config.window_frames // 4  # of layer 1's output
        if (emotion == emotion[:1]).all():
            grid1 = _relu(shared1 + a1.emotion_terms(emotion[:1]))
            # layer 2 at grid frame q is row q-7: layer-1 outputs q-4, q, q+4
            grid2 = _relu(_dilated(grid1, a2.taps, 4) + a2.emotion_terms(emotion[:1]))
            x = np.empty((len(starts), positions // 2, len(a2.bias)), np.float32)
            x[:, 1:] = grid2[starts[:, None] + 8 * np.arange(1, positions // 2) - 7]  # s+8p
            x[:, 0] = _relu(np.concatenate([head1, grid1[starts + 1]], axis=1) @ a2.pair
                            + a2.emotion_terms(emotion, first=True))
            per_window = self._articulation[3:]
            emotion = emotion[:1]  # one row broadcasts: the emotion terms are computed once
        else:
            x = np.empty((len(starts), positions, len(a1.bias)), np.float32)
            x[:, 0] = head1
            x[:, 1:] = _relu(shared1[starts[:, None] + 4 * np.arange(1, positions) - 3]  # s+4p
                             + a1.emotion_terms(emotion)[:, None])
            per_window = self._articulation[2:]
        for conv in per_window:
            x = conv(x, emotion)
        x = self._articulation_last(x, emotion)
        w_h, w_e, b = self._fc1
        return x @ w_h + emotion @ w_e + b

    def _emotion_frames(self, emotion, n: int) -> np.ndarray:
        e = np.asarray(emotion, np.float32)
        dim = self.config.emotion_dim
        if e.shape == (dim,):
            return np.broadcast_to(e, (n, dim))
        if e.shape == (n, dim):
            return e
        raise A2FError(f"emotion must have shape ({dim},) or ({n}, {dim}) for this clip, "
                       f"got {e.shape}")


def check_finite(frames: np.ndarray, first: int) -> np.ndarray:
    """frames, or A2FError if any value is NaN or infinite: no file or key may hold one."""
    if not np.isfinite(frames).all():
        bad = first + int(np.argmin(np.isfinite(frames).reshape(len(frames), -1).all(axis=1)))
        raise A2FError(f"the animation is not finite (NaN or infinity) from frame {bad}: the "
                       "audio's samples, the emotion or the checkpoint's values are out of range; "
                       "re-export the audio as PCM or use another emotion or checkpoint")
    return frames


class _Conv:
    """A conv (kernel 3, stride 2, padding 1) + ReLU on channels-last (N, L, C) input, L even.

    Output j sums taps on inputs 2j-1, 2j, 2j+1. Seen as rows of pairs (2j, 2j+1), the input is
    a contiguous (N * L/2, 2C) matrix: taps 1 and 2 are one product with it, and tap 0 one
    product with its odd half (a strided view BLAS reads in place) added one output later, so
    no im2col copy is made. Input channels past `channels` hold the emotion vector, constant
    along a window, so their part is one vector per window (`emotion_terms`).
    """

    def __init__(self, weight: np.ndarray, bias: np.ndarray, channels=None):
        w = np.asarray(weight, np.float32).transpose(2, 1, 0)  # (tap, in, out)
        channels = w.shape[1] if channels is None else channels
        self.taps = np.ascontiguousarray(w[:, :channels].reshape(3 * channels, -1))
        self.pair = self.taps[channels:]  # taps 1 and 2, rows in pair order
        self._tap0 = self.taps[:channels]
        self._emotion = w[:, channels:]
        self.bias = np.asarray(bias, np.float32)

    def emotion_terms(self, emotion: np.ndarray, first=False) -> np.ndarray:
        """(T, out): bias plus the emotion channels' part; `first` leaves out the padding tap 0."""
        taps = self._emotion[1:] if first else self._emotion
        return emotion @ taps.sum(axis=0) + self.bias

    def __call__(self, x: np.ndarray, emotion=None) -> np.ndarray:
        n, length, c = x.shape
        pairs = x.reshape(-1, 2 * c)
        y = (pairs @ self.pair).reshape(n, length // 2, -1)
        y[:, 1:] += (pairs[:, c:] @ self._tap0).reshape(y.shape)[:, :-1]
        if emotion is None:
            y += self.bias
        else:
            y += self.emotion_terms(emotion)[:, None]
            y[:, 0] -= emotion @ self._emotion[0]
        return _relu(y)


class _Collapse:
    """The last conv of each network: kernel == remaining length, so one product per window."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, channels=None):
        w = np.asarray(weight, np.float32).transpose(2, 1, 0)  # (tap, in, out)
        channels = w.shape[1] if channels is None else channels
        self._weight = np.ascontiguousarray(w[:, :channels].reshape(-1, w.shape[2]))
        self._emotion = w[:, channels:].sum(axis=0)
        self.bias = np.asarray(bias, np.float32)

    def __call__(self, x: np.ndarray, emotion=None) -> np.ndarray:
        y = x.reshape(len(x), -1) @ self._weight
        y += self.bias if emotion is None else emotion @ self._emotion + self.bias
        return _relu(y)


def _lag_matrix(weight: np.ndarray, lags: int) -> np.ndarray:
    """The first formant conv (one input channel) as a dense (lags, lags/2 * out) matrix.

    With a single input channel, per-tap products have one row of weights each, which BLAS runs
    slowly; the dense form spends ~10x the multiply-adds of this small layer in one product.
    """
    c_out, _, kernel = weight.shape
    dense = np.zeros((lags, lags // 2, c_out), np.float32)
    j = np.arange(lags // 2)
    for k in range(kernel):  # output j reads lag 2j - 1 + k (zero padding at lag -1)
        lag = 2 * j - 1 + k
        ok = (lag >= 0) & (lag < lags)
        dense[lag[ok], j[ok]] = weight[:, 0, k]
    return dense.reshape(lags, -1)


def _dilated(x: np.ndarray, taps: np.ndarray, d: int) -> np.ndarray:
    """(G, C) rows, (3C, out) taps -> (G - 2d, out): row r sums the taps on rows r, r+d, r+2d."""
    return np.concatenate([x[:-2 * d], x[d:-d], x[2 * d:]], axis=1) @ taps


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)
