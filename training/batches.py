"""Training minibatches as runs of consecutive frames that share one formant-network pass.

A run is (take, first frame, length, time shift). Its windows overlap heavily, so the grid frames
they cover are gathered once, the formant network runs once per 8 ms grid frame, and every window
indexes into that shared output. All runs of a minibatch are concatenated into one grid, so one
`A2FNet.forward_grid` call evaluates the whole minibatch; adjacent frames inside each run form
the pairs that feed the motion and emotion losses.
"""

from dataclasses import dataclass

import numpy as np
import torch

from a2f_core.config import ModelConfig
from a2f_core.errors import DatasetError
from a2f_core.features import GridFeatures, window_starts


@dataclass
class TakeData:
    """One take ready for training: its feature grid, offset targets and emotion-table rows."""
    name: str
    grid: torch.Tensor      # (G, K) float32 features of grid frames grid_origin .. grid_origin+G-1
    grid_origin: int        # global grid index of grid[0] (negative: zeros before the clip)
    targets: torch.Tensor   # (T, output_size) float32 weights or vertex offsets, flattened
    row0: int               # emotion-table row of frame 0
    label: str | None       # emotion label from the take's metadata, if any

    @property
    def frames(self) -> int:
        return len(self.targets)


@dataclass
class Batch:
    grid: torch.Tensor      # (G, K) grid frames of every run, concatenated
    starts: torch.Tensor    # (B,) int64 first row of each frame's window in `grid`
    targets: torch.Tensor   # (B, output_size) targets, interpolated at the shifted times
    rows: torch.Tensor      # (B,) int64 emotion-table row of each frame
    pair0: torch.Tensor     # (P,) int64 index of frame 0 of each adjacent pair
    pair1: torch.Tensor     # (P,) int64 index of frame 1 (pair0 + 1, never across runs)

    def to(self, device) -> "Batch":
        return Batch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def prepare_take(take, fps: float, kind: str, template, config: ModelConfig, row0: int,
                 max_shift: float = 0.5) -> TakeData:
    """Featurise one dataset take once: grid covering every window any shift can ask for."""
    targets = take.targets()
    if kind == "vertices":
        targets = targets - template
    targets = targets.reshape(len(targets), -1)
    if len(targets) < 2:
        raise DatasetError(f"take {take.name!r} has {len(targets)} frame(s); training needs "
                           "at least 2 adjacent frames per take")
    features = GridFeatures(take.audio(), config)
    first = window_starts(1, fps, -max_shift / fps, config)[0]
    last = window_starts(1, fps, (len(targets) - 1 + max_shift) / fps, config)[0]
    grid = features.frames(int(first), int(last) + config.window_frames + 1)
    return TakeData(take.name, torch.from_numpy(grid), int(first),
                    torch.from_numpy(np.ascontiguousarray(targets, np.float32)), row0,
                    take.meta.get("emotion"))


def epoch_runs(takes: list, run_frames: int, seed: int, epoch: int) -> list:
    """[(take index, first frame, length)] tiling every take with runs, in a shuffled order.

    Each take gets max(1, T // R) runs whose common phase is random per epoch, so every frame is
    covered about once per epoch and run boundaries move between epochs. The count is the same
    in every epoch, which keeps steps-per-epoch fixed and the schedule exact across resumes.
    """
    rng = np.random.default_rng([seed, epoch])
    runs = []
    for i, take in enumerate(takes):
        length = min(run_frames, take.frames)
        count = max(1, take.frames // length)
        phase = int(rng.integers(0, take.frames - count * length + 1))
        runs.extend((i, phase + j * length, length) for j in range(count))
    return [runs[k] for k in rng.permutation(len(runs))]


def runs_per_epoch(takes: list, run_frames: int) -> int:
    return sum(max(1, t.frames // min(run_frames, t.frames)) for t in takes)


def make_batch(takes: list, runs: list, shifts, fps: float, config: ModelConfig) -> Batch:
    """Assemble runs [(take index, first, length)] with per-run shifts (frames) into one Batch."""
    grids, starts, targets, rows, pair0 = [], [], [], [], []
    grid_rows = frames = 0
    for (index, first, length), shift in zip(runs, shifts):
        take = takes[index]
        s = window_starts(length, fps, (first + shift) / fps, config) - take.grid_origin
        g0, g1 = int(s[0]), int(s[-1]) + config.window_frames
        if g0 < 0 or g1 > len(take.grid):
            raise ValueError(f"run {first}+{length} shifted {shift} leaves take {take.name}'s grid")
        grids.append(take.grid[g0:g1])
        starts.append(torch.from_numpy(s - g0 + grid_rows))
        targets.append(interpolate(take.targets, first + shift + np.arange(length)))
        rows.append(torch.arange(take.row0 + first, take.row0 + first + length))
        pair0.append(torch.arange(frames, frames + length - 1))
        grid_rows += g1 - g0
        frames += length
    pair0 = torch.cat(pair0)
    return Batch(torch.cat(grids), torch.cat(starts), torch.cat(targets), torch.cat(rows),
                 pair0, pair0 + 1)


def interpolate(targets: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
    """(n, output) targets linearly interpolated at fractional frame positions, held at the ends."""
    positions = np.clip(positions, 0, len(targets) - 1)
    lo = np.floor(positions).astype(np.int64)
    hi = np.minimum(lo + 1, len(targets) - 1)
    w = torch.from_numpy((positions - lo).astype(np.float32))[:, None]
    return targets[lo] * (1 - w) + targets[hi] * w


def take_starts(take: TakeData, fps: float, config: ModelConfig) -> torch.Tensor:
    """(T,) rows of `take.grid` where each unshifted frame's window starts (for validation)."""
    return torch.from_numpy(window_starts(take.frames, fps, 0.0, config) - take.grid_origin)
