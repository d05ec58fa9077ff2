"""The lip contact head and its detector: stored and validated in checkpoints, applied by the
numpy forward pass, and fitted by `a2f contact` on real synthetic takes so that more bilabials
close."""

import json

import numpy as np
import pytest
import safetensors.numpy
import torch

from a2f_core import contact
from a2f_core.arkit import ARKIT_NAMES
from a2f_core.checkpoint import load_checkpoint, update_metadata
from a2f_core.audio import load_audio
from a2f_core.errors import CheckpointError
from a2f_core.features import GridFeatures, MelFeatures, window_starts
from a2f_core.infer import Animator
from a2f_core.models import DEFAULT_WEIGHTS
from a2f_core.cli.main import main
from training.lip_contact.detector import DetectorNet, grid_labels
from training.lip_contact.fit import auc
from training.evaluate import evaluate
from tolerance import EPS32, float32_atol


JAW, CLOSE = ARKIT_NAMES.index("jawOpen"), ARKIT_NAMES.index("mouthClose")


def _with_head(src, dst, bias, center=0.5, width=0.2, weight=None):
    dst.write_bytes(src.read_bytes())
    hidden = load_checkpoint(src).config.hidden_size
    weight = np.zeros(hidden, np.float32) if weight is None else weight
    return update_metadata(dst, tensors={contact.WEIGHT: weight,
                                         contact.BIAS: np.array([bias], np.float32)},
                           lip_contact={"center": center, "width": width})


def test_columns_are_arkit_jaw_and_close(weights_ckpt):
    assert contact.contact_columns(load_checkpoint(weights_ckpt).channel_names) == (JAW, CLOSE)
    assert contact.contact_columns(["jawOpen", "mouthFunnel"]) is None


def test_head_round_trips_as_format_version_2(tmp_path, weights_ckpt):
    assert load_checkpoint(weights_ckpt).meta["format_version"] == 1  # no head: readable by 1
    ckpt = _with_head(weights_ckpt, tmp_path / "c.safetensors", bias=3.0, center=0.3)
    assert ckpt.meta["format_version"] == 2
    head = contact.LipContact.from_checkpoint(ckpt)
    assert (head.jaw, head.close, head.center, head.bias) == (JAW, CLOSE, 0.3, 3.0)
    assert contact.LipContact.from_checkpoint(load_checkpoint(weights_ckpt)) is None


def test_a_sure_head_shuts_the_lips_and_an_absent_one_changes_nothing(tmp_path, weights_ckpt,
                                                                       speech_wav):
    samples = load_audio(speech_wav)
    plain = load_checkpoint(weights_ckpt)
    neutral = plain.emotions["neutral"]
    before = Animator(plain).animate(samples, 30.0, neutral)
    shut = _with_head(weights_ckpt, tmp_path / "shut.safetensors", bias=20.0)
    after = Animator(shut).animate(samples, 30.0, neutral)
    # p = sigmoid(20) misses 1 by 2e-9: mouthClose reaches jawOpen to within rounding
    assert np.allclose(after[:, CLOSE], after[:, JAW], rtol=0, atol=float32_atol(after, ulps=4))
    # the head writes only mouthClose; everything else is the same computation, bit for bit
    others = np.delete(np.arange(after.shape[1]), CLOSE)
    assert np.array_equal(after[:, others], before[:, others])
    assert np.array_equal(Animator(shut, lip_contact=False).animate(samples, 30.0, neutral),
                          before)
    never = _with_head(weights_ckpt, tmp_path / "never.safetensors", bias=-20.0)
    assert np.array_equal(Animator(never).animate(samples, 30.0, neutral), before)


def test_the_ramp_half_closes_at_its_center(tmp_path, weights_ckpt):
    ckpt = _with_head(weights_ckpt, tmp_path / "c.safetensors", bias=0.0, center=0.5, width=0.2)
    head = contact.LipContact.from_checkpoint(ckpt)
    weights = np.zeros((1, 52), np.float32)
    weights[0, JAW], weights[0, CLOSE] = 0.4, 0.1
    head.apply(np.zeros((1, ckpt.config.hidden_size), np.float32), weights)  # p = 0.5
    assert weights[0, CLOSE] == pytest.approx(0.25, abs=4 * EPS32)  # three float32 operations


def test_a_detector_round_trips_as_format_version_3_and_matches_torch(detector_ckpt, speech_wav):
    ckpt = load_checkpoint(detector_ckpt)
    assert ckpt.meta["format_version"] == 3
    detector = contact.LipContact.from_checkpoint(ckpt).detector
    samples = load_audio(speech_wav)
    features = GridFeatures(samples, ckpt.config)
    bands = MelFeatures(samples, features.gain, ckpt.config).frames(
        -contact.MARGIN, features.grid_length + contact.MARGIN)
    net = DetectorNet(8, ckpt.tensors[contact.DETECTOR + "mean"],
                      ckpt.tensors[contact.DETECTOR + "std"])
    for i, conv in enumerate([*net.convs, net.out]):
        conv.weight.data = torch.tensor(ckpt.tensors[f"{contact.DETECTOR}{i}.weight"])
        conv.bias.data = torch.tensor(ckpt.tensors[f"{contact.DETECTOR}{i}.bias"])
    expected = net(torch.from_numpy(bands.T[None].copy()))[0].detach().numpy()
    got = detector.logits(bands)
    assert got.shape == (features.grid_length,)
    # torch's conv and our matrix products sum in other orders
    assert np.allclose(got, expected, rtol=0, atol=float32_atol(expected))


