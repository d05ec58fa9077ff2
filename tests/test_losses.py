"""a2f_core.torch.losses against values worked out by hand.

Each result is a handful of float32 operations on small numbers: pytest.approx's default
rel=1e-6 (about 8 ulps) holds on any CPU; looser bounds below are behaviour, not rounding.
"""

import math

import pytest
import torch

from a2f_core.torch.losses import LossNormalizer, emotion_loss, motion_loss, position_loss


def test_position_loss_is_mean_squared_error():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 4.0]])
    assert position_loss(pred, target).item() == pytest.approx((0 + 4 + 9 + 0) / 4)


def test_position_loss_frame_weight_scales_each_frames_share():
    pred, target = torch.zeros(2, 3), torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    assert position_loss(pred, target, torch.ones(2)) == position_loss(pred, target)
    # frame 0's error (1) counts 5 times: (5 * 3 * 1 + 3 * 4) / 6
    assert position_loss(pred, target, torch.tensor([5.0, 1.0])).item() == pytest.approx(4.5)


def test_position_power_one_fits_the_median_where_squares_fit_the_mean():
    pred, target = torch.zeros(1, 2), torch.tensor([[3.0, -1.0]])
    assert position_loss(pred, target, power=1.0).item() == pytest.approx(2.0)
    # lips shut in 3 of 5 frames that sound alike: squares settle half-open, power 1 commits
    shut = torch.tensor([[0.0], [0.0], [0.0], [1.0], [1.0]])
    for power, expected in ((2.0, 0.4), (1.0, 0.0)):
        gap = torch.full((1, 1), 0.5, requires_grad=True)
        optimiser = torch.optim.SGD([gap], lr=0.01)
        for _ in range(500):
            optimiser.zero_grad()
            position_loss(gap.expand(5, 1), shut, power=power).backward()
            optimiser.step()
        assert gap.item() == pytest.approx(expected, abs=0.02)


def test_motion_loss_compares_frame_differences():
    # predicted motion (1, 1) vs target motion (0, 3): errors 1 and -2
    p0, p1 = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 1.0]])
    t0, t1 = torch.tensor([[5.0, 5.0]]), torch.tensor([[5.0, 8.0]])
    assert motion_loss(p0, p1, t0, t1).item() == pytest.approx((1 + 4) / 2)
    # a constant offset between prediction and target costs no motion loss
    assert motion_loss(p0 + 7, p1 + 7, p0, p1).item() == 0.0


def test_emotion_loss_is_scale_free():
    e0 = torch.tensor([[1.0, 0.0]])
    e1 = torch.tensor([[0.0, 1.0]])
    # mean((e1-e0)^2) = (1 + 1) / 2 = 1; mean(e^2) over both = 2 / 4 = 0.5
    assert emotion_loss(e0, e1).item() == pytest.approx(2.0)
    # shrinking every vector cannot reduce it: the denominator scales the same way
    assert emotion_loss(e0 * 1e-3, e1 * 1e-3).item() == pytest.approx(2.0, rel=1e-5)


def test_normalizer_divides_by_bias_corrected_running_rms():
    norm = LossNormalizer()
    first = norm(torch.tensor(4.0))
    # t=1: v = 0.01 * 16, vhat = v / 0.01 = 16, lhat = 4 / (4 + 1e-8)
    assert first.item() == pytest.approx(1.0, abs=1e-6)
    second = norm(torch.tensor(2.0))
    v = 0.99 * 0.16 + 0.01 * 4
    vhat = v / (1 - 0.99 ** 2)
    assert second.item() == pytest.approx(2 / (math.sqrt(vhat) + 1e-8), rel=1e-6)
    assert int(norm.t) == 2


def test_normalizer_passes_gradient_only_through_the_loss():
    norm = LossNormalizer()
    x = torch.tensor(3.0, requires_grad=True)
    norm(x * x).backward()
    # lhat = x^2 / sqrt(vhat) with vhat treated as a constant (= 81 at t=1): d/dx = 2x / 9
    assert x.grad.item() == pytest.approx(6 / 9, rel=1e-6)
