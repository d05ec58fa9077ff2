"""Runs every benchmark on the same 60 s of speech and prints one table of ratios."""

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from a2f_core.audio import load_audio
from bench import inference

LINES = ["My fellow Americans, ask not what your country can do for you.",
         "The quick brown fox jumps over the lazy dog, while five wizards box.",
         "Please bring me a bowl of warm soup and some bread before noon."]


def speech_minute(workdir: Path):
    """60 s of espeak-ng speech: the same input for every benchmark."""
    wav = workdir / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), " ".join(LINES * 6)], check=True)
    x = load_audio(wav)
    return np.resize(x, 16000 * 60)  # repeats the speech if espeak-ng made less than a minute


def main():
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        speech = speech_minute(workdir)
        rows = inference.run(speech, workdir)
    width = max(len(r[0]) for r in rows)
    for label, value, unit in rows:
        print(f"{label:<{width}}  {value:8.3f} {unit}")


if __name__ == "__main__":
    main()
