"""`a2f import vocaset` on fixtures in the published layout (Python 2 pickles, 60 fps,
22 kHz int16 audio, 5023-vertex FLAME-sized heads), the safe unpickler, and train/eval on it."""

import json
import pickle
import struct

import numpy as np
import pytest

from a2f_core.errors import DatasetError
from a2f_core.cli.main import main as a2f
from training.dataset import load_dataset
from training.importers import flame_lips, safe_pickle
from training.importers.safe_pickle import UnsafePickleError
from training.importers.vocaset import import_vocaset

V = 5023
RATE = 22000
NOSE = np.array([0.0, 0.0, 0.11])


# --- a Python 2 protocol-2 pickle writer: byte strings, __builtin__/numpy.core names --------

def py2_pickle(obj) -> bytes:
    """What `cPickle.dump(obj, f, 2)` wrote on Python 2 with numpy 1.x for dicts of str, int,
    float, None, tuples and ndarrays (the types VOCASET's pickles hold)."""
    return b"\x80\x02" + _py2(obj) + b"."


def _py2(obj) -> bytes:
    if obj is None:
        return b"N"
    if isinstance(obj, (str, bytes)):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        return (b"U" + bytes([len(raw)]) if len(raw) < 256 else b"T" + struct.pack("<i", len(raw))) + raw
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        return b"J" + struct.pack("<i", obj)
    if isinstance(obj, float):
        return b"G" + struct.pack(">d", obj)
    if isinstance(obj, tuple):
        return b"(" + b"".join(_py2(x) for x in obj) + b"t"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_py2(k) + _py2(v) for k, v in obj.items()) + b"u"
    if isinstance(obj, np.dtype):
        return (b"cnumpy\ndtype\n" + _py2((obj.str[1:], 0, 1)) + b"R"
                + _py2((3, obj.str[0], None, None, None, -1, -1, 0)) + b"b")
    if isinstance(obj, np.ndarray):
        return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n"
                + _py2((0,)) + _py2(b"b") + b"\x87R"
                + _py2((1, obj.shape, obj.dtype, False, np.ascontiguousarray(obj).tobytes())) + b"b")
    raise TypeError(type(obj))


# --- a VOCASET-shaped fixture ---------------------------------------------------------------

def fake_flame_template(rng, shift=0.0):
    """5023 points on a head-sized ellipsoid (metres, y up, z forward) with a nose and lips."""
    upper = np.stack([np.linspace(-.025, .025, 60), np.full(60, -.025), np.full(60, .09)], 1)
    lower = upper + [0, -.015, 0]
    nose = NOSE + rng.normal(0, .002, (20, 3)) * [1, 1, 0] - [0, 0, .002]
    nose[0] = NOSE
    d = rng.normal(size=(V - 140, 3))
    skull = d / np.linalg.norm(d, axis=1, keepdims=True) * [.075, .11, .08] + [0, .03, 0]
    head = np.concatenate([upper, lower, nose, skull]).astype(np.float32)
    return head + np.float32(shift)


UPPER, LOWER = np.arange(60), np.arange(60, 120)


def speech(seconds, seed):
    t = np.arange(int(seconds * RATE)) / RATE
    voice = sum(np.sin(2 * np.pi * k * 130 * t) / k for k in range(1, 8))
    return (3000 * voice * np.clip(np.sin(2 * np.pi * (3 + seed) * t), 0, None)).astype(np.int16)


