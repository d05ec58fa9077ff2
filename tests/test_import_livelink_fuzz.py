"""Fuzzing the Live Link Face CSV importer (tests/test_fuzz.py covers the checkpoint
reader and the audio loader): whatever text arrives, a take is either read (finite weights in
0..1, audio and motion of matching length) or refused with a problem in the report; the only
exception that may escape is A2FError."""

import argparse
import math

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2f_core.arkit import ARKIT_NAMES
from a2f_core.errors import A2FError
from a2f_core.export import write_animation

livelink = pytest.importorskip("training.importers.livelink")
common = pytest.importorskip("training.importers.common")

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """(audio path, lines of a valid 60 fps Live Link CSV of the same 1 s)."""
    root = tmp_path_factory.mktemp("livelink")
    wav = root / "take.wav"
    soundfile.write(wav, (0.2 * np.sin(np.arange(16000) / 9.0)).astype(np.float32), 16000)
    weights = np.random.default_rng(0).uniform(0, 1, (60, len(ARKIT_NAMES))).astype(np.float32)
    csv = root / "take.csv"
    write_animation(csv, weights, 60.0, list(ARKIT_NAMES))
    return wav, csv.read_text().splitlines()


def _args(wav, **changes):
    return argparse.Namespace(**{"audio": str(wav), "audio_offset_seconds": 0.0,
                                 "swap_mouth_left_right": False, "fps": 30.0, "capture_fps": None,
                                 "max_length_mismatch": 0.5, **changes})


def _read(tmp_path, wav, text, **changes):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    report = common.ImportReport("livelink")
    try:
        take = livelink.read_take(report, "fuzz", path, _args(wav, **changes))
    except A2FError:
        return
    if take is None:
        assert report.problems, "a refused take must say why"
        return
    audio, weights = take
    assert weights.dtype == np.float32 and weights.shape[1] == len(ARKIT_NAMES)
    assert np.isfinite(weights).all() and weights.min() >= 0 and weights.max() <= 1
    assert abs(len(audio) / 16000 - len(weights) / 30.0) <= 1 / 30 + 1e-6 or len(weights) == 1


def test_the_unmutated_capture_imports(tmp_path, capture):
    wav, lines = capture
    report = common.ImportReport("livelink")
    path = tmp_path / "ok.csv"
    path.write_text("\n".join(lines) + "\n")
    audio, weights = livelink.read_take(report, "ok", path, _args(wav))
    assert not report.problems and len(weights) == math.ceil(len(audio) / 16000 * 30)


cell = st.one_of(st.text(max_size=12), st.sampled_from(
    ["", "nan", "inf", "-inf", "1e309", "-0", "0.5", "2", "-1", "00:00:00:99.999", "99:99:99:99",
     "00:00:01:00.5", "Timecode", "BlendShapeCount", "JawOpen", "﻿", "\x00", "1,2", '"']))


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), cell), max_size=8),
       drop=st.lists(st.integers(0, 10**6), max_size=5),
       cut=st.integers(0, 10**6),
       capture_fps=st.sampled_from([None, 30.0, 60.0]),
       offset=st.sampled_from([0.0, 0.3, -0.3, 5.0, -5.0]))
def test_mutated_capture(tmp_path, capture, edits, drop, cut, capture_fps, offset):
    wav, lines = capture
    rows = [line.split(",") for line in lines]
    for r, c, value in edits:
        row = rows[r % len(rows)]
        row[c % len(row)] = value
    for r in drop:
        if len(rows) > 1:
            rows.pop(r % len(rows))
    text = "\n".join(",".join(row) for row in rows)
    _read(tmp_path, wav, text[: cut % (len(text) + 1)], capture_fps=capture_fps,
          audio_offset_seconds=offset)


@FUZZ
@given(blob=st.binary(max_size=3000))
def test_arbitrary_bytes(tmp_path, capture, blob):
    _read(tmp_path, capture[0], blob)


@FUZZ
@given(header=st.lists(st.sampled_from(["Timecode", "BlendShapeCount", *[n[0].upper() + n[1:]
                                        for n in ARKIT_NAMES], "HeadYaw", "x"]), max_size=70),
       body=st.lists(st.lists(cell, max_size=70), max_size=6))
def test_arbitrary_tables(tmp_path, capture, header, body):
    text = "\n".join(",".join(row) for row in [header, *body])
    _read(tmp_path, capture[0], text)
