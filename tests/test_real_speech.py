"""`a2f eval --real`: lip contact, false closures and r on recordings with phone labels."""

import numpy as np
import pytest
import soundfile

from a2f_core.cli.main import main
from a2f_core.errors import A2FError
from training.real_speech import (CONTACT_GAP, level_db, pooled, read_lab, rhubarb_gap, score)
from training.synth.speech import Festival

FPS = 30.0
SENTENCE = "Bob paid me a big plum pie, maybe by May."


def test_a_bilabial_touches_between_frames_and_a_vowel_only_in_its_middle_half():
    gap = np.full(30, 0.5)
    gap[10] = gap[11] = -0.1  # the curve crosses CONTACT_GAP between frames 9-10 and 11-12
    segments = [(0.300, 0.316, "p"),   # its window ends at 0.326 s, past the crossing at 0.325
                (0.500, 0.600, "m"),   # frames 15-18 all open
                (0.250, 0.450, "aa"),  # middle half 0.300-0.400 holds frames 10 and 11: closed
                (0.100, 0.300, "iy")]  # middle half 0.150-0.250: open
    s = score("t", gap, segments, FPS, np.linspace(-60, 0, 30))
    assert (s.bilabials, s.touched, s.vowels, s.closed_vowels) == (2, 1, 2, 1)
    assert s.contact == 0.5 and s.false_closures == 0.5
    # linear between frames 9 (0.5) and 10 (-0.1), the curve crosses CONTACT_GAP at 0.325 s
    assert np.interp(0.325 * FPS, np.arange(30), gap) == pytest.approx(CONTACT_GAP)
    assert score("t", gap, [(0.300, 0.312, "b")], FPS, gap).touched == 0  # window to 0.322 s
    assert score("t", gap, [(0.300, 0.318, "b")], FPS, gap).touched == 1  # window to 0.328 s


def test_r_follows_the_opening_and_pools_as_a_median():
    level = np.sin(np.linspace(0, 6, 60))
    a = score("a", 0.3 + 0.2 * level, [], FPS, level)
    b = score("b", 0.3 - 0.2 * level, [], FPS, level)
    assert a.r == pytest.approx(1.0) and b.r == pytest.approx(-1.0)
    assert pooled([a, b, a]).r == pytest.approx(1.0)


def test_level_is_floored_60_db_under_the_loudest_frame():
    samples = np.zeros(16000, np.float32)
    samples[8000:] = 0.1
    db = level_db(samples, 30, FPS)
    assert db.max() == pytest.approx(-20.0, abs=0.01) and db.min() == pytest.approx(-80.0)


def test_rhubarb_cues_sample_at_frame_times(tmp_path):
    cues = tmp_path / "x.tsv"
    cues.write_text("0.00\tX\n0.10\tD\n0.20\tA\n")
    gap = rhubarb_gap(cues, 9, FPS)
    assert gap.tolist() == [0.0, 0.0, 0.0, 0.9, 0.9, 0.9, 0.0, 0.0, 0.0]
    for bad in ("0.00\tQ\n", "soon\tA\n", "nan\tA\n"):
        cues.write_text(bad)
        with pytest.raises(A2FError, match=r"x\.tsv:1: expected 'time_s shape'"):
            rhubarb_gap(cues, 9, FPS)


def test_labels_accept_stress_and_case_and_name_a_bad_line(tmp_path):
    lab = tmp_path / "a.lab"
    lab.write_text("0 0.1 sil\n0.1 0.2 AH1\n\n0.2 0.3 M\n")
    assert read_lab(lab) == [(0.0, 0.1, "sil"), (0.1, 0.2, "ah"), (0.2, 0.3, "m")]
    lab.write_text("0 0.1 sil\n0.3 0.2 m\n")
    with pytest.raises(A2FError, match=r"a\.lab:2: segment times must satisfy"):
        read_lab(lab)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """A folder with festival's recorded English diphone speaker (a voice the bundled model never
    heard) saying a line full of bilabials, labelled with festival's own phone timings."""
    folder = tmp_path_factory.mktemp("real")
    speech = Festival().synth(SENTENCE, "en", "ked")
    assert speech.alphabet == "arpabet"
    soundfile.write(folder / "line.wav", speech.samples, 16000, subtype="PCM_16")
    (folder / "line.lab").write_text("".join(
        f"{start:.3f} {end:.3f} {'sil' if phone == '_' else phone}\n"
        for start, end, phone in speech.phonemes))
    (folder / "unlabelled.wav").write_bytes((folder / "line.wav").read_bytes())
    return folder


def test_the_bundled_model_closes_on_a_voice_it_never_heard(recordings, capsys):
    assert main(["eval", "--real", str(recordings)]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split()[:3] == ["a2f:", "recording", "p/b/m"]
    assert [r.split()[0] for r in rows[1:]] == ["line", "pooled"]  # the unlabelled one skipped
    bilabials, contact, vowels, false, r = rows[-1].split()[1:]
    labelled = [p for _, _, p in read_lab(recordings / "line.lab")]
    assert int(bilabials) == sum(p in "pbm" for p in labelled) >= 10 and int(vowels) >= 10
    assert int(contact.rstrip("%")) >= 70 and int(false.rstrip("%")) <= 30 and float(r) > 0.3


def test_a_peers_cues_are_measured_beside(recordings, tmp_path, capsys):
    cues = tmp_path / "cues"
    cues.mkdir()
    (cues / "line.tsv").write_text("0.00\tA\n")  # lips shut throughout
    assert main(["eval", "--real", str(recordings), "--cues", str(cues)]) == 0
    out = capsys.readouterr().out
    pooled_row = out[out.index("cues:"):].splitlines()[-1].split()
    assert pooled_row[0] == "pooled" and pooled_row[2] == "100%" and pooled_row[4] == "100%"


def test_a_folder_without_labels_is_one_line(tmp_path, capsys):
    assert main(["eval", "--real", str(tmp_path)]) == 1
    assert "no NAME.wav with a NAME.lab beside it" in capsys.readouterr().err
