"""CLI and file rows of docs/reliability.md: output paths that cannot be written, full disks
that must not cost the existing file, bad datasets for `a2f train`, and what a killed run leaves
for --resume."""

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from a2f_core.checkpoint import load_checkpoint
from a2f_core.cli.main import main
from training.dataset import load_dataset
from training.run_dir import RunDir
from training.toy_dataset import write_toy_dataset
from training.train import train
from training.train_config import load_config

from test_audio_reliability import _without_dac_override

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "configs" / "tiny.toml"
# The child caps the size of any file it writes (RLIMIT_FSIZE), as a full disk would; Python
# ignores SIGXFSZ, so the write fails with EFBIG ("File too large") instead of killing it.
FULL_DISK = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
             "from a2f_core.cli.main import main; sys.exit(main(sys.argv[1:]))")


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("wav") / "line.wav"
    soundfile.write(path, (0.3 * np.sin(np.arange(32000) / 6.0)).astype(np.float32), 16000)
    return path


def run_cli(capfd, *args):
    rc = main([str(a) for a in args])
    return rc, [line for line in capfd.readouterr().err.splitlines() if line.strip()]


def one_line(rc, lines, command, message):
    assert rc == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"a2f {command}: error: ") and message in lines[0], lines[0]


# --- output paths --------------------------------------------------------------------------

@pytest.mark.parametrize("label", ["an existing folder", "a file as the folder"])
def test_output_path_that_is_not_a_file_path(tmp_path, capfd, weights_ckpt, wav, label):
    if label == "an existing folder":
        out = tmp_path / "out.npz"
        out.mkdir()
        message = "Is a directory"
    else:
        (tmp_path / "notes.txt").write_text("keep me")
        out = tmp_path / "notes.txt" / "out.npz"
        message = "is not a folder"
    rc, lines = run_cli(capfd, "infer", wav, "--checkpoint", weights_ckpt, "-o", out)
    one_line(rc, lines, "infer", f"cannot write {out}")
    assert message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name if out.is_dir() else "notes.txt"]


