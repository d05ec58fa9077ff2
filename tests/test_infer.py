import numpy as np
import pytest
import torch

from a2f_core.audio import prepare
from a2f_core.checkpoint import load_checkpoint
from a2f_core.errors import A2FError
from a2f_core.features import GridFeatures, window_starts
from a2f_core.infer import Animator
from a2f_core.torch.model import A2FNet

from tolerance import float32_atol


def torch_per_window(ckpt, samples, fps, emotion):
    """The naive reference: every window evaluated on its own by the torch model."""
    net = A2FNet(ckpt.config)
    net.load_numpy_tensors(ckpt.tensors)
    net.eval()
    grid = GridFeatures(samples, ckpt.config)
    n = Animator(ckpt).frame_count(samples, fps)
    starts = window_starts(n, fps)
    windows = np.stack([grid.frames(s, s + 64) for s in starts])
    with torch.no_grad():
        y = net(torch.from_numpy(windows), torch.from_numpy(np.broadcast_to(emotion, (n, len(emotion))).copy()))
    return y.numpy()


@pytest.mark.parametrize("fixture", ["weights_ckpt", "vertices_ckpt"])
def test_numpy_matches_torch_on_real_speech(request, speech, fixture):
    ckpt = load_checkpoint(request.getfixturevalue(fixture))
    samples = prepare(*speech)
    emotion = ckpt.emotions["happy"]
    expected = torch_per_window(ckpt, samples, 30.0, emotion)
    got = Animator(ckpt).animate(samples, 30.0, emotion).reshape(len(expected), -1)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.max(np.abs(got - expected)) <= 1e-4 * np.max(np.abs(expected))


def test_vertices_come_out_per_vertex(vertices_ckpt, speech):
    ckpt = load_checkpoint(vertices_ckpt)
    y = Animator(ckpt).animate(prepare(*speech), 24.0, ckpt.emotions["neutral"])
    assert y.shape[1:] == ckpt.template.shape


def test_chunking_gives_the_same_result(weights_ckpt, speech):
    animator = Animator(load_checkpoint(weights_ckpt))
    samples = prepare(*speech)
    e = animator.checkpoint.emotions["sad"]
    whole = np.concatenate([h for _, h in animator.iter_hidden(samples, 30, e, chunk_frames=10_000)])
    small = list(animator.iter_hidden(samples, 30, e, chunk_frames=7))
    assert [first for first, _ in small] == list(range(0, len(whole), 7))
    # chunks of 7 frames take other BLAS kernels than one chunk: equal to rounding
    assert np.allclose(np.concatenate([h for _, h in small]), whole, rtol=0,
                       atol=float32_atol(whole))


def test_several_emotions_share_one_formant_pass(weights_ckpt, speech):
    """iter_hidden_at gives each emotion what iter_hidden gives it alone, chunk for chunk."""
    animator = Animator(load_checkpoint(weights_ckpt))
    samples = prepare(*speech)
    db = animator.checkpoint.emotions
    together = list(animator.iter_hidden_at(samples, 30, [db["happy"], db["sad"]], chunk_frames=7))
    for i, name in enumerate(("happy", "sad")):
        alone = list(animator.iter_hidden(samples, 30, db[name], chunk_frames=7))
        assert [first for first, _ in together] == [first for first, _ in alone]
        # each emotion goes through the same code on the same shapes: bit for bit
        assert all(np.array_equal(h[i], a) for (_, h), (_, a) in zip(together, alone))


def test_per_frame_emotion_equals_constant_segments(weights_ckpt, speech):
    animator = Animator(load_checkpoint(weights_ckpt))
    db = animator.checkpoint.emotions
    samples = prepare(*speech)
    n = animator.frame_count(samples, 30)
    per_frame = np.where(np.arange(n)[:, None] < n // 2, db["happy"], db["sad"])
    mixed = animator.animate(samples, 30, per_frame)
    happy = animator.animate(samples, 30, db["happy"])
    sad = animator.animate(samples, 30, db["sad"])
    # per-frame emotions run layer 2 per window, constant ones share it: equal to rounding
    tol = float32_atol(happy, sad)
    assert np.allclose(mixed[: n // 2], happy[: n // 2], rtol=0, atol=tol)
    assert np.allclose(mixed[n // 2:], sad[n // 2:], rtol=0, atol=tol)
    assert not np.allclose(happy, sad, atol=1e-3)  # emotion changes the output


def test_start_seconds_shifts_frames(weights_ckpt, speech):
    animator = Animator(load_checkpoint(weights_ckpt))
    samples, e = prepare(*speech), animator.checkpoint.emotions["neutral"]
    full = animator.animate(samples, 25, e)
    late = animator.animate(samples, 25, e, start_seconds=1.0)
    assert len(late) == animator.frame_count(samples, 25, 1.0) == len(full) - 25
    assert np.max(np.abs(late - full[25:])) <= 1e-4 * np.max(np.abs(full))


def test_bad_emotion_shape_and_fps(weights_ckpt, speech):
    animator = Animator(load_checkpoint(weights_ckpt))
    samples = prepare(*speech)
    with pytest.raises(A2FError, match="emotion must have shape"):
        animator.animate(samples, 30, np.zeros(5))
    with pytest.raises(A2FError, match="fps"):
        animator.animate(samples, 0, np.zeros(16))
