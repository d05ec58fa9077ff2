"""The run directory: what a training run leaves behind, and the state that resumes it.

    RUN_DIR/config.json          resolved TrainConfig + data folder + world size
    RUN_DIR/stats.jsonl          one JSON line per logged step (train losses, lr, frames/s, val)
    RUN_DIR/events.out.tfevents* TensorBoard scalars (same numbers)
    RUN_DIR/loss.png             loss curves, redrawn at every validation
    RUN_DIR/last.safetensors     newest model (a2f checkpoint, loads with numpy)
    RUN_DIR/best.safetensors     model with the lowest validation position loss so far
    RUN_DIR/resume.pt            model, emotion table, optimiser, normalisers and step

Every file that matters is written to a temporary name and renamed into place, so killing the
process at any instant leaves either the previous or the new version, never a torn one.
"""

import json
import pickle
from pathlib import Path

import torch

from a2f_core.atomic import atomic_write
from a2f_core.errors import A2FError

CONFIG, STATS, PLOT, RESUME = "config.json", "stats.jsonl", "loss.png", "resume.pt"
LAST, BEST = "last.safetensors", "best.safetensors"


class RunDir:
    def __init__(self, path, resume: bool):
        self.path = Path(path)
        if resume and not (self.path / RESUME).is_file():
            raise A2FError(f"--resume: {self.path / RESUME} not found; start a new run without "
                           "--resume or point --out at an interrupted run")
        if not resume and (self.path / RESUME).exists():
            raise A2FError(f"{self.path} already holds a training run; add --resume to continue "
                           "it or choose another --out")
        self.path.mkdir(parents=True, exist_ok=True)
        if resume:
            self._remove_stale_temporaries()
        self._writer = None

    def _remove_stale_temporaries(self):
        """Delete half-written files a killed run left (each can be a whole checkpoint in size).

        Only on --resume (the folder is known to be a run directory), only names this module's
        writers create, and before this session writes anything.
        """
        for name in (RESUME, LAST, BEST, CONFIG, STATS, PLOT):
            for stale in self.path.glob(f".{name}.*.tmp"):  # atomic_write's temporary names
                if stale.is_file():
                    stale.unlink(missing_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_config(self, config: dict):
        _write_text(self.file(CONFIG), json.dumps(config, indent=1))

    def read_config(self) -> dict:
        return json.loads(self.file(CONFIG).read_text())

    def stats(self) -> list:
        path = self.file(STATS)
        if not path.exists():
            return []
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        records = []
        for i, line in enumerate(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if i == len(lines) - 1:  # a line cut off by a kill or a full disk: drop it
                    break
                raise A2FError(f"{path}: line {i + 1} is not valid JSON; the file was edited "
                               "or damaged, fix or delete that line") from None
        return records

    def truncate_stats(self, step: int):
        """Drop records after `step`: a resumed run rewrites them instead of duplicating them."""
        kept = [r for r in self.stats() if r["step"] <= step]
        _write_text(self.file(STATS), "".join(json.dumps(r) + "\n" for r in kept))

    def log(self, record: dict):
        """Append one stats.jsonl line and the same scalars to TensorBoard."""
        with open(self.file(STATS), "a") as f:
            f.write(json.dumps(record) + "\n")
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)):
                self._tensorboard(record["step"]).add_scalar(key, value, record["step"])
        self._writer.flush()

    def _tensorboard(self, step: int):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter
            # purge_step hides events a crashed run wrote after the step we resumed from
            self._writer = SummaryWriter(str(self.path), purge_step=step)
        return self._writer

    def plot(self):
        """Redraw loss.png from stats.jsonl (atomically, so a viewer never sees half a PNG)."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        records = self.stats()
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for key in ("train/position", "train/motion", "val/position", "val/motion"):
            points = [(r["step"], r[key]) for r in records if key in r]
            if points:
                ax.plot(*zip(*points), label=key, marker="." if key.startswith("val") else None)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (MSE)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if ax.lines:  # nothing logged yet (a run shorter than log_every): an empty plot
            ax.legend()
        try:
            atomic_write(self.file(PLOT), lambda f: fig.savefig(f, format="png", dpi=80))
        finally:
            plt.close(fig)

    def save_resume(self, state: dict):
        atomic_write(self.file(RESUME), lambda f: torch.save(state, f))

    def load_resume(self) -> dict:
        # weights_only: the unpickler accepts tensors and plain containers, never arbitrary code
        try:
            return torch.load(self.file(RESUME), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:  # torch's message is a page of advice to unsafe-load it
            raise A2FError(f"{self.file(RESUME)} holds objects a resume state never has (code "
                           "to run, for one), so it was not loaded; start a new run") from None

    def close(self):
        if self._writer is not None:
            self._writer.close()


def _write_text(path: Path, text: str):
    atomic_write(path, lambda f: f.write(text.encode()))
