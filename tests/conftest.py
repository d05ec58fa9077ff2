"""Shared fixtures: real speech from espeak-ng and real checkpoints with random weights."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from a2f_core.checkpoint import random_checkpoint


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory):
    """A real 22.05 kHz espeak-ng recording of a sentence rich in bilabials and rounded vowels."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing; `make test` installs it")
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path),
                    "My fellow Americans, ask not what your country can do for you."], check=True)
    return path


@pytest.fixture(scope="session")
def speech(speech_wav):
    """(samples, rate) of speech_wav as float32."""
    samples, rate = soundfile.read(speech_wav, dtype="float32")
    return samples, rate


@pytest.fixture(scope="session")
def synth_set(tmp_path_factory):
    """make(minutes, seed, split, *options) -> folder of a weights set made by the real `a2f synth`
    CLI."""
    def make(minutes, seed, split, *options):
        out = tmp_path_factory.mktemp("synth") / "data"
        subprocess.run([sys.executable, "-m", "training.cli", "synth", "--out", str(out),
                        "--minutes", str(minutes), "--seed", str(seed), "--split", str(split),
                        "--jobs", "2", *options], check=True, capture_output=True)
        return out
    return make


@pytest.fixture(scope="session")
def weights_ckpt(tmp_path_factory):
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "weights.safetensors", seed=1)


@pytest.fixture(scope="session")
def vertices_ckpt(tmp_path_factory):
    template = np.random.default_rng(2).standard_normal((40, 3)).astype(np.float32)
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "vertices.safetensors",
                             kind="vertices", template=template, seed=2)
