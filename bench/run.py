"""`make bench`: every benchmark in one run; prints a table, writes bench/results.md.

Speed is compared as ratios measured in the same run (the naive torch evaluation, the
keyframe_insert loop, independent training pairs), because this machine is shared and noisy.
Blender items run in the bpy venv (`BPY_PYTHON`, default .venv-bpy-4.5/bin/python).
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import soundfile
import soxr

from a2f_core.audio import load_audio
from a2f_core.checkpoint import random_checkpoint
from bench import inference, training
from training.assets.ict_head import load_head

ROOT = Path(__file__).resolve().parents[1]
BPY_PYTHON = Path(os.environ.get("BPY_PYTHON", ROOT / ".venv-bpy-4.5" / "bin" / "python"))
LINES = ["My fellow Americans, ask not what your country can do for you.",
         "The quick brown fox jumps over the lazy dog, while five wizards box.",
         "Please bring me a bowl of warm soup and some bread before noon."]


def speech_minute(workdir: Path) -> Path:
    """60 s of espeak-ng speech as a 22.05 kHz WAV: the same input for every benchmark."""
    raw = workdir / "espeak.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), " ".join(LINES * 6)], check=True)
    x, rate = soundfile.read(raw, dtype="float32")
    wav = workdir / "speech.wav"
    soundfile.write(wav, np.resize(x, 60 * rate), rate, subtype="PCM_16")  # repeats if short
    return wav


def speech_hour(minute: Path, workdir: Path) -> Path:
    """One hour of that speech as 44.1 kHz stereo WAV (635 MB), written a minute at a time."""
    x, rate = soundfile.read(minute, dtype="float32")
    stereo = soxr.resample(np.stack([x, x[::-1]], axis=1), rate, 44100)
    path = workdir / "hour.wav"
    with soundfile.SoundFile(path, "w", 44100, 2, subtype="PCM_16") as f:
        for _ in range(60):
            f.write(stereo)
    return path


# Peak RSS of a child counts what it inherited at fork until exec, so `a2f infer` is started by
# this small interpreter rather than by the benchmark process (which holds torch).
_PEAK_RSS = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
             "stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def a2f_infer(audio: Path, out: Path, checkpoint: Path, *options):
    """Run `a2f infer` as a user would: (wall seconds, peak RSS in MB) of that command."""
    command = [str(Path(sys.executable).parent / "a2f"), "infer", str(audio), "-o", str(out),
               "--checkpoint", str(checkpoint), *options]
    start = time.perf_counter()
    peak_kb = subprocess.run([sys.executable, "-c", _PEAK_RSS, *command], check=True,
                             capture_output=True, text=True).stdout
    return time.perf_counter() - start, int(peak_kb) / 1024


def blender(wav: Path) -> dict:
    out = subprocess.run([str(BPY_PYTHON), "-m", "bench.bake", "--wav", str(wav)], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def machine(bpy: dict, load: float) -> list:
    info = dict(line.split(":", 1) for line in open("/proc/cpuinfo").read().split("\n\n")[0]
                .splitlines() if ":" in line)
    info = {k.strip(): v.strip() for k, v in info.items()}
    cpu = f"{info.get('model name', platform.processor())} (family {info.get('cpu family')}, " \
          f"model {info.get('model')})"
    import torch
    return [f"CPU: {cpu}, {os.cpu_count()} cores; {platform.system()} {platform.release()}",
            f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}; "
            f"Blender (PyPI bpy) {bpy['blender']} with numpy {bpy['numpy_inference']['numpy']}",
            f"load average at the start: {load:.1f} (other jobs share the CPU)",
            f"run at {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"]


def main():
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        wav = speech_minute(workdir)
        rows = [("1. inference, 60 s of speech", None, "")]
        rows += inference.run(load_audio(wav), workdir)
        checkpoint = random_checkpoint(workdir / "weights.safetensors")
        # fastest of 3 each, alternating: the liveliness layer's cost is a few percent
        walls = {options: [] for options in ((), ("--no-life",))}
        for _ in range(3):
            for options in walls:
                walls[options].append(a2f_infer(wav, workdir / "minute.npz", checkpoint,
                                                *options)[0])
        wall, alone = min(walls[()]), min(walls[("--no-life",)])
        rows += [("`a2f infer` 60 s, whole command", wall,
                  "s (start-up, checkpoint, audio, liveliness layer, output)"),
                 ("`a2f infer --no-life` 60 s (the network alone)", alone, "s"),
                 ("liveliness layer's cost", wall / alone, "x (target <= 1.1)")]
        skin = random_checkpoint(workdir / "skin.safetensors", kind="vertices",
                                 template=load_head().skin().vertices)
        skin_wall = min(a2f_infer(wav, workdir / "skin.npz", skin)[0] for _ in range(3))
        rows.append(("`a2f infer` 60 s, vertex model of the demo head's skin (14,062 vertices)",
                     skin_wall, f"s, {skin_wall / wall:.1f}x the weights model's"))
        bpy = blender(wav)
        rows.append((f"numpy inference in Blender (numpy {bpy['numpy_inference']['numpy']})",
                     bpy["numpy_inference"]["s_per_audio_minute"], "s per audio minute"))
        hour = speech_hour(wav, workdir)
        wall, rss = a2f_infer(hour, workdir / "hour.npz", checkpoint)
        rows += [("2. one hour (44.1 kHz stereo WAV) through `a2f infer`", None, ""),
                 ("wall time", wall, f"s ({wall / 60:.3f} s per audio minute)"),
                 ("peak RSS", rss, "MB (target <= 300)")]
        rows.append(("3. headless bake of 60 s", None, ""))
        for key, label in (("bake_weights", "52 shape keys"),
                           ("bake_vertices", "demo head's skin, vertex basis")):
            b = bpy[key]
            rows += [(f"{label}", b["bake_s_per_audio_minute"], "s per audio minute (target <= 0.5)"),
                     (f"{label}: keyframe_insert / bulk", b["keyframe_insert_ratio"],
                      f"x ({b['fcurves']} F-curves, {b['keys']} keys)")]
        b = bpy["batch"]
        rows += [(f"4. batch: {b['files']} files of {b['seconds_each']} s, one bpy process", None, ""),
                 ("files per minute", b["files_per_minute"], f"({b['wall_s']} s in all)"),
                 ("of which bpy start + model load (once)", b["bpy_start_and_model_load_s"], "s")]
        rows.append(("5. training step (forward, backward, Adam)", None, ""))
        rows += training.run()
        rows += [("6. add-on register()", None, ""),
                 ("register time", bpy["register"]["register_ms"],
                  f"ms (target <= 50); a2f modules imported by register(): "
                  f"{len(bpy['register']['addon_modules_imported'])}")]
    table = _table(rows)
    print(table)
    notes = machine(bpy, load)
    (ROOT / "bench" / "results.md").write_text(
        "# `make bench` results\n\n" + "\n".join(f"- {n}" for n in notes) + "\n\n" + table + "\n")


def _table(rows) -> str:
    lines = ["| benchmark | value | unit |", "|---|---:|---|"]
    for label, value, unit in rows:
        if value is None:
            lines.append(f"| **{label}** | | |")
        else:
            lines.append(f"| {label} | {'n/a' if np.isnan(value) else f'{value:.3g}'} | {unit} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
