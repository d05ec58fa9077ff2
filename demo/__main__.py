"""`python -m demo`: speak a line, bake it onto the demo head in Blender, show the result.

Steps (each timed): espeak-ng line (speech), scene + two bakes + renders in the bpy venv
(blender_main.py), figures (figures), then a list of what was written and how to open it.
`--fast` renders a few tiny frames and a 10-frame video, for tests.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from a2f_core.checkpoint import load_checkpoint
from a2f_core.errors import A2FError
from a2f_core.models import DEFAULT_WEIGHTS
from demo import figures, speech

BLENDER_MAIN = Path(__file__).with_name("blender_main.py")


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    parser.add_argument("--checkpoint", default=str(DEFAULT_WEIGHTS),
                        help="weights checkpoint (default: the bundled model)")
    parser.add_argument("--emotion", default="happy", help="shown beside neutral (default: happy)")
    parser.add_argument("--fast", action="store_true", help="tiny renders, for tests")
    parser.add_argument("--bpy-python", default=os.environ.get("BPY_PYTHON"),
                        help="a Python with the bpy module (default: $BPY_PYTHON; `make demo` "
                             "passes its bpy venv's)")
    return parser.parse_args(argv)


def _check(args):
    """Fail before any work, with the fix in the message."""
    if not args.bpy_python:
        raise A2FError("no Python with bpy: pass --bpy-python PYTHON or set BPY_PYTHON "
                       "(`make demo` creates a bpy venv and passes it)")
    if not Path(args.bpy_python).is_file():
        raise A2FError(f"--bpy-python {args.bpy_python} is missing; `make demo` creates a bpy venv "
                       "and passes it")
    if not Path(args.checkpoint).is_file():
        raise A2FError(f"no checkpoint at {args.checkpoint}; build the default model or pass "
                       "--checkpoint FILE")
    checkpoint = load_checkpoint(args.checkpoint)
    if checkpoint.config.output_kind != "weights":
        raise A2FError(f"{args.checkpoint} is a {checkpoint.config.output_kind} model; the demo "
                       "head needs a weights (ARKit) model")
    if args.emotion == "neutral" or args.emotion not in checkpoint.emotions:
        raise A2FError(f"--emotion {args.emotion!r}: choose one of "
                       f"{', '.join(sorted(set(checkpoint.emotions) - {'neutral'}))}")


def _blender(args, out: Path, wav: Path):
    """Run blender_main.py in the bpy venv; its full output goes to blender.log."""
    command = [args.bpy_python, str(BLENDER_MAIN), "--", "--audio", str(wav),
               "--checkpoint", str(Path(args.checkpoint).resolve()), "--emotion", args.emotion,
               "--out", str(out)] + (["--fast"] if args.fast else [])
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    (out / "blender.log").write_text(done.stdout)
    for line in done.stdout.splitlines():
        if line.startswith(("a2f:", "a2f demo:", "a2f batch:")):
            print(f"  {line}")
    if done.returncode:
        tail = "\n".join(done.stdout.splitlines()[-15:])
        raise A2FError(f"the Blender step failed (status {done.returncode}); end of "
                       f"{out / 'blender.log'}:\n{tail}")


def main(argv=None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    out = Path(args.out).resolve()
    started = time.monotonic()
    try:
        _check(args)
        out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(out / "frames", ignore_errors=True)  # stills of an earlier run
        step = time.monotonic()
        wav = out / "line.wav"
        seconds = speech.speak(wav)
        print(f"[1/3] spoke {seconds:.1f} s with espeak-ng ({', '.join(v for v, _ in speech.LINES)})"
              f" in {time.monotonic() - step:.1f} s")
        step = time.monotonic()
        print("[2/3] Blender: building the scene, baking neutral and "
              f"{args.emotion}, rendering{' (fast)' if args.fast else ''} ...", flush=True)
        _blender(args, out, wav)
        print(f"      done in {time.monotonic() - step:.1f} s")
        step = time.monotonic()
        moments = json.loads((out / "moments.json").read_text())
        figures.curves(out / "curves.npz", wav, moments, out / "curves.png")
        figures.contact_sheet(moments, out / "frames", ("neutral", args.emotion),
                              out / "contact_sheet.png")
        print(f"[3/3] figures in {time.monotonic() - step:.1f} s")
    except (A2FError, subprocess.CalledProcessError) as e:
        print(f"a2f demo: error: {e}", file=sys.stderr)
        return 1
    shown = Path(args.out)
    print(f"\nDone in {time.monotonic() - started:.0f} s. In {shown}/:\n"
          f"  demo.blend         the baked scene: neutral (left) and {args.emotion} (right), with sound\n"
          f"  demo.mp4           the preview video (H.264 + AAC)\n"
          f"  contact_sheet.png  frames at telling moments, labelled with time and what they show\n"
          f"  curves.png         jawOpen, mouthClose, mouthFunnel, ... over time, neutral vs {args.emotion}\n"
          f"  curves.npz         the baked per-frame shape-key values\n"
          f"  line.wav           the spoken line; blender.log: the Blender step's output\n"
          f"\nOpen it:  blender {shown}/demo.blend   (Space plays it with sound; "
          "Ctrl+F12 renders the video again)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