def test_the_detector_is_heard_the_same_in_any_chunks(detector_ckpt, speech_wav):
    """200 fps makes ~700 frames: iter_frames' chunks of 64 must give what one chunk gives,
    and the detector must move the lips (the head listens to it alone)."""
    ckpt = load_checkpoint(detector_ckpt)
    samples, neutral = load_audio(speech_wav), ckpt.emotions["neutral"]
    animator = Animator(ckpt)
    whole = np.concatenate([y for _, y in animator.iter_frames(samples, 200.0, neutral)])
    parts = [y for _, y in animator.iter_frames(samples, 200.0, neutral, chunk_frames=64)]
    # other chunk shapes take other BLAS kernels: equal to rounding, not bit for bit
    assert len(parts) > 5
    assert np.allclose(np.concatenate(parts), whole, rtol=0, atol=float32_atol(whole))
    deaf = Animator(ckpt, lip_contact=False).animate(samples, 200.0, neutral)
    moved = np.abs(whole[:, CLOSE] - deaf[:, CLOSE]) > 1e-6
    assert 0.05 < moved.mean() < 0.95  # shuts some frames, not all
    # the same chunks through the same code: only mouthClose may differ, and bit for bit
    assert np.array_equal(np.delete(whole, CLOSE, 1), np.delete(deaf, CLOSE, 1))


def test_window_logits_are_the_mean_of_the_two_central_grid_frames(detector_ckpt, speech_wav):
    ckpt = load_checkpoint(detector_ckpt)
    samples, detector = load_audio(speech_wav), contact.LipContact.from_checkpoint(ckpt).detector
    features = GridFeatures(samples, ckpt.config)
    mel = MelFeatures(samples, features.gain, ckpt.config)
    grid = detector.logits(mel.frames(-contact.MARGIN, features.grid_length + contact.MARGIN))
    starts = window_starts(40, 30.0, 0.2, ckpt.config)
    centre = starts + ckpt.config.window_frames // 2
    # the two read other spans of bands, so their products have other shapes
    assert np.allclose(detector.at_windows(mel, starts, ckpt.config.window_frames),
                       (grid[centre - 1] + grid[centre]) / 2, rtol=0, atol=float32_atol(grid))


def test_grid_labels_follow_the_nearest_video_frame(weights_ckpt):
    config = load_checkpoint(weights_ckpt).config
    shut = np.zeros(30, np.float32)
    shut[10:13] = 1.0  # 333-433 ms at 30 fps
    labels = grid_labels(shut, 30.0, 200, config)
    centre = (np.arange(200) * 128 - 4224 + 128) / 16000  # grid frame centres, s
    on = centre[labels == 1.0]
    assert on.min() == pytest.approx(10 / 30 - 1 / 60, abs=0.005)  # half a frame around 10..12
    assert on.max() == pytest.approx(12 / 30 + 1 / 60, abs=0.005)
    labelled = labels >= 0  # within 24 ms of a video frame: not before the clip nor past frame 29
    assert labelled[(centre >= 0) & (centre < 0.98)].all()
    assert not labelled[(centre < -0.03) | (centre > 29 / 30 + 0.03)].any()


def _broken_detector(t, m):
    t[contact.DETECTOR + "std"] = np.zeros_like(t[contact.DETECTOR + "std"])


@pytest.mark.parametrize("change,message", [
    (lambda t, m: t.pop(contact.DETECTOR + "2.weight"), "detector lacks tensor"),
    (lambda t, m: t.update({contact.DETECTOR + "1.weight": np.zeros((8, 8, 3), np.float32)}),
     "has shape"),
    (lambda t, m: t.update({contact.WEIGHT: t[contact.WEIGHT][:-1]}), "has shape"),
    (lambda t, m: t.pop(contact.DETECTOR + "mean"), "unexpected tensor"),
    (lambda t, m: t.update({contact.DETECTOR + "9.bias": np.zeros(1, np.float32)}),
     "unexpected tensor"),
    (_broken_detector, "must be positive"),
])
def test_a_broken_detector_is_refused(tmp_path, detector_ckpt, change, message):
    _refused(tmp_path, load_checkpoint(detector_ckpt), change, message)


def _refused(tmp_path, ckpt, change, message):
    tensors, meta = dict(ckpt.tensors), json.loads(json.dumps(ckpt.meta))
    change(tensors, meta)
    bad = tmp_path / "bad.safetensors"
    safetensors.numpy.save_file(tensors, str(bad), metadata={"a2f": json.dumps(meta)})
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(bad)


