"""`a2f infer` with the liveliness layer: its options, the Live Link CSV's rotation columns and
their round trip through `a2f import livelink`."""

import csv

import numpy as np
import pytest

from a2f_core.arkit import ARKIT_NAMES, ROTATION_NAMES
from a2f_core.cli.main import main as a2f
from training.dataset import load_dataset

EYES = [n for n in ARKIT_NAMES if n.startswith(("eyeBlink", "eyeLook"))]
MOUTH = [n for n in ARKIT_NAMES if n.startswith(("mouth", "jaw"))]


def infer(tmp_path, speech_wav, name, *options):
    out = tmp_path / name
    assert a2f(["infer", str(speech_wav), "-o", str(out), *options]) == 0
    return out


def test_the_bundled_model_blinks_looks_around_and_moves_its_head(tmp_path, speech_wav):
    # 3.6 s of speech: a high blink rate makes sure some blinks fall in it
    alive = np.load(infer(tmp_path, speech_wav, "alive.npz", "--blink-rate", "60"))
    still = np.load(infer(tmp_path, speech_wav, "still.npz", "--no-life"))
    names = list(alive["names"])
    column = lambda n: names.index(n)  # noqa: E731
    # the network alone leaves the eyes still (its output there is float noise)
    assert np.abs(still["weights"][:, [column(n) for n in EYES]]).max() < 1e-3
    assert not still["rotations"].any()
    assert alive["weights"][:, column("eyeBlinkLeft")].max() > 0.9
    assert alive["weights"][:, [column(n) for n in EYES if "Look" in n]].max() > 0.05
    assert np.array_equal(alive["weights"][:, [column(n) for n in MOUTH]],
                          still["weights"][:, [column(n) for n in MOUTH]])
    assert list(alive["rotation_names"]) == list(ROTATION_NAMES)
    assert np.abs(alive["rotations"][:, :3]).max() > np.radians(0.5)
    again = np.load(infer(tmp_path, speech_wav, "again.npz", "--blink-rate", "60"))
    assert np.array_equal(again["weights"], alive["weights"])  # the same seed, the same face
    assert np.array_equal(again["rotations"], alive["rotations"])
    other = np.load(infer(tmp_path, speech_wav, "other.npz", "--seed", "3"))
    assert not np.array_equal(other["rotations"], alive["rotations"])


def test_layer_and_region_options(tmp_path, speech_wav):
    base = np.load(infer(tmp_path, speech_wav, "base.npz", "--no-life"))
    names = list(base["names"])
    lips = names.index("mouthClose")
    out = np.load(infer(tmp_path, speech_wav, "opts.npz", "--no-blinks", "--no-gaze",
                        "--no-brows", "--head-strength", "2", "--lips-strength", "0.5"))
    # the same network output both times, halved: exact in float32
    np.testing.assert_array_equal(out["weights"][:, lips], 0.5 * base["weights"][:, lips])
    blink = names.index("eyeBlinkLeft")
    assert np.array_equal(out["weights"][:, blink], base["weights"][:, blink])
    assert not out["rotations"][:, 3:].any() and out["rotations"][:, :3].any()


@pytest.mark.parametrize("option, value", [("--blink-strength", "-1"), ("--blink-rate", "nan"),
                                           ("--lips-smoothing-ms", "-5"),
                                           ("--gaze-target", "left")])
def test_bad_options_are_one_line_errors(tmp_path, speech_wav, capsys, option, value):
    assert a2f(["infer", str(speech_wav), "-o", str(tmp_path / "x.npz"), option, value]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option in err
    assert not (tmp_path / "x.npz").exists()


def test_livelink_csv_rotations_round_trip_through_the_importer(tmp_path, speech_wav):
    path = infer(tmp_path, speech_wav, "take.csv", "--blink-rate", "60")
    rows = list(csv.reader(open(path)))
    header, values = rows[0], np.array([r[2:] for r in rows[1:]], float)
    rotations = values[:, [header.index(n) - 2 for n in ROTATION_NAMES]]
    assert np.abs(rotations[:, :3]).max() > np.radians(0.5)  # the head moves, in radians
    assert np.abs(rotations).max() < np.radians(25)
    assert rotations[:, [3, 4, 6, 7]].any() and not rotations[:, [5, 8]].any()  # eyes don't roll
    (tmp_path / "take.wav").symlink_to(speech_wav)
    assert a2f(["import", "livelink", str(path), "--capture-fps", "30",
                "--out", str(tmp_path / "data")]) == 0
    take = load_dataset(tmp_path / "data").takes[0]
    back = np.load(tmp_path / "data" / take.meta["rotations"])
    # the CSV holds 6 significant digits; the importer keeps every frame at the same rate
    np.testing.assert_allclose(back, rotations[:len(back)], atol=1e-6)
    assert len(back) >= len(rotations) - 1
    weights = take.targets()
    assert weights[:, ARKIT_NAMES.index("eyeBlinkLeft")].max() > 0.9


def test_a_vertex_model_gets_the_rotations_and_its_vertices_untouched(tmp_path, speech_wav,
                                                                     vertices_ckpt):
    alive = np.load(infer(tmp_path, speech_wav, "v.npz", "--checkpoint", str(vertices_ckpt)))
    still = np.load(infer(tmp_path, speech_wav, "s.npz", "--checkpoint", str(vertices_ckpt),
                          "--no-life"))
    assert np.array_equal(alive["vertices"], still["vertices"])  # the same network, untouched
    assert alive["rotations"][:, :3].any() and not still["rotations"].any()
