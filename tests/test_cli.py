"""`a2f infer` end to end in a subprocess, with torch made unimportable as it is in Blender."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from a2f_core.audio import load_audio
from a2f_core.checkpoint import load_checkpoint
from a2f_core.emotions import blend
from a2f_core.errors import CheckpointError
from a2f_core.export import livelink_timecode
from a2f_core.infer import Animator
from tolerance import float32_atol

NO_TORCH = ("import sys, runpy; sys.modules['torch'] = None; "
            "sys.argv = ['a2f'] + sys.argv[1:]; runpy.run_module('a2f_core.cli', run_name='__main__')")


def a2f(*args, check=True):
    result = subprocess.run([sys.executable, "-c", NO_TORCH, *map(str, args)],
                            capture_output=True, text=True)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_npz_matches_the_library_without_torch(tmp_path, speech_wav, weights_ckpt):
    out = tmp_path / "out.npz"
    a2f("infer", speech_wav, "--checkpoint", weights_ckpt, "--emotion", "happy=0.7,sad=0.3", "--no-life",
        "--fps", 24, "-o", out)
    data = np.load(out)
    ckpt = load_checkpoint(weights_ckpt)
    expected = Animator(ckpt).animate(load_audio(speech_wav), 24,
                                      blend(ckpt.emotions, {"happy": 0.7, "sad": 0.3}))
    assert float(data["fps"]) == 24 and list(data["names"]) == ckpt.channel_names
    # the command streams the file in its own chunks: equal to rounding
    assert np.allclose(data["weights"], expected, rtol=0, atol=float32_atol(expected))


def test_livelink_csv_layout(tmp_path, speech_wav, weights_ckpt):
    out = tmp_path / "take.csv"
    a2f("infer", speech_wav, "--checkpoint", weights_ckpt, "--fps", 60, "-o", out)
    rows = list(csv.reader(out.open()))
    assert rows[0][:4] == ["Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft"]
    assert len(rows[0]) == 2 + 52 + 9 and rows[0][-1] == "RightEyeRoll"
    assert rows[1][0] == "00:00:00:00.000" and rows[61][0] == "00:00:01:00.000"
    assert all(0.0 <= float(v) <= 1.0 for v in rows[5][2:54])


def test_vertices_json_are_absolute(tmp_path, speech_wav, vertices_ckpt):
    out = tmp_path / "v.json"
    a2f("infer", speech_wav, "--checkpoint", vertices_ckpt, "-o", out)
    doc = json.loads(out.read_text())
    ckpt = load_checkpoint(vertices_ckpt)
    v = np.array(doc["vertices"])
    assert v.shape[1:] == ckpt.template.shape and doc["frame_count"] == len(v)
    offsets = Animator(ckpt).animate(load_audio(speech_wav), 30, ckpt.emotions["neutral"])
    # JSON holds 6 decimals (half a unit: 5e-7), on top of the rounding of other chunks
    assert np.allclose(v, offsets + ckpt.template, rtol=0, atol=5e-7 + float32_atol(v))
    # .npz holds the same float32 positions (stored, not deflated: they barely compress)
    a2f("infer", speech_wav, "--checkpoint", vertices_ckpt, "-o", tmp_path / "v.npz")
    with np.load(tmp_path / "v.npz") as f:
        assert f["vertices"].dtype == np.float32
        assert np.allclose(f["vertices"], offsets + ckpt.template, rtol=0, atol=float32_atol(v))


def test_a_preset_writes_the_rigs_targets(tmp_path, speech_wav, weights_ckpt):
    from a2f_core.retarget import load_preset
    out = tmp_path / "visemes.json"
    a2f("infer", speech_wav, "--checkpoint", weights_ckpt, "--preset", "oculus_visemes", "-o", out)
    doc = json.loads(out.read_text())
    ckpt, preset = load_checkpoint(weights_ckpt), load_preset("oculus_visemes")
    assert doc["names"] == list(preset.targets) and doc["names"][:2] == ["viseme_sil", "viseme_PP"]
    expected = Animator(ckpt).animate(load_audio(speech_wav), 30, ckpt.emotions["neutral"])
    assert np.allclose(doc["weights"], preset.apply(ckpt.channel_names, expected), atol=1e-5)


@pytest.mark.parametrize("args,message", [
    (["--preset", "nothing"], "no preset file nothing and no shipped preset of that name; shipped: arkit"),
    (["--preset", "oculus_visemes", "-o", "x.csv"], "Live Link Face .csv needs"),
    (["--emotion", "furious"], "unknown emotion 'furious'; this checkpoint has: happy, neutral, sad"),
    (["--start-seconds", "999"], "outside the audio"),
    (["-o", "/nonexistent-dir/x.npz"], "does not exist"),
    (["-o", "x.txt"], "use one of"),
])
def test_errors_are_one_line(tmp_path, speech_wav, weights_ckpt, args, message):
    base = ["infer", speech_wav, "--checkpoint", weights_ckpt, "-o", tmp_path / "o.npz"]
    result = a2f(*base, *args, check=False)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_without_checkpoint_the_bundled_model_animates(tmp_path, speech_wav):
    a2f("infer", speech_wav, "-o", tmp_path / "o.npz")
    with np.load(tmp_path / "o.npz") as out:
        assert len(out["names"]) == 52 and out["weights"].shape[1] == 52
        assert out["weights"][:, list(out["names"]).index("jawOpen")].max() > 0.2


def test_missing_default_model_says_so(tmp_path, monkeypatch):
    from a2f_core import models
    monkeypatch.setattr(models, "DEFAULT_WEIGHTS", tmp_path / "default_weights.safetensors")
    with pytest.raises(CheckpointError, match="no bundled default weights model"):
        models.default_checkpoint("weights")


def test_timecodes():
    assert livelink_timecode(0, 30) == "00:00:00:00.000"
    assert livelink_timecode(29, 30) == "00:00:00:29.000"
    assert livelink_timecode(3600 * 30 + 31, 30) == "01:00:01:01.000"
    assert livelink_timecode(1, 29.97) == "00:00:00:01.000"
