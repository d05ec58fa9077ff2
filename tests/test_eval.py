"""Evaluation metrics on hand-made cases, and `a2f eval` end to end on a real checkpoint."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from a2f_core.checkpoint import load_checkpoint, random_checkpoint
from a2f_core.infer import Animator
from training import metrics
from training.dataset import load_dataset
from training.evaluate import evaluate
from training.toy_dataset import CHANNELS, write_toy_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_position_motion_and_mae_by_hand():
    target = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 3.0]])
    pred = target + np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    assert metrics.position(pred, target) == (7.0, 6)  # 1+0+1+0+1+4
    assert metrics.weight_mae(pred, target) == (5.0, 6)
    # error differences: (0, 0), (0, 2) -> squared sum 4 over 4 values
    assert metrics.motion(pred, target) == (4.0, 4)


def test_lip_vertex_error_takes_the_worst_lip_vertex_per_frame():
    target = np.zeros((2, 3, 3))
    pred = target.copy()
    pred[0, 0] = [3, 4, 0]      # lip vertex off by 5
    pred[0, 1] = [1, 0, 0]      # lip vertex off by 1
    pred[1, 2] = [9, 9, 9]      # not a lip vertex
    assert metrics.lip_vertex_error(pred, target, np.array([0, 1])) == (5.0, 2)


def test_bilabials_in_ipa_and_arpabet():
    for symbol in ("p", "b", "m", "pʰ", "bː", "m̩", "M", "p#"):
        assert metrics.is_bilabial(symbol), symbol
    for symbol in ("_", "pau", "n", "f", "ɐ", "pf", "aa1", "em"):
        assert not metrics.is_bilabial(symbol), symbol


def test_lip_closures_count_phonemes_whose_lips_close():
    fps = 10.0
    names = ["jawOpen", "mouthClose"]
    weights = np.zeros((10, 2))
    weights[:, 0] = 0.5                   # mouth open everywhere ...
    weights[2, 1] = 0.45                  # ... except frames 2 and 4: gap 0.05 < 0.1
    weights[4, 1] = 0.45
    gap = metrics.weights_lip_gap(weights, names)
    phonemes = [[0.0, 0.15, "_"], [0.15, 0.25, "m"], [0.25, 0.5, "a"], [0.5, 0.62, "p"],
                [0.62, 0.64, "b"],     # 'b' shorter than a frame: judged at frame 6
                [0.64, 0.8, "t"], [0.8, 1.0, "pau"]]
    assert metrics.lip_closures(gap, gap, phonemes, fps, 0.1) == (1, 1, 3)
    # elsewhere: 'a' (frames 3-5) closes at frame 4, 't' stays open, pauses do not count
    assert metrics.lip_closures(gap, 0.5 + gap, phonemes, fps, 0.1, bilabial=False) == (1, 0, 2)
    assert metrics.weights_lip_gap(weights, ["a", "b"]) is None


def test_silent_frames_from_phonemes_and_from_energy():
    phonemes = [[0.0, 0.5, "_"], [0.5, 1.0, "a"]]
    silent = metrics.silent_frames(10, 10.0, phonemes, None, 16000)
    # frames 0.1 s or more inside the pause [0, 0.5]: t = 0.1 .. 0.4
    assert silent.tolist() == [False, True, True, True, True] + [False] * 5
    samples = np.zeros(16000, np.float32)
    samples[8000:] = 0.3 * np.sin(np.arange(8000) * 0.3)
    silent = metrics.silent_frames(10, 10.0, None, samples, 16000)
    assert silent[1:4].all() and not silent[5:].any() and not silent[0]


def test_rest_in_silence_measures_only_silent_frames():
    pred, target = np.ones((4, 2)), np.zeros((4, 2))
    pred[3] = 9
    assert metrics.rest_in_silence(pred, target, np.array([1, 1, 0, 0], bool)) == (4.0, 4)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    write_toy_dataset(root, takes=3, seconds=1.5)
    return root


def test_evaluate_matches_a_direct_computation(data, tmp_path):
    ckpt = random_checkpoint(tmp_path / "c.safetensors", channel_names=CHANNELS, emotion_dim=4)
    result = evaluate(ckpt, data, split="val", out_dir=tmp_path / "eval")
    take = load_dataset(data).split("val")[0]
    pred = Animator(load_checkpoint(ckpt)).animate(take.audio(), 30.0, np.zeros(4, np.float32))
    # the same float32 sums of the same predictions, divided in float64 there: an ulp or two
    assert result["position_mse"] == pytest.approx(np.mean((pred - take.targets()) ** 2), rel=1e-6)
    assert result["weight_mae"] == pytest.approx(np.mean(np.abs(pred - take.targets())), rel=1e-6)
    assert result["bilabial_phonemes"] > 0 and result["bilabial_closure_target"] == 1.0
    assert 0 <= result["closure_elsewhere"] <= 1 and result["closure_elsewhere_target"] < 1
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["takes"] == 1
    assert (tmp_path / "eval" / f"curves_{take.name}.png").stat().st_size > 1000


def test_evaluate_by_emotion_splits_the_same_sums(tmp_path):
    root = tmp_path / "d"
    write_toy_dataset(root, takes=4, seconds=1.0, val_takes=4)  # neutral, happy, neutral, happy
    ckpt = random_checkpoint(tmp_path / "c.safetensors", channel_names=CHANNELS, emotion_dim=4)
    result = evaluate(ckpt, root, split="val", by="emotion")
    groups = result["by"]
    assert sorted(groups) == ["happy", "neutral"] and groups["happy"]["takes"] == 2
    mean = np.mean([groups[k]["position_mse"] for k in groups])  # equal groups of equal takes
    # the same per-take sums, grouped otherwise in float64: rel=1e-6 is far above their rounding
    assert mean == pytest.approx(result["position_mse"], rel=1e-6)
    assert result["position_mse"] == pytest.approx(
        evaluate(ckpt, root, split="val")["position_mse"], rel=1e-6)
    assert groups["happy"]["bilabial_phonemes"] + groups["neutral"]["bilabial_phonemes"] == \
        result["bilabial_phonemes"]


def test_evaluate_vertices_and_cli(tmp_path):
    write_toy_dataset(tmp_path / "v", kind="vertices", takes=2, seconds=1.0)
    template = load_dataset(tmp_path / "v").template
    ckpt = random_checkpoint(tmp_path / "v.safetensors", kind="vertices", template=template,
                             emotion_dim=4)
    done = subprocess.run([sys.executable, "-m", "a2f_core.cli", "eval", "--checkpoint", str(ckpt),
                           "--data", str(tmp_path / "v"), "--out", str(tmp_path / "e")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "lip_vertex_error" in done.stdout and "bilabial_closure" in done.stdout
    result = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert result["lip_vertex_error"] > 0 and result["bilabial_closure"] is not None
    wrong = subprocess.run([sys.executable, "-m", "a2f_core.cli", "eval", "--checkpoint",
                            str(ckpt), "--data", str(tmp_path / "nowhere")], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1 and "dataset.json" in wrong.stderr
