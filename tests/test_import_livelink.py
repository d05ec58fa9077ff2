"""`a2f import livelink` on Live Link Face CSVs in the published layout (52 PascalCase ARKit
columns, 9 rotations, HH:MM:SS:FF.mmm timecodes at 60 or 30 fps), damaged ones, and train/eval."""

import json

import numpy as np
import pytest

from a2f_core.arkit import ARKIT_NAMES, pascal_case
from a2f_core.export import write_animation
from a2f_core.cli.main import main as a2f
from training.dataset import load_dataset
from training.importers.livelink import ROTATIONS
from wav_files import write_wav

JAW = ARKIT_NAMES.index("jawOpen")
SMILE_L, SMILE_R = ARKIT_NAMES.index("mouthSmileLeft"), ARKIT_NAMES.index("mouthSmileRight")


def capture(frames, fps=60):
    """(frames, 52) weights: the jaw follows a syllable rhythm, the left smile is constant."""
    w = np.zeros((frames, 52), np.float32)
    w[:, JAW] = 0.5 + 0.4 * np.sin(np.arange(frames) / fps * 2 * np.pi * 3)
    w[:, SMILE_L] = 0.3
    return w


def timecode(frame, fps, start=(13, 29, 52)):
    """Live Link Face wall-clock timecode of a frame of a take starting at `start`."""
    seconds = start[0] * 3600 + start[1] * 60 + start[2] + frame // fps
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{frame % fps:02d}.000"


def write_csv(path, weights, fps=60, rows=None, header=None):
    header = header or (["Timecode", "BlendShapeCount"] + [pascal_case(n) for n in ARKIT_NAMES]
                        + list(ROTATIONS))
    lines = [",".join(header)]
    for i in (range(len(weights)) if rows is None else rows):
        values = ",".join(f"{v:.6g}" for v in weights[i])
        lines.append(f"{timecode(i, fps)},52,{values}" + ",0.01" * 9)
    path.write_text("\n".join(lines) + "\n")
    return path


def _import(tmp_path, *args, out="out"):
    return a2f(["import", "livelink", *map(str, args), "--out", str(tmp_path / out)])


def test_60_fps_take_with_paired_audio(tmp_path, capsys):
    weights = capture(120)
    write_csv(tmp_path / "take_1.csv", weights)
    write_wav(tmp_path / "take_1.wav", 2.0)
    assert _import(tmp_path, tmp_path / "take_1.csv") == 0
    ds = load_dataset(tmp_path / "out")
    assert ds.kind == "weights" and ds.channel_names == list(ARKIT_NAMES) and ds.fps == 30
    targets = ds.takes[0].targets()
    # the CSV holds 6 significant digits of values <= 1: within 5e-7, plus float32 storage
    assert targets.shape == (60, 52) and np.allclose(targets, weights[::2], atol=1e-6)
    assert len(ds.takes[0].audio()) == 32000
    rotations = np.load(tmp_path / "out" / ds.takes[0].meta["rotations"])
    assert rotations.shape == (60, 9) and np.allclose(rotations, 0.01)  # write_csv's value
    err = capsys.readouterr().err
    assert "resampled from 60 to 30 fps" in err


def test_rows_are_placed_by_time_not_by_row_number(tmp_path, capsys):
    weights = capture(120)
    rows = list(range(120))
    rows[10], rows[11] = rows[11], rows[10]       # out of order
    rows.insert(50, 50)                           # an exact repeat
    del rows[81:84]                               # three dropped frames: 80, 81, 82
    write_csv(tmp_path / "t.csv", weights, rows=rows)
    write_wav(tmp_path / "t.wav", 2.0)
    assert _import(tmp_path, tmp_path / "t.csv", "--fps", "60") == 0
    targets = load_dataset(tmp_path / "out").takes[0].targets()
    assert targets.shape == (120, 52)
    # 6 significant digits in the CSV (5e-7), then a float32 interpolation (a few ulps of 1)
    assert np.allclose(targets[:80], weights[:80], atol=1e-6)
    assert np.allclose(targets[80:83], np.linspace(weights[79], weights[83], 5)[1:4], atol=2e-6)
    err = capsys.readouterr().err
    assert "sorted by timecode" in err and "1 duplicated rows" in err
    assert "3 missing source frames in 1 hole(s) interpolated" in err


def test_30_fps_capture_and_the_round_trip_from_a2f_infer_csv(tmp_path):
    weights = capture(45, fps=30)
    write_animation(tmp_path / "line.csv", weights, 30.0, list(ARKIT_NAMES))  # a2f's own export
    write_wav(tmp_path / "line.wav", 1.5)
    assert _import(tmp_path, tmp_path / "line.csv") == 0
    ds = load_dataset(tmp_path / "out")
    assert np.allclose(ds.takes[0].targets(), weights, atol=1e-6)  # 6 significant digits


