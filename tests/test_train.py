"""Training: the loss falls, runs resume exactly, checkpoints survive being killed, bad input
is refused, and the shared-formant batches match per-window evaluation."""

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from a2f_core.checkpoint import load_checkpoint
from a2f_core.errors import A2FError, DatasetError
from a2f_core.features import GridFeatures, window_starts
from a2f_core.torch.model import A2FNet
from training.batches import interpolate, make_batch, prepare_take
from training.dataset import load_dataset, write_dataset_json
from training.emotion_mining import add_emotion
from training.toy_dataset import CHANNELS, write_toy_dataset
from training.lip_contact.shut_lips import ShutLips
from training.train import initial_emotion_table, learning_rate, output_loss_scale, train
from training.train_config import TrainConfig, load_config
from tolerance import EPS32, float32_atol

pytestmark = pytest.mark.slow  # trains or synthesises datasets

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.toml"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    write_toy_dataset(root, takes=4, seconds=2.0)
    return root


def tiny(**changes) -> TrainConfig:
    return load_config(TINY, **changes)


def test_loss_decreases_and_run_dir_is_complete(toy, tmp_path):
    out = tmp_path / "run"
    result = train(tiny(steps=160, log_every=40, val_every=80, checkpoint_every=80), toy, out)
    records = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    train_pos = [r["train/position"] for r in records if "train/position" in r]
    val_pos = [r["val/position"] for r in records if "val/position" in r]
    assert train_pos[-1] < 0.8 * train_pos[0]
    assert val_pos[-1] < val_pos[0]
    assert all(r["frames_per_second"] > 0 for r in records if "frames_per_second" in r)
    assert result.step == 160 and not result.interrupted
    assert json.loads((out / "config.json").read_text())["train"]["steps"] == 160
    assert (out / "loss.png").stat().st_size > 1000
    assert list(out.glob("events.out.tfevents.*"))
    ckpt = load_checkpoint(out / "last.safetensors")
    assert ckpt.fps == 30.0 and ckpt.channel_names == CHANNELS
    assert ckpt.tensors["training.emotion_table"].shape == (3 * 60, 4)
    assert [t["row0"] for t in ckpt.meta["training"]["takes"]] == [0, 60, 120]
    assert load_checkpoint(out / "best.safetensors").meta["provenance"]["best_val_position"] == \
        pytest.approx(min(val_pos))


def test_vertex_dataset_trains_and_stores_template(tmp_path):
    write_toy_dataset(tmp_path / "data", kind="vertices", takes=2, seconds=1.0)
    train(tiny(steps=3), tmp_path / "data", tmp_path / "run")
    ckpt = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert ckpt.kind == "vertices"
    np.testing.assert_array_equal(ckpt.template, load_dataset(tmp_path / "data").template)


def test_resume_continues_exactly(toy, tmp_path):
    config = tiny(steps=8, checkpoint_every=4, log_every=2, val_every=4)
    straight = train(config, toy, tmp_path / "a")
    stopped_at = [0]
    stopped = train(config, toy, tmp_path / "b", abort_fn=lambda: stopped_at[0] >= 5,
                    progress_fn=lambda step, total: stopped_at.__setitem__(0, step))
    assert stopped.interrupted and stopped.step == 5
    resumed = train(None, toy, tmp_path / "b", resume=True)
    assert resumed.step == 8
    # the same steps on the same batches through the same code: bit for bit
    for name, value in straight.tensors.items():
        np.testing.assert_array_equal(resumed.tensors[name], value, err_msg=name)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "stats.jsonl").open()]
    assert steps == [json.loads(line)["step"] for line in (tmp_path / "a" / "stats.jsonl").open()]


