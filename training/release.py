"""`python -m training.release RUN_CKPT OUT`: a trained checkpoint made fit to ship.

Drops what only training and mining need (the per-frame emotion table and its take index),
stores the weights as float16 and checks on real speech that the shipped model still animates
like the original, so a release never silently loses accuracy.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from a2f_core.audio import load_audio
from a2f_core.checkpoint import load_checkpoint, save_checkpoint
from a2f_core.errors import A2FError
from a2f_core.infer import Animator

PARITY_TOLERANCE = 0.01  # max |shipped - original| output, relative to the output range


def release(source, target, dtype="float16") -> float:
    """Write the shipped checkpoint; returns the parity error measured on a spoken line.
    Above PARITY_TOLERANCE nothing is written (an existing target is kept) and A2FError says so."""
    target = Path(target)
    candidate = target.with_name(target.name + ".candidate")
    ckpt = load_checkpoint(source)
    tensors = {k: v for k, v in ckpt.tensors.items() if not k.startswith("training.")}
    meta = {k: v for k, v in ckpt.meta.items()
            if k not in ("format", "format_version", "config", "fps", "emotions",
                         "channel_names", "provenance", "training")}
    save_checkpoint(candidate, tensors, ckpt.config, fps=ckpt.fps,
                    channel_names=ckpt.channel_names, emotions=ckpt.meta["emotions"],
                    provenance=ckpt.meta.get("provenance"), extra_meta=meta, dtype=dtype)
    error = parity_error(ckpt, load_checkpoint(candidate))
    if error > PARITY_TOLERANCE:
        candidate.unlink()
        raise A2FError(f"{dtype} storage moves outputs by {error:.2e} of their range (limit "
                       f"{PARITY_TOLERANCE}); {target} left unchanged, try --dtype float32")
    os.replace(candidate, target)
    return error


def parity_error(original, shipped) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "line.wav"
        subprocess.run(["espeak-ng", "-w", str(wav),
                        "Bring me a warm bowl of soup, please, before you go."], check=True)
        samples = load_audio(wav)
    worst, before, after = 0.0, Animator(original), Animator(shipped)
    for name, vector in original.emotions.items():
        a = before.animate(samples, 30.0, vector)
        b = after.animate(samples, 30.0, shipped.emotions[name])
        worst = max(worst, float(np.abs(a - b).max() / (np.ptp(a) + 1e-9)))
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="trained checkpoint (e.g. RUN_DIR/best.safetensors)")
    parser.add_argument("target", help="where to write the shipped checkpoint")
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    args = parser.parse_args(argv)
    try:
        error = release(args.source, args.target, args.dtype)
    except A2FError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    size = Path(args.target).stat().st_size / 2**20
    print(f"{args.target}: {size:.1f} MiB, {args.dtype}, parity error {error:.2e} of the "
          f"output range (limit {PARITY_TOLERANCE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