def test_unwritable_folder(tmp_path, weights_ckpt, wav):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    done = subprocess.run([*_without_dac_override(), sys.executable, "-m", "a2f_core.cli", "infer",
                           str(wav), "--checkpoint", str(weights_ckpt), "-o", str(folder / "o.csv")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    folder.chmod(0o755)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"a2f infer: error: cannot write {folder / 'o.csv'}: "
                                   "Permission denied; choose a folder you can write to")
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".json"])
def test_full_disk_keeps_the_existing_output_and_leaves_no_temp_file(tmp_path, weights_ckpt,
                                                                      wav, suffix):
    out = tmp_path / f"take{suffix}"
    out.write_bytes(b"the previous, good export")
    done = subprocess.run([sys.executable, "-c", FULL_DISK.format(limit=4096), "infer", str(wav),
                           "--checkpoint", str(weights_ckpt), "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (f"a2f infer: error: cannot write {out}: File too large; any "
                                   "existing file there is unchanged, free some space or choose "
                                   "another path")
    assert out.read_bytes() == b"the previous, good export"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no .take*.tmp debris
    # with room again the same command replaces the file in one piece
    assert subprocess.run([sys.executable, "-m", "a2f_core.cli", "infer", str(wav), "--checkpoint",
                           str(weights_ckpt), "-o", str(out)], cwd=ROOT, capture_output=True,
                          timeout=120).returncode == 0
    assert out.stat().st_size > 4096 and [p.name for p in tmp_path.iterdir()] == [out.name]


def test_full_disk_while_rewriting_a_checkpoint_keeps_it(tmp_path, weights_ckpt):
    ckpt = tmp_path / "model.safetensors"
    ckpt.write_bytes(weights_ckpt.read_bytes())
    before = ckpt.read_bytes()
    done = subprocess.run([sys.executable, "-c", FULL_DISK.format(limit=2**20), "emotions", "add",
                           str(ckpt), "calm", "--blend", "happy=0.5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == (f"a2f emotions: error: cannot write checkpoint {ckpt}: File too "
                                   "large; any existing file there is unchanged, free some space or "
                                   "choose another path")
    assert ckpt.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [ckpt.name]


@pytest.mark.parametrize("fps", ["nan", "inf", "0", "-24", "1e9", "1e-300"])
def test_fps_outside_the_documented_range(tmp_path, capfd, weights_ckpt, wav, fps):
    rc, lines = run_cli(capfd, "infer", wav, "--checkpoint", weights_ckpt, "-o", tmp_path / "o.npz",
                        "--fps", fps)
    one_line(rc, lines, "infer", f"--fps must be a number from 1 to 1000, got {float(fps)!r}")
    assert not (tmp_path / "o.npz").exists()


# --- data loss -------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["same name", "through ../", "a hard link"])
def test_an_output_that_is_the_input_audio_is_refused(tmp_path, capfd, weights_ckpt, wav, spelling):
    """An audio file named like an output (voice.json, voice.npz) given as its own output."""
    (tmp_path / "out").mkdir()
    audio = tmp_path / "out" / "voice.json"
    audio.write_bytes(wav.read_bytes())  # libsndfile reads a WAV whatever its name
    out = {"same name": audio, "through ../": tmp_path / "out" / ".." / "out" / "voice.json",
           "a hard link": tmp_path / "link.json"}[spelling]
    if spelling == "a hard link":
        out.hardlink_to(audio)
    rc, lines = run_cli(capfd, "infer", audio, "--checkpoint", weights_ckpt, "-o", out)
    one_line(rc, lines, "infer", f"the output {out} is the input file {audio}; choose another "
                                 "output name")
    assert audio.read_bytes() == wav.read_bytes()


@pytest.mark.parametrize("spec, message", [
    ("happy=1e38,sad=1e38", "invalid emotion entry 'happy=1e38'"),
    ("happy=-11", "invalid emotion entry 'happy=-11'"),
    ("happy=", "emotion weight '' for 'happy' is not a number"),
])
def test_emotion_weights_out_of_range_or_missing(tmp_path, capfd, weights_ckpt, wav, spec, message):
    rc, lines = run_cli(capfd, "infer", wav, "--checkpoint", weights_ckpt, "-o", tmp_path / "x.json",
                        "--emotion", spec)
    one_line(rc, lines, "infer", message)
    assert not (tmp_path / "x.json").exists()


def test_an_exaggerated_emotion_still_writes_strict_json(tmp_path, capfd, weights_ckpt, wav):
    """The largest weights allowed give finite numbers: the file parses as strict JSON."""
    out = tmp_path / "x.json"
    rc, lines = run_cli(capfd, "infer", wav, "--checkpoint", weights_ckpt, "-o", out,
                        "--emotion", "happy=10,sad=-10")
    assert rc == 0, lines

    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")
    doc = json.loads(out.read_text(), parse_constant=refuse)
    assert np.isfinite(np.asarray(doc["weights"])).all()


def test_non_finite_animation_is_never_written(tmp_path, weights_ckpt):
    """Whatever produced them, NaN frames are refused by every writer, one line each."""
    from a2f_core.arkit import ARKIT_NAMES
    from a2f_core.errors import A2FError
    from a2f_core.export import write_animation
    frames = np.zeros((3, 52), np.float32)
    frames[1, 4] = np.nan
    for suffix in (".npz", ".csv", ".json"):
        with pytest.raises(A2FError, match="holds NaN or infinite values"):
            write_animation(tmp_path / f"o{suffix}", frames, 30.0, list(ARKIT_NAMES))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_text_outputs_are_written_in_bounded_memory(tmp_path, suffix):
    """Writing needs memory for a block of rows, not for the whole text: 20,000 frames (over
    8 MB of text) allocate less than half the text beyond the frames themselves (measured
    about 4 MB, a block's Python floats and strings and the finiteness check's mask; the
    whole-file writer allocated 40+ MB, and 3 hours of audio to .json peaked at 1.68 GB)."""
    from a2f_core.arkit import ARKIT_NAMES
    from a2f_core.export import write_animation
    frames = np.random.default_rng(0).random((20000, 52)).astype(np.float32)
    tracemalloc.start()
    write_animation(tmp_path / f"o{suffix}", frames, 30.0, list(ARKIT_NAMES))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    size = (tmp_path / f"o{suffix}").stat().st_size
    assert size > 8e6 and peak < size / 2, (size, peak)


# SIGTERM arrives while the output is being written: the writer sends it to its own process
# after its first bytes, so the signal lands inside the write every time.
SIGTERM_MID_WRITE = (
    "import os, signal, sys; import a2f_core.export as export; real = export.atomic_write\n"
    "def atomic_write(path, writer, *args):\n"
    "    def write(f):\n"
    "        f.write(b'{'); f.flush(); os.kill(os.getpid(), signal.SIGTERM); writer(f)\n"
    "    return real(path, write, *args)\n"
    "export.atomic_write = atomic_write\n"
    "from a2f_core.cli.main import main; sys.exit(main(sys.argv[1:]))")


def test_sigterm_during_the_output_write_leaves_no_temporary_file(tmp_path, weights_ckpt, wav):
    out = tmp_path / "o.json"
    out.write_text("old")
    done = subprocess.run([sys.executable, "-c", SIGTERM_MID_WRITE, "infer", str(wav),
                           "--checkpoint", str(weights_ckpt), "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 143 and done.stderr.strip() == "a2f infer: terminated", done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["o.json"] and out.read_text() == "old"


# --- datasets and training -----------------------------------------------------------------

@pytest.fixture
def toy(tmp_path):
    write_toy_dataset(tmp_path / "data", takes=3, seconds=1.0)
    load_dataset(tmp_path / "data")  # intact before the damage below
    return tmp_path / "data"


@pytest.mark.parametrize("damage,message", [
    (lambda t: np.save(t, np.load(t)[:-5]), "frames do not match 1.000 s of audio at 30 fps "
                                            "(expected 30); re-export the targets"),
    (lambda t: np.save(t, np.concatenate([np.load(t)] * 2)), "frames do not match"),
    (lambda t: np.save(t, np.where(np.arange(np.load(t).size).reshape(np.load(t).shape) == 3,
                                   np.nan, np.load(t)).astype(np.float32)),
     "targets must be finite floats"),
], ids=["targets 5 frames short", "targets twice too long", "a NaN target"])
def test_train_refuses_a_bad_dataset_in_one_line(tmp_path, capfd, toy, damage, message):
    targets = sorted((toy / "takes").glob("*.npy"))[1]
    damage(targets)
    rc, lines = run_cli(capfd, "train", "--data", toy, "--out", tmp_path / "run", "--config", TINY,
                        "--steps", 2)
    one_line(rc, lines, "train", message)
    assert f"'{targets.stem}'" in lines[0] or targets.name in lines[0]
    assert not (tmp_path / "run" / "resume.pt").exists()


def _point_take(toy, key, where):
    """Rewrite take #1's `key` file path in dataset.json to lead to `where` (a path string)."""
    info = json.loads((toy / "dataset.json").read_text())
    info["takes"][1][key] = where
    (toy / "dataset.json").write_text(json.dumps(info))
    return info["takes"][1]["name"]


def _symlink_out(toy, tmp_path):
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes((toy / "takes" / "toy01.wav").read_bytes())
    (toy / "takes" / "link.wav").symlink_to(outside)
    return "takes/link.wav"


@pytest.mark.parametrize("key, where", [
    ("audio", lambda toy, tmp: "../../../../../../../../etc/passwd"),
    ("targets", lambda toy, tmp: "/etc/shadow"),
    ("audio", lambda toy, tmp: str(toy / "takes" / ".." / ".." / "x.wav")),
    ("audio", _symlink_out),
], ids=["../ to /etc/passwd", "absolute /etc/shadow", "absolute path through ..", "a symlink"])
def test_train_refuses_take_paths_outside_the_dataset(tmp_path, capfd, toy, key, where):
    """Take files must resolve inside the dataset folder: a dataset.json from elsewhere must not
    make a2f read (or train on) /etc/passwd. Nothing outside is opened."""
    relative = where(toy, tmp_path)
    name = _point_take(toy, key, relative)
    rc, lines = run_cli(capfd, "train", "--data", toy, "--out", tmp_path / "run", "--config", TINY,
                        "--steps", 2)
    one_line(rc, lines, "train", f"take {name!r}: {relative} leads outside the dataset folder "
                                 f"{toy}")
    assert not (tmp_path / "run" / "resume.pt").exists()


@pytest.mark.slow  # trains in a child process
def test_resume_after_a_kill_cleans_debris_and_a_torn_stats_line(tmp_path, toy):
    """What SIGKILL leaves mid-write (tests/test_train.py kills a real run): half-written
    temporaries of resume.pt and last.safetensors, and a stats line cut short."""
    out = tmp_path / "run"
    config = load_config(TINY, steps=6, checkpoint_every=3, log_every=1, val_every=3)
    stopped = train(config, toy, out, abort_fn=lambda: True)  # stops (and saves) after step 1
    assert stopped.interrupted and stopped.step == 1
    (out / ".resume.pt.k1ll3d.tmp").write_bytes(b"PK\x03\x04 half a torch.save")
    (out / ".last.safetensors.x9.tmp").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a")
    with open(out / "stats.jsonl", "a") as f:
        f.write('{"step": 2, "train/posi')
    done = train(None, toy, out, resume=True)
    assert done.step == 6 and not done.interrupted
    assert not list(out.glob(".*.tmp"))
    steps = [r["step"] for r in RunDir(out, resume=True).stats() if "train/position" in r]
    assert steps == [1, 2, 3, 4, 5, 6]  # every completed step once, none lost, none doubled
    assert load_checkpoint(out / "last.safetensors").meta["provenance"]["steps"] == 6
    assert json.loads((out / "config.json").read_text())["total_steps"] == 6


def test_a_damaged_stats_line_in_the_middle_is_reported(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "resume.pt").write_bytes(b"")
    (out / "stats.jsonl").write_text('{"step": 1}\n{"step": 2, "tr\n{"step": 3}\n')
    with pytest.raises(Exception, match="line 2 is not valid JSON") as info:
        RunDir(out, resume=True).stats()
    assert type(info.value).__name__ == "A2FError"


# --- tracebacks that are now one line --------------------------------------------------------

@pytest.mark.parametrize("option, value, message", [
    ("--minutes", "inf", "--minutes must be a number above 0 and at most 100000, got inf"),
    ("--minutes", "nan", "--minutes must be a number above 0 and at most 100000, got nan"),
    ("--fps", "0", "--fps must be a number from 1 to 1000, got 0.0"),
])
def test_synth_numbers_out_of_range(tmp_path, capfd, option, value, message):
    rc, lines = run_cli(capfd, "synth", "--out", tmp_path / "set", option, value)
    one_line(rc, lines, "synth", message)
    assert not (tmp_path / "set").exists()


def test_train_refuses_a_100000_deep_dataset_json(tmp_path, capfd, toy):
    (toy / "dataset.json").write_text('{"takes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    rc, lines = run_cli(capfd, "train", "--data", toy, "--out", tmp_path / "run", "--config", TINY,
                        "--steps", 2)
    one_line(rc, lines, "train", f"{toy / 'dataset.json'} nests deeper than 64 levels")


class _Payload:
    """Unpickling this writes the marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_resume_from_a_hostile_resume_state_is_one_line_and_runs_no_code(tmp_path, capfd, toy):
    out = tmp_path / "run"
    config = load_config(TINY, steps=4, checkpoint_every=2, log_every=1, val_every=2)
    train(config, toy, out, abort_fn=lambda: True)  # a real run that stopped: resume.pt exists
    marker = tmp_path / "pwned"
    torch.save({"step": 1, "model": _Payload(marker)}, out / "resume.pt")
    capfd.readouterr()  # the first run's progress bars
    rc, lines = run_cli(capfd, "train", "--out", out, "--resume")
    # the resumed run featurises its dataset (progress bars) before it reads the state
    assert rc == 1 and not any("Traceback" in line for line in lines), lines
    assert lines[-1] == (f"a2f train: error: {out / 'resume.pt'} holds objects a resume state "
                         "never has (code to run, for one), so it was not loaded; start a new run")
    assert not marker.exists()


def test_a_245_character_output_name_is_written(tmp_path, capfd, weights_ckpt, wav):
    """A legal name (up to 255 bytes) whose temporary name would be 14 bytes longer."""
    out = tmp_path / ("n" * 240 + ".json")
    rc, lines = run_cli(capfd, "infer", wav, "--checkpoint", weights_ckpt, "-o", out)
    assert rc == 0, lines
    assert json.loads(out.read_text())["frame_count"] == 60
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
