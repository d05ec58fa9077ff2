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
        subprocess.run([sys.executable, "-m", "a2f_core.cli", "synth", "--out", str(out),
                        "--minutes", str(minutes), "--seed", str(seed), "--split", str(split),
                        "--jobs", "2", *options], check=True, capture_output=True)
        return out
    return make


@pytest.fixture(scope="session")
def weights_ckpt(tmp_path_factory):
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "weights.safetensors", seed=1)


@pytest.fixture(scope="session")
def detector_ckpt(tmp_path_factory, weights_ckpt):
    """weights_ckpt with a lip contact head that listens to a detector of random weights (as
    training starts it), weighted enough to close the lips on some frames and not on others."""
    import torch

    from a2f_core import contact
    from a2f_core.checkpoint import load_checkpoint, update_metadata
    from training.lip_contact.detector import DetectorNet
    torch.manual_seed(3)
    hidden = load_checkpoint(weights_ckpt).config.hidden_size
    detector = DetectorNet(8, np.full(40, -6.0, np.float32), np.full(40, 3.0, np.float32))
    weight = np.zeros(hidden + 1, np.float32)
    weight[-1] = 40.0  # its logits on speech: 0.12 +- 0.03, so the bias puts the ramp mid-way
    path = tmp_path_factory.mktemp("ckpt") / "detector.safetensors"
    path.write_bytes(weights_ckpt.read_bytes())
    return update_metadata(path, tensors={**detector.tensors(), contact.WEIGHT: weight,
                                          contact.BIAS: np.array([-4.9], np.float32)},
                           lip_contact={"center": 0.5, "width": 0.2}).path


@pytest.fixture(scope="session")
def vertices_ckpt(tmp_path_factory):
    template = np.random.default_rng(2).standard_normal((40, 3)).astype(np.float32)
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "vertices.safetensors",
                             kind="vertices", template=template, seed=2)
