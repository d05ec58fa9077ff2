"""Emotion mining from a trained checkpoint, culling, and hand curation."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from a2f_core.checkpoint import load_checkpoint, save_checkpoint
from a2f_core.errors import A2FError
from a2f_core.infer import Animator
from training.dataset import load_dataset
from training.emotion_mining import (add_emotion, kmeans, mine, propose, remove_emotion,
                                     rename_emotion)
from training.toy_dataset import write_toy_dataset
from training.train import train
from training.train_config import load_config
from tolerance import EPS32

pytestmark = pytest.mark.slow  # trains or synthesises datasets

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(checkpoint, dataset): 120 steps of the tiny network on toy takes labelled happy/neutral."""
    root = tmp_path_factory.mktemp("emotions")
    write_toy_dataset(root / "data", takes=5, seconds=1.5)
    config = load_config(ROOT / "configs" / "tiny.toml", steps=120, learning_rate=1e-2)
    train(config, root / "data", root / "run")
    return root / "run" / "last.safetensors", root / "data"


def test_mining_builds_a_database_that_changes_the_output(trained, tmp_path):
    ckpt_path = shutil.copy(trained[0], tmp_path / "c.safetensors")
    report = mine(ckpt_path, trained[1])
    ckpt = load_checkpoint(ckpt_path)
    assert set(ckpt.emotions) == {"neutral", "happy"} and not report["dropped"]
    assert ckpt.meta["emotions"]["happy"]["source"] == "label"
    assert ckpt.meta["emotions"]["happy"]["takes"] == ["toy01", "toy03"]
    audio = load_dataset(trained[1]).split("val")[0].audio()
    animator = Animator(ckpt)
    happy = animator.animate(audio, 30.0, ckpt.emotions["happy"])
    neutral = animator.animate(audio, 30.0, ckpt.emotions["neutral"])
    assert np.sqrt(np.mean((happy - neutral) ** 2)) > 1e-3
    assert ckpt.meta["emotions"]["happy"]["metrics"]["rms_change_from_neutral"] > 1e-3


def test_mining_drops_implausible_candidates_and_says_why(trained, tmp_path):
    ckpt = load_checkpoint(trained[0])
    tensors = dict(ckpt.tensors)
    table = tensors["training.emotion_table"].copy()
    rows = {t["name"]: t for t in ckpt.meta["training"]["takes"]}
    wild = rows["toy01"]
    table[wild["row0"]:wild["row0"] + wild["frames"]] = 200.0  # a vector far off the data
    tensors["training.emotion_table"] = table
    meta = ckpt.meta
    for t in meta["training"]["takes"]:
        t["label"] = "wild" if t["name"] == "toy01" else t["label"]
    path = save_checkpoint(tmp_path / "w.safetensors", tensors, ckpt.config, fps=ckpt.fps,
                           channel_names=ckpt.channel_names, extra_meta={"training":
                                                                         meta["training"]})
    report = mine(path, trained[1])
    assert "wild" in report["dropped"]
    assert any(r.startswith("implausible") for r in report["dropped"]["wild"]["reasons"])
    saved = load_checkpoint(path)
    assert "wild" not in saved.emotions and "happy" in saved.emotions
    assert "wild" in saved.meta["emotion_mining"]["dropped"]


def test_unlabelled_takes_are_clustered():
    table = np.concatenate([np.zeros((10, 2)), np.ones((10, 2)), np.ones((10, 2)) * 5])
    rows = [{"name": f"t{i}", "row0": 10 * i, "frames": 10, "label": None} for i in range(3)]
    found = propose(table, rows, clusters=2)
    assert sorted(found) == ["cluster1", "cluster2", "neutral"]
    groups = sorted(sorted(found[c]["takes"]) for c in ("cluster1", "cluster2"))
    assert groups == [["t0", "t1"], ["t2"]]
    np.testing.assert_allclose(found["neutral"]["vector"], table.mean(0), rtol=8 * EPS32)
    assert len(kmeans(np.zeros((3, 2)), 2)) == 1  # identical points: one non-empty cluster


def test_hand_curation_and_cli(trained, tmp_path):
    path = shutil.copy(trained[0], tmp_path / "c.safetensors")
    add_emotion(path, "calm", vector="0.1,0.2,0.3,0.4")
    add_emotion(path, "half", blend_spec="calm=0.5")
    ckpt = load_checkpoint(path)
    # a weighted float32 sum against this one: a few ulps of the vectors' scale
    both = (ckpt.emotions["neutral"] + ckpt.emotions["calm"]) / 2
    np.testing.assert_allclose(ckpt.emotions["half"], both, rtol=0,
                               atol=8 * EPS32 * np.abs(both).max())
    rename_emotion(path, "calm", "serene")
    remove_emotion(path, "half")
    assert set(load_checkpoint(path).emotions) == {"neutral", "serene"}
    for bad in (lambda: remove_emotion(path, "neutral"),
                lambda: rename_emotion(path, "neutral", "x"),
                lambda: add_emotion(path, "short", vector="1,2"),
                lambda: add_emotion(path, "serene", vector="1,2,3,4"),
                lambda: remove_emotion(path, "missing")):
        with pytest.raises(A2FError):
            bad()
    listed = subprocess.run([sys.executable, "-m", "a2f_core.cli", "emotions", "list", str(path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "serene" in listed.stdout
    mined = subprocess.run([sys.executable, "-m", "a2f_core.cli", "emotions", "mine", str(path),
                            "--data", str(trained[1])], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
    assert mined.returncode == 0, mined.stderr
    assert "kept    happy" in mined.stdout