def test_audio_option_offset_and_mouth_swap(tmp_path):
    weights = capture(60)
    write_csv(tmp_path / "t.csv", weights)
    write_wav(tmp_path / "voice.wav", 1.5)
    assert _import(tmp_path, tmp_path / "t.csv", "--audio", tmp_path / "voice.wav",
                   "--audio-offset-seconds", "0.5", "--swap-mouth-left-right") == 0
    take = load_dataset(tmp_path / "out").takes[0]
    assert len(take.audio()) == 16000 and take.targets().shape == (30, 52)
    # 0.3 as float32 differs from the float64 0.3 by 1.2e-8, within allclose's rtol of 1e-5
    assert np.allclose(take.targets()[:, SMILE_R], 0.3) and np.allclose(take.targets()[:, SMILE_L], 0)


def _conflicting_repeat(path):
    w = capture(120)
    rows = list(range(120)) + [40]
    write_csv(path, w, rows=rows)
    text = path.read_text().splitlines()
    text[-1] = text[-1].replace(",52,", ",52,0.9,", 1).rsplit(",", 1)[0]
    path.write_text("\n".join(text) + "\n")


def _nan(path):
    w = capture(120)
    w[7, JAW] = np.nan
    write_csv(path, w)


def _missing_channel(path):
    header = (["Timecode", "BlendShapeCount"] + [pascal_case(n) for n in ARKIT_NAMES if n != "jawOpen"]
              + list(ROTATIONS))
    w = np.delete(capture(120), JAW, axis=1)
    write_csv(path, w, header=header)


def _long_audio(path):
    write_csv(path, capture(120))
    write_wav(path.with_suffix(".wav"), 3.0)


def _wrong_rate(path):  # timecodes counted at 30 fps, but the audio lasts 120 frames at 60 fps
    w = capture(120)
    write_csv(path, w, fps=30)


@pytest.mark.parametrize("damage,message", [
    (_conflicting_repeat, "1 duplicated timecodes with different weights"),
    (_nan, "NaN or infinite weights in 1 of 120 frames (7)"),
    (_missing_channel, "missing channels jawOpen"),
    (_long_audio, "audio (3.000 s) is longer than the motion"),
    (_wrong_rate, "fit the audio at 60 fps, not 30: frame-rate mismatch?"),
])
def test_damaged_captures_are_reported_and_skipped_only_on_request(tmp_path, damage, message,
                                                                   capsys):
    write_csv(tmp_path / "good.csv", capture(120))
    write_wav(tmp_path / "good.wav", 2.0)
    write_wav(tmp_path / "bad.wav", 2.0)
    damage(tmp_path / "bad.csv")
    assert _import(tmp_path, tmp_path / "good.csv", tmp_path / "bad.csv") == 1
    err = capsys.readouterr().err
    assert message in err and "nothing was imported" in err
    assert not (tmp_path / "out" / "dataset.json").exists()
    assert a2f(["import", "livelink", str(tmp_path / "good.csv"), str(tmp_path / "bad.csv"),
                "--out", str(tmp_path / "skip"), "--skip-invalid"]) == 0
    assert [t.name for t in load_dataset(tmp_path / "skip").takes] == ["good"]
    report = json.loads((tmp_path / "skip" / "import_report.json").read_text())
    assert report["skipped"] == ["bad"]


def test_motion_that_ends_before_the_audio_starts_is_refused(tmp_path, capsys):
    write_csv(tmp_path / "t.csv", capture(30))  # 0.5 s of motion
    write_wav(tmp_path / "t.wav", 1.0)
    assert _import(tmp_path, tmp_path / "t.csv", "--capture-fps", "60",
                   "--audio-offset-seconds", "-1") == 1
    assert "the motion ends 0.483 s in, before the audio starts (--audio-offset-seconds -1)" in \
        capsys.readouterr().err


def test_missing_audio_points_at_the_video(tmp_path, capsys):
    write_csv(tmp_path / "t.csv", capture(120))
    (tmp_path / "t.mov").write_bytes(b"\0")
    assert _import(tmp_path, tmp_path / "t.csv") == 1
    assert "ffmpeg -i" in capsys.readouterr().err


@pytest.mark.slow  # trains
def test_import_then_train_and_eval(tmp_path):
    for i in range(3):
        write_csv(tmp_path / f"take{i}.csv", capture(150))
        write_wav(tmp_path / f"take{i}.wav", 2.5)
    csvs = [tmp_path / f"take{i}.csv" for i in range(3)]
    assert _import(tmp_path, *csvs, "--val", "take2") == 0
    run = tmp_path / "run"
    assert a2f(["train", "--data", str(tmp_path / "out"), "--out", str(run), "--config",
                "configs/tiny.toml", "--steps", "4"]) == 0
    assert a2f(["eval", "--checkpoint", str(run / "last.safetensors"), "--data",
                str(tmp_path / "out"), "--out", str(tmp_path / "eval"), "--plot-takes", "0"]) == 0
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert np.isfinite(metrics["weight_mae"])
