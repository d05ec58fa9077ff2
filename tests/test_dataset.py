"""The native dataset layout: round trips, and one clear error per kind of damage."""

import json

import numpy as np
import pytest

from a2f_core.errors import DatasetError
from training.dataset import (DATASET_FORMAT_VERSION, frame_count, load_dataset,
                              write_dataset_json, write_take)

FPS = 30.0


def _weights_dataset(root, seconds=(1.0, 0.5), channels=("jawOpen", "mouthClose")):
    entries = []
    for i, s in enumerate(seconds):
        audio = (0.1 * np.sin(np.arange(int(s * 16000)) / 10)).astype(np.float32)
        targets = np.full((frame_count(len(audio), FPS), len(channels)), 0.25 * i, np.float32)
        entries.append(write_take(root, f"t{i}", audio, targets,
                                  {"voice": "v", "language": "en", "emotion": None,
                                   "phonemes": None, "synthesiser": None,
                                   "split": "val" if i else "train"}))
    write_dataset_json(root, fps=FPS, kind="weights", takes=entries, channel_names=channels,
                       provenance={"licence": "CC0-1.0", "source": "test"})
    return root


def test_weights_round_trip(tmp_path):
    ds = load_dataset(_weights_dataset(tmp_path))
    assert ds.kind == "weights" and ds.fps == FPS and ds.channel_names == ["jawOpen", "mouthClose"]
    assert [t.name for t in ds.split("train")] == ["t0"] and [t.name for t in ds.split("val")] == ["t1"]
    take = ds.takes[1]
    assert take.audio().dtype == np.float32 and len(take.audio()) == 8000
    assert take.targets().shape == (15, 2) and np.all(take.targets() == 0.25)
    assert ds.info["format_version"] == DATASET_FORMAT_VERSION


def test_vertices_round_trip(tmp_path):
    template = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    audio = np.zeros(16000, np.float32)
    targets = np.repeat(template[None], 30, 0) + 0.01
    entry = write_take(tmp_path, "a", audio, targets, {"split": "train"})
    write_dataset_json(tmp_path, fps=FPS, kind="vertices", takes=[entry], template=template,
                       lip_vertices=[1, 2])
    ds = load_dataset(tmp_path)
    assert np.array_equal(ds.template, template) and list(ds.lip_vertices) == [1, 2]
    assert ds.takes[0].targets().shape == (30, 10, 3) and ds.channel_names is None


def test_frame_count_is_ceil_of_duration():
    assert frame_count(16000, 30) == 30 and frame_count(16001, 30) == 31
    assert frame_count(8000, 29.97) == 15


def _edit_json(root, change):
    path = root / "dataset.json"
    info = json.loads(path.read_text())
    change(info)
    path.write_text(json.dumps(info))


@pytest.mark.parametrize("damage, message", [
    (lambda r: (r / "takes" / "t0.wav").unlink(), "missing file"),
    (lambda r: np.save(r / "takes" / "t0.npy", np.full((30, 2), np.nan, np.float32)), "finite"),
    (lambda r: np.save(r / "takes" / "t0.npy", np.zeros((30, 3), np.float32)), "shape"),
    (lambda r: np.save(r / "takes" / "t0.npy", np.zeros((35, 2), np.float32)), "frames do not match"),
    (lambda r: _edit_json(r, lambda i: i.update(format_version=99)), "format_version"),
    (lambda r: _edit_json(r, lambda i: i.update(fps=-1)), "fps"),
    (lambda r: _edit_json(r, lambda i: i["takes"][0]["meta"].update(split="test")), "split"),
    (lambda r: _edit_json(r, lambda i: i.update(takes=[])), "no takes"),
    (lambda r: (r / "dataset.json").write_text("{"), "is not valid JSON"),
])
def test_damage_is_reported(tmp_path, damage, message):
    root = _weights_dataset(tmp_path)
    load_dataset(root)  # intact first, so the error below is caused by the damage
    damage(root)
    with pytest.raises(DatasetError, match=message):
        load_dataset(root)


def test_length_tolerance_is_one_frame(tmp_path):
    root = _weights_dataset(tmp_path)
    np.save(root / "takes" / "t0.npy", np.zeros((31, 2), np.float32))  # 1 s audio: 30 +- 1 ok
    load_dataset(root)
    np.save(root / "takes" / "t0.npy", np.zeros((32, 2), np.float32))
    with pytest.raises(DatasetError, match="t0"):
        load_dataset(root)


def test_missing_folder_names_the_file(tmp_path):
    with pytest.raises(DatasetError, match="dataset.json not found"):
        load_dataset(tmp_path / "nope")


def test_bad_lip_vertices(tmp_path):
    entry = write_take(tmp_path, "a", np.zeros(1600, np.float32), np.zeros((3, 4, 3)), {})
    write_dataset_json(tmp_path, fps=FPS, kind="vertices", takes=[entry],
                       template=np.zeros((4, 3)), lip_vertices=[7])
    with pytest.raises(DatasetError, match="lip_vertices"):
        load_dataset(tmp_path)