@pytest.mark.parametrize("change,message", [
    (lambda t, m: t.pop(contact.BIAS), "needs contact.weight, contact.bias"),
    (lambda t, m: m.pop(contact.META), "needs contact.weight, contact.bias"),
    (lambda t, m: t.update({contact.WEIGHT: np.zeros(7, np.float32)}), "has shape"),
    (lambda t, m: t.update({contact.BIAS: np.array([np.nan], np.float32)}), "NaN"),
    (lambda t, m: m[contact.META].update(center=1.5), "center in"),
    (lambda t, m: m[contact.META].update(width="wide"), "center in"),
    (lambda t, m: m.update(channel_names=[f"c{i}" for i in range(52)]), "jawOpen and mouthClose"),
])
def test_a_broken_head_is_refused(tmp_path, weights_ckpt, change, message):
    _refused(tmp_path, _with_head(weights_ckpt, tmp_path / "c.safetensors", bias=1.0), change,
             message)


def test_a_vertex_model_cannot_carry_a_head(tmp_path, vertices_ckpt):
    with pytest.raises(CheckpointError, match="weights model"):
        _with_head(vertices_ckpt, tmp_path / "v.safetensors", bias=1.0)


def test_auc_counts_ordered_pairs():
    assert auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert auc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]) == 0.75
    assert auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0


@pytest.fixture(scope="module")
def takes(synth_set):
    return synth_set(3, 77, 0.3)


@pytest.mark.slow  # synthesises and trains
def test_fitting_on_training_takes_closes_more_held_out_bilabials(tmp_path, takes, capsys):
    """The bundled network's hidden states on new takes, each at every emotion: the fitted head
    hears contact (frame AUC), and on voices it was not fitted on more bilabials close, while
    other phonemes close no more than the data's rate allows (the README's 1.25x)."""
    path = tmp_path / "model.safetensors"
    path.write_bytes(DEFAULT_WEIGHTS.read_bytes())  # fitting replaces any head it has
    assert main(["contact", str(path), "--data", str(takes)]) == 0
    assert "lip contact head fitted on" in capsys.readouterr().out
    ckpt = load_checkpoint(path)
    entry = ckpt.meta[contact.META]
    # every take at every emotion: the same frames once per emotion
    assert entry["emotions"] == sorted(ckpt.emotions) and len(ckpt.emotions) == 5
    assert entry["frames"] % 5 == 0
    assert entry["frame_auc"] > 0.85 and 0.0 < entry["center"] < 1.0
    assert 0.02 < entry["contact_rate"] < 0.15
    assert Animator(ckpt).contact.detector is not None and ckpt.meta["format_version"] == 3
    assert entry["detector_epochs"] == 12 and entry["detector_takes"] >= entry["takes"]
    with_head = evaluate(path, takes, split="val", emotion="labels")
    without = evaluate(path, takes, split="val", emotion="labels", lip_contact=False)
    assert with_head["lip_contact"] and not without["lip_contact"]
    assert with_head["bilabial_closure"] > without["bilabial_closure"] + 0.03, (with_head, without)
    assert with_head["closure_elsewhere"] <= 1.25 * with_head["closure_elsewhere_target"]
    assert abs(with_head["weight_mae"] - without["weight_mae"]) < 0.002
    # refitting without a detector drops the old one: the file is readable by version 2 again
    assert main(["contact", str(path), "--data", str(takes), "--epochs", "0"]) == 0
    refit = load_checkpoint(path)
    assert refit.meta["format_version"] == 2 and not contact.has_detector(refit.tensors)
    assert refit.tensors[contact.WEIGHT].shape == (refit.config.hidden_size,)


@pytest.mark.parametrize("kind,args,message", [
    ("weights", ["--width", "2"], "--width must be in"),
    ("weights", ["--epochs", "-1"], "--epochs must be 0 or more"),
    ("vertices", [], "needs a weights model with jawOpen and mouthClose"),
])
def test_bad_fits_are_one_line_errors(capsys, weights_ckpt, vertices_ckpt, takes, kind, args,
                                      message):
    ckpt = {"weights": weights_ckpt, "vertices": vertices_ckpt}[kind]
    before = ckpt.read_bytes()
    assert main(["contact", str(ckpt), "--data", str(takes), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("a2f contact: error:") and message in err and "\n" not in err
    assert ckpt.read_bytes() == before  # nothing written


@pytest.mark.parametrize("width", [0.0, 1e-300])
def test_a_zero_width_ramp_is_a_switch(tmp_path, weights_ckpt, width):
    import warnings
    ckpt = _with_head(weights_ckpt, tmp_path / "c.safetensors", bias=0.0, center=0.5, width=width)
    weights = np.zeros((1, 52), np.float32)
    weights[0, JAW], weights[0, CLOSE] = 0.4, 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by a float32 zero
        contact.LipContact.from_checkpoint(ckpt).apply(
            np.zeros((1, ckpt.config.hidden_size), np.float32), weights)  # p = 0.5: shut
    assert weights[0, CLOSE] == pytest.approx(0.4, abs=4 * EPS32)  # three float32 operations