def write_vocaset(root, frames=40, subjects=("FaceTalk_170725_00137_TA", "FaceTalk_170728_03272_TA"),
                  sentences=("sentence01", "sentence02"), edit=None):
    """The four published files; edit(verts, templates, audio, index) may damage them first."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    templates = {s: fake_flame_template(rng, 0.003 * i) for i, s in enumerate(subjects)}
    blocks, audio, index, row = [], {}, {}, 0
    for i, subject in enumerate(subjects):
        audio[subject], index[subject] = {}, {}
        for j, sentence in enumerate(sentences):
            opening = 0.01 * np.abs(np.sin(np.arange(frames) / 6 + j))
            motion = np.repeat(templates[subject][None], frames, 0)
            motion[:, LOWER, 1] -= opening[:, None]
            motion[:, UPPER, 1] += 0.2 * opening[:, None]
            blocks.append(motion)
            index[subject][sentence] = {k + 1: row + k for k in range(frames)}
            audio[subject][sentence] = {"audio": speech(frames / 60, j), "sample_rate": RATE}
            row += frames
    verts = np.concatenate(blocks).astype(np.float32)
    if edit:
        edit(verts, templates, audio, index)
    np.save(root / "data_verts.npy", verts)
    for name, obj in (("templates", templates), ("raw_audio_fixed", audio),
                      ("subj_seq_to_idx", index)):
        (root / f"{name}.pkl").write_bytes(py2_pickle(obj))
    return root


# --- safe unpickler -------------------------------------------------------------------------

def test_python2_pickles_load_with_arrays_intact(tmp_path):
    value = {"a": {"x": np.arange(6, dtype=np.int16).reshape(2, 3), "sample_rate": 22000},
             "b": (1.5, None, "s")}
    (tmp_path / "p.pkl").write_bytes(py2_pickle(value))
    loaded = safe_pickle.load(tmp_path / "p.pkl")
    assert loaded["a"]["x"].dtype == np.int16 and loaded["a"]["x"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert loaded["a"]["sample_rate"] == 22000 and loaded["b"] == (1.5, None, "s")


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_pickles_of_arrays_scalars_and_sets_load(tmp_path, protocol):
    value = {"x": np.linspace(0, 1, 5, dtype=np.float32), "n": np.int64(7), "s": {1, 2}}
    (tmp_path / "p.pkl").write_bytes(pickle.dumps(value, protocol=protocol))
    loaded = safe_pickle.load(tmp_path / "p.pkl")
    assert np.array_equal(loaded["x"], value["x"]) and loaded["n"] == 7 and loaded["s"] == {1, 2}


class _Exploit:
    def __init__(self, target, marker):
        self.target, self.marker = target, marker

    def __reduce__(self):
        if self.target == "os.system":
            import os
            return os.system, (f"touch {self.marker}",)
        if self.target == "eval":
            return eval, (f"open({str(self.marker)!r}, 'w')",)
        import subprocess
        return subprocess.call, (["touch", str(self.marker)],)


@pytest.mark.parametrize("target,protocol,name", [
    ("os.system", 2, r"(posix|os)\.system"), ("eval", 2, r"__builtin__\.eval"),
    ("eval", 4, r"builtins\.eval"), ("subprocess", 4, r"subprocess\.call")])
def test_hostile_pickles_are_refused_without_running(tmp_path, target, protocol, name):
    marker = tmp_path / "pwned"
    path = tmp_path / "templates.pkl"
    path.write_bytes(pickle.dumps({"FaceTalk": _Exploit(target, marker)}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=name):
        safe_pickle.load(path)
    assert not marker.exists()


def test_codecs_other_than_latin1_and_truncated_pickles_are_refused(tmp_path):
    path = tmp_path / "p.pkl"
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(DatasetError, match="rot13"):
        safe_pickle.load(path)
    path.write_bytes(py2_pickle({"x": np.zeros(4)})[:-9])
    with pytest.raises(DatasetError, match="not a readable pickle"):
        safe_pickle.load(path)


# --- the importer ---------------------------------------------------------------------------

def test_import_resamples_rebases_and_finds_the_lips(tmp_path):
    root = write_vocaset(tmp_path / "voca")
    import_vocaset(root, tmp_path / "out", val=["*_03272_TA_sentence02"])
    ds = load_dataset(tmp_path / "out")
    assert ds.kind == "vertices" and ds.fps == 30.0 and ds.template.shape == (V, 3)
    assert len(ds.takes) == 4 and [t.name for t in ds.split("val")] == [
        "FaceTalk_170728_03272_TA_sentence02"]
    verts = np.load(root / "data_verts.npy")
    templates = safe_pickle.load(root / "templates.pkl")
    subject = "FaceTalk_170728_03272_TA"
    take = next(t for t in ds.takes if t.name == f"{subject}_sentence01")
    # 40 frames at 60 fps -> 20 at 30 fps: every other source frame, re-based onto the mean face
    expected = verts[80:120:2] - templates[subject] + ds.template
    # float32 vertices re-based in other orders of the same three terms: ulps of coordinates < 1
    assert np.allclose(take.targets(), expected, atol=1e-6)
    assert len(take.audio()) == 16000 * 40 // 60
    assert set(UPPER) | set(LOWER) <= set(ds.lip_vertices.tolist())
    assert set(ds.info["upper_lip_vertices"]) >= set(UPPER)
    assert set(ds.info["lower_lip_vertices"]) >= set(LOWER)
    assert ds.info["provenance"]["source"].startswith("VOCASET")
    report = json.loads((tmp_path / "out" / "import_report.json").read_text())
    assert report["problems"] == [] and "resampled from 60 to 30 fps" in report["notes"][0]["message"]


def test_published_flame_masks_override_the_derived_region(tmp_path):
    root = write_vocaset(tmp_path / "voca", subjects=("S1",), sentences=("sentence01",))
    (tmp_path / "FLAME_masks.pkl").write_bytes(py2_pickle({"lips": np.arange(100, 140),
                                                          "nose": np.arange(5)}))
    import_vocaset(root, tmp_path / "out", flame_masks=tmp_path / "FLAME_masks.pkl")
    ds = load_dataset(tmp_path / "out")
    assert ds.lip_vertices.tolist() == list(range(100, 140))
    assert "FLAME_masks" in ds.info["provenance"]["lip_region"]


def test_a_template_that_is_not_a_flame_head_needs_the_masks():
    with pytest.raises(DatasetError, match="--flame-masks"):
        flame_lips.lip_groups(np.random.default_rng(0).normal(size=(V, 3)).astype(np.float32) * 10)


def _nan(verts, templates, audio, index):
    verts[5, 10, 1] = np.nan


def _short_audio(verts, templates, audio, index):
    entry = audio["S1"]["sentence02"]
    entry["audio"] = entry["audio"][: RATE // 10]


def _gap(verts, templates, audio, index):
    frames = index["S1"]["sentence01"]
    for k in range(10, 30):
        del frames[k]


def _missing_audio(verts, templates, audio, index):
    del audio["S1"]["sentence01"]


@pytest.mark.parametrize("edit,take,message", [
    (_nan, "S1_sentence01", "NaN or infinite vertex positions in 1 of 40 frames"),
    (_short_audio, "S1_sentence02", "audio (0.100 s) is shorter than the motion"),
    (_gap, "S1_sentence01", "hole of 0.350 s"),
    (_missing_audio, "S1_sentence01", "no audio"),
])
def test_damaged_takes_fail_the_import_or_are_skipped_and_listed(tmp_path, edit, take, message):
    root = write_vocaset(tmp_path / "voca", subjects=("S1",), edit=edit)
    with pytest.raises(DatasetError, match="nothing was imported"):
        import_vocaset(root, tmp_path / "a")
    assert not (tmp_path / "a" / "dataset.json").exists()
    assert not (tmp_path / "a" / "takes").exists()
    import_vocaset(root, tmp_path / "b", skip_invalid=True)
    ds = load_dataset(tmp_path / "b")
    assert [t.name for t in ds.takes] == sorted({"S1_sentence01", "S1_sentence02"} - {take})
    report = json.loads((tmp_path / "b" / "import_report.json").read_text())
    assert report["skipped"] == [take] and message in report["problems"][0]["message"]
    assert ds.info["provenance"]["skipped_takes"] == [take]


def test_motion_at_the_wrong_rate_is_named(tmp_path):
    def half_audio(verts, templates, audio, index):  # audio as if the 120 frames were 30 fps
        for entry in audio["S1"].values():
            entry["audio"] = np.tile(entry["audio"], 2)
    root = write_vocaset(tmp_path / "voca", subjects=("S1",), frames=120, edit=half_audio)
    with pytest.raises(DatasetError):
        import_vocaset(root, tmp_path / "out", tolerance=0.2)
    problems = json.loads((tmp_path / "out" / "import_report.json").read_text())["problems"]
    assert ("the 120 source frames fit the audio at 30 fps, not 60: frame-rate mismatch?"
            in problems[0]["message"])


def test_unknown_subjects_and_missing_files_are_reported(tmp_path):
    root = write_vocaset(tmp_path / "voca", subjects=("S1",))
    with pytest.raises(DatasetError, match="unknown subject.*S9.*has S1"):
        import_vocaset(root, tmp_path / "out", subjects=["S9"])
    (root / "templates.pkl").unlink()
    with pytest.raises(DatasetError, match="missing templates.pkl"):
        import_vocaset(root, tmp_path / "out2")


@pytest.mark.slow  # trains
def test_cli_import_then_train_and_eval(tmp_path, capsys):
    root = write_vocaset(tmp_path / "voca")
    data, run = tmp_path / "data", tmp_path / "run"
    assert a2f(["import", "vocaset", str(root), "--out", str(data), "--subjects",
                "FaceTalk_170725_00137_TA", "FaceTalk_170728_03272_TA",
                "--val", "*sentence02"]) == 0
    assert a2f(["train", "--data", str(data), "--out", str(run), "--config",
                "configs/tiny.toml", "--steps", "4"]) == 0
    assert a2f(["eval", "--checkpoint", str(run / "last.safetensors"), "--data", str(data),
                "--out", str(tmp_path / "eval"), "--plot-takes", "0"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert np.isfinite(metrics["lip_vertex_error"]) and metrics["lip_vertex_error"] > 0
