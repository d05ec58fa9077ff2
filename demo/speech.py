"""The demo's spoken line: two languages from espeak-ng, joined into one WAV.

Two languages show that the model follows sounds, not words. The espeak-ng command line keeps
its native 22.05 kHz, so the preview video's sound is as clear as espeak-ng makes it (the bake
resamples to 16 kHz itself).
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from a2f_core.errors import A2FError

LINES = (
    ("en-us", "Hello! Watch my lips move: a boy, a pie, a moon."),
    ("de", "Wir fahren mit dem Boot über den blauen See."),
)
PAUSE_SECONDS = 0.35


def speak(path: Path, lines=LINES) -> float:
    """Write the lines, one after another with a short pause, as 16-bit PCM to path; returns seconds."""
    if shutil.which("espeak-ng") is None:
        raise A2FError("espeak-ng is missing; `make apt` installs it")
    parts, rate = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for k, (voice, text) in enumerate(lines):
            wav = Path(tmp) / f"{k}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
            samples, rate = soundfile.read(wav, dtype="float32")
            parts += [samples, np.zeros(int(PAUSE_SECONDS * rate), np.float32)]
    samples = np.concatenate(parts[:-1])
    soundfile.write(path, samples, rate, subtype="PCM_16")
    return len(samples) / rate
