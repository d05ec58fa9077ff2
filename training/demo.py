"""`make demo`: speak a line with espeak-ng, animate it, and print what came out."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from a2f_core.checkpoint import random_checkpoint
from a2f_core.models import DEFAULT_WEIGHTS
from training.cli import main as a2f

OUT = Path("demo_out")
LINE = "My fellow Americans, ask not what your country can do for you."


def main() -> int:
    OUT.mkdir(exist_ok=True)
    wav = OUT / "line.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), LINE], check=True)
    checkpoint = DEFAULT_WEIGHTS
    if not checkpoint.exists():
        checkpoint = random_checkpoint(OUT / "untrained.safetensors")
        print(f"no bundled default model yet: using untrained random weights ({checkpoint})")
    for out in (OUT / "line.npz", OUT / "line.csv"):
        if a2f(["infer", str(wav), "--checkpoint", str(checkpoint), "-o", str(out)]):
            return 1
    data = np.load(OUT / "line.npz")
    weights, names = data["weights"], list(data["names"])
    busiest = np.argsort(weights.std(axis=0))[::-1][:5]
    print(f"\n{len(weights)} frames at {float(data['fps']):g} fps for '{LINE}'")
    print("most active channels: " + ", ".join(f"{names[i]} (std {weights[:, i].std():.3f})"
                                              for i in busiest))
    print(f"files: {wav}, {OUT / 'line.npz'}, {OUT / 'line.csv'} (Live Link Face)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
