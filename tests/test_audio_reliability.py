"""Audio rows of docs/reliability.md: every bad audio file gets one line and exit status 1
from `a2f infer`; every unusual but valid file animates. docs/reliability.md lists each row and
its test.

The CLI runs in-process (a2f_core.cli.main, the `a2f` entry point) with capfd, so the check
covers whatever reaches the terminal's stderr, C libraries included.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr

from a2f_core.checkpoint import load_checkpoint, save_checkpoint
from a2f_core.config import ModelConfig, parameter_shapes
from a2f_core.arkit import ARKIT_NAMES
from a2f_core.infer import Animator
from a2f_core.cli.main import main
from tolerance import float32_atol

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def voice(speech):
    """(16 kHz float32 speech, its rate) from the conftest espeak-ng recording."""
    samples, rate = speech
    return soxr.resample(samples, rate, 16000).astype(np.float32)


def infer(capfd, audio, ckpt, out, *extra):
    """Run `a2f infer` (the network alone: --no-life); returns (exit status, stderr lines)."""
    rc = main(["infer", str(audio), "--checkpoint", str(ckpt), "-o", str(out), "--no-life",
               *map(str, extra)])
    err = capfd.readouterr().err
    return rc, [line for line in err.splitlines() if line.strip()]


def assert_one_line_error(rc, lines, message):
    assert rc == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith("a2f infer: error: ") and message in lines[0], lines
    assert "Traceback" not in lines[0]


# --- rows that must be refused -------------------------------------------------------------

def _wav_header_only(p):
    with wave.open(str(p), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(16000)


def _float_wav_with(value):
    def make(p):
        x = (0.3 * np.sin(np.arange(16000) / 7.0)).astype(np.float32)
        x[123] = value
        soundfile.write(p, x, 16000, subtype="FLOAT")
    return make


REFUSED = [
    ("missing path", "a.wav", lambda p: None, "does not exist"),
    ("a directory", "a.wav", lambda p: p.mkdir(), "is a directory, not an audio file"),
    ("0-byte file", "a.wav", lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    ("header-only WAV", "a.wav", _wav_header_only, "contains no audio samples"),
    ("WAV cut inside its header", "a.wav", lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt "),
     "cannot read audio"),
    ("random bytes named .wav", "a.wav",
     lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)), "cannot read audio"),
    ("text file named .mp3", "a.mp3", lambda p: p.write_text("not audio at all\n" * 60),
     "cannot read audio"),
    ("NaN float samples", "a.wav", _float_wav_with(np.nan), "contains NaN or infinite samples"),
    ("Inf float samples", "a.wav", _float_wav_with(np.inf), "contains NaN or infinite samples"),
    ("-Inf float samples", "a.wav", _float_wav_with(-np.inf), "contains NaN or infinite samples"),
]


@pytest.mark.parametrize("label,name,make,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_audio_is_one_line_and_exit_1(tmp_path, capfd, weights_ckpt, label, name, make, message):
    audio = tmp_path / "dir with spaces é" / name
    audio.parent.mkdir()
    make(audio)
    out = tmp_path / "out.npz"
    rc, lines = infer(capfd, audio, weights_ckpt, out)
    assert_one_line_error(rc, lines, message)
    assert str(audio) in lines[0] or label == "missing path" and "a.wav" in lines[0]
    assert not out.exists()


def test_text_named_mp3_gives_exactly_one_truthful_line(tmp_path, capfd, weights_ckpt):
    audio = tmp_path / "a.mp3"
    audio.write_text("not audio at all\n" * 60)
    rc, lines = infer(capfd, audio, weights_ckpt, tmp_path / "o.npz")
    assert_one_line_error(rc, lines, "cannot read audio")
    assert "does not exist" not in lines[0]


def _without_dac_override():
    """argv prefix running a command without root's permission bypass (or nothing if not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root needs setpriv (util-linux) to test file permissions")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def _cli(*args, prefix=()):
    return subprocess.run([*prefix, sys.executable, "-m", "a2f_core.cli", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_no_read_permission(tmp_path, weights_ckpt):
    audio = tmp_path / "locked.wav"
    soundfile.write(audio, np.zeros(1600, np.float32), 16000)
    audio.chmod(0)
    done = _cli("infer", audio, "--checkpoint", weights_ckpt, "-o", tmp_path / "o.npz",
                prefix=_without_dac_override())
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == f"a2f infer: error: no permission to read audio file {audio}"


def test_audio_inside_an_unreadable_folder(tmp_path, weights_ckpt):
    folder = tmp_path / "private"
    folder.mkdir()
    soundfile.write(folder / "a.wav", np.zeros(1600, np.float32), 16000)
    os.chown(folder, 65534, 65534) if os.geteuid() == 0 else None
    folder.chmod(0o700 if os.geteuid() == 0 else 0)
    try:
        done = _cli("infer", folder / "a.wav", "--checkpoint", weights_ckpt, "-o",
                    tmp_path / "o.npz", prefix=_without_dac_override())
    finally:
        folder.chmod(0o755)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# --- rows that must animate ----------------------------------------------------------------

def reference(ckpt_path, samples_16k, fps=30.0):
    ckpt = load_checkpoint(ckpt_path)
    return Animator(ckpt).animate(samples_16k, fps, ckpt.emotions["neutral"])


def _truncated(tmp_path, voice):
    full = tmp_path / "full.wav"
    soundfile.write(full, voice, 16000, subtype="PCM_16")
    blob = full.read_bytes()
    keep = 44 + 2 * 12000  # the header (which still claims every sample) + 12000 samples
    path = tmp_path / "truncated.wav"
    path.write_bytes(blob[:keep])
    return path, soundfile.read(full, dtype="float32")[0][:12000]


def test_truncated_wav_animates_the_samples_present(tmp_path, capfd, weights_ckpt, voice):
    audio, present = _truncated(tmp_path, voice)
    rc, lines = infer(capfd, audio, weights_ckpt, tmp_path / "o.npz")
    assert rc == 0, lines
    got = np.load(tmp_path / "o.npz")["weights"]
    assert len(got) == math.ceil(12000 / 16000 * 30)
    expected = reference(weights_ckpt, present)  # in other chunks: equal to rounding
    np.testing.assert_allclose(got, expected, rtol=0, atol=float32_atol(expected))


@pytest.mark.parametrize("rate", [8000, 96000])
def test_8k_and_96k_audio(tmp_path, capfd, weights_ckpt, voice, rate):
    audio = tmp_path / f"r{rate}.wav"
    resampled = soxr.resample(voice, 16000, rate).astype(np.float32)
    soundfile.write(audio, resampled, rate, subtype="FLOAT")
    rc, lines = infer(capfd, audio, weights_ckpt, tmp_path / "o.npz")
    assert rc == 0, lines
    got = np.load(tmp_path / "o.npz")["weights"]
    assert len(got) == math.ceil(len(resampled) / rate * 30)
    assert np.isfinite(got).all() and np.ptp(got, axis=0).max() > 0.05  # the face moves
    if rate == 96000:  # band-limited speech survives the round trip: same animation
        # resampled twice, the speech itself changes a little: a behaviour bound, not rounding
        np.testing.assert_allclose(got, reference(weights_ckpt, voice), atol=0.05)


def _scaled(path, voice, peak):
    scaled = (voice.astype(np.float64) * (peak / float(np.abs(voice).max()))).astype(np.float32)
    soundfile.write(path, scaled, 16000, subtype="FLOAT")
    return path


def test_float_samples_beyond_full_scale_animate_like_the_same_audio(tmp_path, capfd,
                                                                     weights_ckpt, voice):
    """A float WAV may hold samples far beyond 1.0; features are loudness-normalised, so a file
    scaled by 1e5 animates as the original, and with the liveliness layer it stays finite."""
    loud = _scaled(tmp_path / "loud.wav", voice, 1e5)
    rc, lines = infer(capfd, loud, weights_ckpt, tmp_path / "o.json")
    assert rc == 0, lines
    got = np.asarray(json.loads((tmp_path / "o.json").read_text())["weights"])
    # the same features up to float32 rounding of the scaled samples and of the gain (1e-7
    # relative each), through a network whose outputs are of order 1: 1e-4 leaves room
    np.testing.assert_allclose(got, reference(weights_ckpt, voice), atol=1e-4)
    rc = main(["infer", str(loud), "--checkpoint", str(weights_ckpt), "-o", str(tmp_path / "l.json")])
    assert rc == 0, capfd.readouterr().err
    doc = json.loads((tmp_path / "l.json").read_text())
    assert np.isfinite(doc["weights"]).all() and np.isfinite(doc["rotations"]).all()


@pytest.mark.parametrize("peak", [1e18, 3.4e38])
def test_float_samples_far_beyond_full_scale_are_refused(tmp_path, capfd, weights_ckpt, voice,
                                                         peak):
    """Beyond 1e6 resampling and the liveliness layer overflow float32 (it used to give
    all-NaN frames with exit 0): one line, nothing written."""
    loud = _scaled(tmp_path / "loud.wav", voice, peak)
    rc, lines = infer(capfd, loud, weights_ckpt, tmp_path / "o.json")
    assert_one_line_error(rc, lines, f"{loud} has samples up to {np.float32(peak):.3g}, far "
                                     "beyond full scale (1.0); re-export it normalised")
    assert not (tmp_path / "o.json").exists()


def test_one_sample_gives_one_frame(tmp_path, capfd, weights_ckpt):
    audio = tmp_path / "one.wav"
    soundfile.write(audio, np.array([0.25], np.float32), 16000)
    rc, lines = infer(capfd, audio, weights_ckpt, tmp_path / "o.npz")
    assert rc == 0, lines
    got = np.load(tmp_path / "o.npz")["weights"]
    assert got.shape == (1, 52) and np.isfinite(got).all()


def test_six_channels_mix_to_the_mono_result(tmp_path, capfd, weights_ckpt, voice):
    audio = tmp_path / "six.wav"
    soundfile.write(audio, np.repeat(voice[:, None], 6, axis=1), 16000, subtype="FLOAT")
    rc, lines = infer(capfd, audio, weights_ckpt, tmp_path / "o.npz")
    assert rc == 0, lines
    # the mean of six copies rounds each sample by up to an ulp, and the features normalise
    # the level; what is left is rounding through the network
    expected = reference(weights_ckpt, voice)
    np.testing.assert_allclose(np.load(tmp_path / "o.npz")["weights"], expected, rtol=0,
                               atol=float32_atol(expected, ulps=1024))


def test_full_scale_clipped_noise_stays_finite(tmp_path, capfd, weights_ckpt):
    audio = tmp_path / "noise.wav"
    noise = np.sign(np.random.default_rng(1).standard_normal(3 * 44100))
    soundfile.write(audio, noise, 44100, subtype="PCM_16")
    rc, lines = infer(capfd, audio, weights_ckpt, tmp_path / "o.npz")
    assert rc == 0, lines
    got = np.load(tmp_path / "o.npz")["weights"]
    assert got.shape == (90, 52) and np.isfinite(got).all()


def test_silence_is_a_resting_face(tmp_path, capfd, weights_ckpt, voice):
    audio = tmp_path / "silence.wav"
    soundfile.write(audio, np.zeros(2 * 16000, np.int16), 16000, subtype="PCM_16")
    rc, lines = infer(capfd, audio, weights_ckpt, tmp_path / "o.npz")
    assert rc == 0, lines
    got = np.load(tmp_path / "o.npz")["weights"]
    assert got.shape == (60, 52)
    assert np.ptp(got, axis=0).max() < 1e-5  # the same pose on every frame
    # ... which is the pose of the pauses in speech (zero features), not an arbitrary one
    rest = reference(weights_ckpt, np.zeros(16000, np.float32))[0]  # a shorter clip's shapes
    np.testing.assert_allclose(got[0], rest, rtol=0, atol=float32_atol(rest))


def test_paths_with_spaces_and_non_ascii(tmp_path, capfd, weights_ckpt, voice):
    folder = tmp_path / "Stimme d'été ü 声音"
    folder.mkdir()
    audio, out = folder / "ligne 01 — é.wav", folder / "sortie é 出力.csv"
    soundfile.write(audio, voice, 16000)
    rc, lines = infer(capfd, audio, weights_ckpt, out)
    assert rc == 0, lines
    assert len(out.read_text().splitlines()) == 1 + math.ceil(len(voice) / 16000 * 30)


# --- a 3-hour file: bounded memory ---------------------------------------------------------

HOURS = 3
PEAK_RSS_LIMIT_MB = 400  # whole-file loading needs > 1 GB here (3 h of float32 at 8k and 16k)


def _long_wav(path, hours, rate=8000):
    """hours of repeated speech-like audio at 8 kHz, 16-bit mono (~170 MB for 3 h), in blocks."""
    t = np.arange(4 * rate) / rate
    block = (0.3 * np.sin(2 * np.pi * 150 * t) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
             * 32767).astype(np.int16)
    with soundfile.SoundFile(path, "w", rate, 1, "PCM_16") as f:
        for _ in range(int(hours * 3600 / 4)):
            f.write(block)
    return path


def _small_network(path):
    """A valid checkpoint with a cheap network (8 ms -> 32 ms grid, narrow layers), so the
    test measures the audio path's memory, not the full network's compute, in well under 60 s."""
    config = ModelConfig("weights", 52, 4, hop_length=512, formant_channels=(8, 8, 8, 8, 8),
                         articulation_channels=8, hidden_size=8)
    rng = np.random.default_rng(0)
    tensors = {k: (0.3 * rng.standard_normal(s)).astype(np.float32)
               for k, s in parameter_shapes(config).items()}
    return save_checkpoint(path, tensors, config, fps=30, channel_names=ARKIT_NAMES)


def _vm_hwm_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@pytest.mark.slow  # three hours of audio
def test_three_hour_file_in_bounded_memory(tmp_path):
    """STREAMING (a2f_core/audio.py, features.py, infer.py): `a2f infer` on a generated 3-hour file keeps its peak RSS under the limit.

    The child is watched through /proc and killed as soon as it passes the limit, so a
    non-streaming build fails in seconds instead of using gigabytes.
    """
    audio = _long_wav(tmp_path / "three hours.wav", HOURS)
    ckpt = _small_network(tmp_path / "small.safetensors")
    out = tmp_path / "long.csv"
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "a2f_core.cli", "infer", str(audio),
                                 "--checkpoint", str(ckpt), "-o", str(out), "--fps", "10"],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    deadline, peak = time.time() + 150, 0.0
    while True:
        # VmHWM is the child's own peak since exec; ru_maxrss from wait4 would also count the
        # memory it shared with this pytest process (which holds torch) before exec.
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        peak = max(peak, _vm_hwm_mb(proc.pid))
        if peak > PEAK_RSS_LIMIT_MB or time.time() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"peak RSS {peak:.0f} MB passed the {PEAK_RSS_LIMIT_MB} MB limit, or "
                        "the run took over 150 s")
        time.sleep(0.05)
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert peak < PEAK_RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB"
    with open(out) as f:
        rows = sum(1 for _ in f) - 1
    assert rows == HOURS * 3600 * 10