def test_resume_refuses_a_changed_config_and_a_fresh_run_refuses_an_old_dir(toy, tmp_path):
    train(tiny(steps=2), toy, tmp_path / "run")
    with pytest.raises(A2FError, match="differs"):
        train(tiny(steps=3), toy, tmp_path / "run", resume=True)
    with pytest.raises(A2FError, match="--resume"):
        train(tiny(steps=2), toy, tmp_path / "run")


def test_killed_training_leaves_loadable_checkpoints_and_resumes(toy, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "training.train", "--data", str(toy), "--out", str(out),
           "--config", str(TINY), "--steps", "60"]
    # checkpoint every step (via a config copy) so the kill lands during or between writes
    config = tmp_path / "every_step.toml"
    config.write_text(TINY.read_text().replace("checkpoint_every = 100", "checkpoint_every = 1"))
    cmd[cmd.index(str(TINY))] = str(config)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (out / "resume.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = sorted(p.name for p in out.glob("*.safetensors"))
    assert "last.safetensors" in written
    for name in written:
        load_checkpoint(out / name)
    step = torch.load(out / "resume.pt", weights_only=True)["step"]
    assert 0 < step < 60
    done = subprocess.run([sys.executable, "-m", "training.train", "--out", str(out), "--resume"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert load_checkpoint(out / "last.safetensors").meta["provenance"]["steps"] == 60


def test_sigint_saves_and_exits_130(toy, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "training.train", "--data", str(toy), "--out",
                             str(out), "--config", str(TINY), "--steps", "100000"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 60
    while not (out / "config.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "--resume" in stdout
    assert torch.load(out / "resume.pt", weights_only=True)["step"] > 0


def test_init_starts_from_a_checkpoint_on_the_same_or_new_takes(toy, tmp_path):
    first = train(tiny(steps=20), toy, tmp_path / "first")
    start = str(tmp_path / "first" / "last.safetensors")
    # learning rate 0 leaves the start untouched: network and, on the same takes, emotion table
    same = train(tiny(steps=1, learning_rate=0.0, init=start), toy, tmp_path / "same")
    for name, value in first.tensors.items():
        np.testing.assert_array_equal(same.tensors[name], value, err_msg=name)
    # new captures with other takes keep the network and get a fresh emotion table
    write_toy_dataset(tmp_path / "new", takes=3, seconds=1.5, seed=7)
    tuned = train(tiny(steps=1, learning_rate=0.0, init=start), tmp_path / "new",
                  tmp_path / "tuned")
    for name, value in first.tensors.items():
        if name != "training.emotion_table":
            np.testing.assert_array_equal(tuned.tensors[name], value, err_msg=name)
    assert tuned.tensors["training.emotion_table"].shape == (2 * 45, 4)
    assert load_checkpoint(tmp_path / "tuned" / "last.safetensors").meta["provenance"]["train"][
        "init"] == start
    write_toy_dataset(tmp_path / "verts", kind="vertices", takes=2, seconds=1.0)
    with pytest.raises(A2FError, match="outputs weights but the dataset holds vertices"):
        train(tiny(steps=1, init=start), tmp_path / "verts", tmp_path / "verts_run")
    with pytest.raises(A2FError, match="different network shape"):
        train(tiny(steps=1, hidden_size=8, init=start), toy, tmp_path / "narrow")
    # a stopped second stage resumes from its own state, even once its start is gone
    stopped = train(tiny(steps=4, init=start), toy, tmp_path / "second", abort_fn=lambda: True)
    assert stopped.interrupted and stopped.step == 1
    Path(start).unlink()
    assert train(None, toy, tmp_path / "second", resume=True).step == 4


def test_init_on_new_takes_starts_labelled_takes_at_the_emotions_the_network_knows(toy, tmp_path):
    """Fine-tuning a model on captures of an emotion it has (mined or added) starts them there."""
    label = tiny(emotion_init="label")
    train(label.replace(steps=20), toy, tmp_path / "first")
    start = tmp_path / "first" / "last.safetensors"
    write_toy_dataset(tmp_path / "new", takes=4, seconds=1.5, seed=7)

    def happy_and_neutral(run):
        result = train(label.replace(steps=1, learning_rate=0.0, init=str(start)), tmp_path / "new",
                       tmp_path / run)
        table = result.tensors["training.emotion_table"]
        rows = {r["name"]: r for r in load_checkpoint(tmp_path / run / "last.safetensors")
                .meta["training"]["takes"]}
        return [np.mean([table[r["row0"]:r["row0"] + r["frames"]].mean(0)
                         for r in rows.values() if r["label"] == name], 0)
                for name in ("happy", "neutral")]

    fresh_happy, fresh_neutral = happy_and_neutral("fresh")  # unmined: only 'neutral' is known
    assert np.linalg.norm(fresh_happy) == pytest.approx(1.0, abs=0.05)  # a random unit vector
    known = np.linspace(-1, 1, label.model.emotion_dim).astype(np.float32)
    add_emotion(start, "happy", vector=",".join(map(str, known)))
    happy, neutral = happy_and_neutral("known")
    np.testing.assert_allclose(happy, known, atol=0.01)
    assert np.abs(fresh_happy - known).max() > 0.1
    np.testing.assert_allclose(neutral, fresh_neutral)


def test_clear_errors_for_bad_datasets_and_configs(toy, tmp_path):
    with pytest.raises(DatasetError, match="dataset.json"):
        train(tiny(steps=1), tmp_path / "nowhere", tmp_path / "run1")
    write_dataset_json(tmp_path / "empty", fps=30, kind="weights", takes=[],
                       channel_names=CHANNELS)
    with pytest.raises(DatasetError, match="no takes"):
        train(tiny(steps=1), tmp_path / "empty", tmp_path / "run2")
    with pytest.raises(DatasetError, match="fewer than one minibatch"):
        train(tiny(steps=1, batch_runs=50), toy, tmp_path / "run3")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlearning_rat = 1\n")
    with pytest.raises(A2FError, match="unknown keys"):
        load_config(bad)
    with pytest.raises(A2FError, match="run_frames"):
        TrainConfig(run_frames=1)
    with pytest.raises(A2FError, match=r"position_power must lie in \[1, 2\]"):
        TrainConfig(position_power=0.5)
    with pytest.raises(A2FError, match="data_minutes must not be negative"):
        TrainConfig(data_minutes=-1)


def test_absolute_position_error_trains(toy, tmp_path):
    out = tmp_path / "run"
    train(tiny(steps=100, log_every=25, position_power=1.0), toy, out)
    records = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    error = [r["train/position"] for r in records if "train/position" in r]
    assert error[-1] < 0.8 * error[0]
    assert json.loads((out / "config.json").read_text())["train"]["position_power"] == 1.0


def test_closure_weight_marks_shut_lips_and_trains(toy, tmp_path):
    dataset = load_dataset(toy)
    targets = np.zeros((5, len(dataset.channel_names)), np.float32)
    targets[:, 0] = [0.0, 0.3, 0.05, 0.05, 0.2]  # jawOpen
    targets[:, 1] = [0.0, 0.0, 0.05, 0.04, 0.1]  # mouthClose
    # rest is not contact; open lips are not; mouthClose meeting jawOpen is
    shut = ShutLips(dataset, targets)(torch.from_numpy(targets))
    assert shut.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0]
    no_lips = SimpleNamespace(kind="weights", channel_names=["jawOpen", "mouthSmileLeft"])
    with pytest.raises(A2FError, match="need jawOpen and mouthClose"):
        ShutLips(no_lips, targets)
    with pytest.raises(A2FError, match="closure_weight must be at least 1.0"):
        TrainConfig(closure_weight=0.5)
    result = train(tiny(steps=3, closure_weight=8.0), toy, tmp_path / "run")
    assert math.isfinite(result.best_val)


def test_contact_loss_teaches_the_hidden_layer_where_lips_touch(toy, tmp_path):
    with pytest.raises(A2FError, match="contact_loss must not be negative"):
        TrainConfig(contact_loss=-1.0)
    out = tmp_path / "run"
    train(tiny(steps=150, log_every=25, contact_loss=1.0), toy, out)
    records = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    bce = [r["train/contact"] for r in records if "train/contact" in r]
    # the toy /m/ is audible: the unit beats the 0.56 of guessing its base rate (a quarter)
    assert len(bce) == 6 and bce[-1] < 0.7 * bce[0] and bce[-1] < 0.45
    assert json.loads((out / "config.json").read_text())["train"]["contact_loss"] == 1.0


def test_closure_weight_finds_touching_lips_in_vertex_data(tmp_path):
    write_toy_dataset(tmp_path / "data", kind="vertices", takes=2, seconds=1.0)
    dataset = load_dataset(tmp_path / "data")
    template, upper, lower = (dataset.template, dataset.info["upper_lip_vertices"],
                              dataset.info["lower_lip_vertices"])
    opening = np.linspace(0.0, 1.0, 101, dtype=np.float32)  # 0: lips meet, 1: widest
    offsets = np.zeros((101, *template.shape), np.float32)
    meet = (template[upper].mean(0) - template[lower].mean(0)) / 2
    offsets[:, upper] = -meet * (1 - opening[:, None, None])
    offsets[:, lower] = meet * (1 - opening[:, None, None])
    offsets = offsets.reshape(101, -1)
    shut = ShutLips(dataset, offsets)(torch.from_numpy(offsets)).numpy()
    # the bottom 10% of the 5-95 percentile range of the lip distance counts as touching
    assert shut[:14].all() and not shut[15:].any()
    del dataset.info["upper_lip_vertices"]
    with pytest.raises(A2FError, match="need upper_lip_vertices and lower_lip_vertices"):
        ShutLips(dataset, offsets)
    result = train(tiny(steps=3, closure_weight=8.0), tmp_path / "data", tmp_path / "run")
    assert math.isfinite(result.best_val)


def test_cli_reports_errors_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "training.train", "--data", str(tmp_path),
                           "--out", str(tmp_path / "run")], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "dataset.json" in done.stderr


def test_cli_set_overrides_config_fields(toy, tmp_path, capsys):
    from training.train import main
    out = tmp_path / "run"
    args = ["--data", str(toy), "--out", str(out), "--config", str(TINY), "--steps", "2"]
    assert main([*args, "--set", "contact_loss=1.0", "--set", "emotion_init=label"]) == 0
    saved = json.loads((out / "config.json").read_text())["train"]
    assert (saved["contact_loss"], saved["emotion_init"], saved["steps"]) == (1.0, "label", 2)
    for bad, message in (("contact_loss", "expected KEY=VALUE"), ("no_such=1", "unknown keys"),
                         ("contact_loss=-1", "contact_loss must not be negative")):
        capsys.readouterr()
        assert main([*args[:3], str(tmp_path / bad), *args[4:], "--set", bad]) == 1
        assert message in capsys.readouterr().err


def test_learning_rate_ramps_up_and_down_smoothly():
    config = TrainConfig(learning_rate=1.0, rampup_fraction=0.1, rampdown_fraction=0.5)
    lrs = np.array([learning_rate(s, 1000, config) for s in range(1000)])
    assert lrs[0] == pytest.approx(np.exp(-5))
    assert np.all(np.diff(lrs[:100]) > 0) and lrs[100:500].min() == 1.0
    assert np.all(np.diff(lrs[500:]) < 0) and lrs[-1] < 1e-4
    assert np.abs(np.diff(lrs)).max() < 0.1


def test_label_init_seeds_labelled_takes_and_the_table_learns_faster(toy, tmp_path):
    dataset = load_dataset(toy)
    config = tiny(emotion_init="label")
    takes = [prepare_take(t, dataset.fps, dataset.kind, None, config.model_config("weights", 4),
                          i * 60) for i, t in enumerate(dataset.split("train"))]
    table = initial_emotion_table(takes, config).numpy()
    means = {t.label: table[t.row0:t.row0 + t.frames].mean(0) for t in takes}
    assert np.linalg.norm(means["happy"]) == pytest.approx(1.0, abs=0.05)
    assert np.linalg.norm(means["neutral"]) < 0.05

    def moved(run, **changes):
        result = train(tiny(steps=60, val_every=60, checkpoint_every=60, **changes), toy, run)
        start = initial_emotion_table(takes, tiny(**changes)).numpy()
        return np.abs(result.tensors["training.emotion_table"] - start).mean()
    assert moved(tmp_path / "fast", emotion_lr_scale=20.0) > 5 * moved(tmp_path / "slow")


def test_standardized_outputs_weigh_small_channels_up_and_still_channels_bounded():
    rng = np.random.default_rng(0)
    targets = np.stack([0.4 * rng.standard_normal(1000), 0.1 * rng.standard_normal(1000),
                        np.zeros(1000)], 1).astype(np.float32)
    assert output_loss_scale(targets, TrainConfig()).tolist() == [1.0, 1.0, 1.0]
    scale = output_loss_scale(targets, TrainConfig(standardize_outputs=True)).numpy()
    assert np.sqrt(np.mean(scale ** 2)) == pytest.approx(1.0, rel=16 * EPS32)  # a float32 mean
    assert scale[1] / scale[0] == pytest.approx(4.0, rel=0.1)  # 0.4 / 0.1
    floor = 0.25 * np.sqrt(np.mean(targets.std(0) ** 2))
    # float32 std of 1000 values: its rounding grows with the sum, well under 1e-4
    assert scale[2] / scale[0] == pytest.approx(targets[:, 0].std() / floor, rel=1e-3)


def test_shared_formant_batch_matches_per_window_evaluation(toy):
    dataset = load_dataset(toy)
    config = tiny().model_config("weights", len(CHANNELS))
    takes = [prepare_take(t, dataset.fps, "weights", None, config, 60 * i)
             for i, t in enumerate(dataset.split("train"))]
    runs, shifts = [(0, 0, 5), (2, 40, 7)], [-0.5, 0.3]
    batch = make_batch(takes, runs, shifts, dataset.fps, config)
    torch.manual_seed(0)
    net = A2FNet(config).eval()
    e = torch.randn(len(batch.targets), config.emotion_dim)
    shared = net.forward_grid(batch.grid, batch.starts, e)
    windows, targets = [], []
    for (i, first, length), shift in zip(runs, shifts):
        features = GridFeatures(dataset.split("train")[i].audio(), config)
        for s in window_starts(length, dataset.fps, (first + shift) / dataset.fps, config):
            windows.append(features.frames(int(s), int(s) + config.window_frames))
        targets.append(interpolate(takes[i].targets, first + shift + np.arange(length)))
    naive = net(torch.from_numpy(np.stack(windows)), e)
    # shared grid layers and per-window convs sum in other orders: equal to rounding
    torch.testing.assert_close(shared, naive, rtol=0, atol=float32_atol(naive.detach()))
    torch.testing.assert_close(batch.targets, torch.cat(targets))
    assert batch.rows.tolist() == list(range(0, 5)) + list(range(160, 167))
    assert batch.pair0.tolist() == [0, 1, 2, 3] + [5, 6, 7, 8, 9, 10]


def test_interpolate_is_linear_and_held_at_the_ends():
    y = torch.tensor([[0.0], [10.0], [20.0]])
    out = interpolate(y, np.array([-0.5, 0.25, 1.5, 2.4]))
    assert out[:, 0].tolist() == pytest.approx([0.0, 2.5, 15.0, 20.0])
