"""`a2f train`: the Karras 2017 recipe on a native dataset, resumable, on one process or torchrun.

    a2f train --data DIR --out RUN_DIR [--config FILE.toml] [--epochs N | --steps N]
              [--device cpu|cuda] [--init CKPT] [--seed N] [--resume]
    torchrun --nproc_per_node N -m training.train --data DIR --out RUN_DIR ...

Each step draws `batch_runs` runs of `run_frames` consecutive frames per process (batches.py),
evaluates them with one shared formant pass, and minimises the normalised sum of the position,
motion and emotion terms with Adam. The per-frame emotion table trains with the network.

Randomness is a pure function of (seed, step, rank): the batch order, the time shifts and the
feature-map noise of step s are re-derived on resume, so the resume state needs only the step,
the parameters, the optimiser and the loss normalisers to continue exactly where a run stopped.
"""

import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from a2f_core.checkpoint import load_checkpoint, save_checkpoint
from a2f_core.errors import A2FError, DatasetError
from a2f_core.torch.losses import LossNormalizer, emotion_loss, motion_loss, position_loss
from a2f_core.torch.model import A2FNet
from training import distributed
from training.batches import epoch_runs, make_batch, prepare_take, runs_per_epoch, take_starts
from training.dataset import check_compatible, load_dataset
from training.lip_contact.shut_lips import ShutLips
from training.run_dir import BEST, LAST, RunDir
from training.train_config import TrainConfig, load_config, parse_setting

TERMS = ("position", "motion", "emotion")


class TrainModule(nn.Module):
    """The network plus the per-training-frame emotion table: one module, so DDP syncs both."""

    def __init__(self, net: A2FNet, emotion_table: torch.Tensor, loss_scale: torch.Tensor,
                 closure_weight: float = 1.0, shut_lips: ShutLips | None = None,
                 position_power: float = 2.0, contact: bool = False):
        """closure_weight: position-loss weight of the frames `shut_lips` marks (1.0: none);
        position_power: exponent of the position error (2.0: the paper's squares);
        contact: add a logistic unit on the hidden layer that learns the frames `shut_lips` marks,
        so the hidden layer must tell them apart (training only: `a2f contact` fits the head a
        model ships with)."""
        super().__init__()
        self.net = net
        self.emotions = nn.Parameter(emotion_table)
        self.register_buffer("loss_scale", loss_scale)  # (output_size,) per-value loss weight
        self.closure_weight, self.shut_lips = closure_weight, shut_lips
        self.position_power = position_power
        self.contact = nn.Linear(net.config.hidden_size, 1) if contact else None

    def forward(self, batch) -> torch.Tensor:
        """(3,) raw loss terms [position, motion, emotion] of one Batch, (4,) with contact."""
        e = self.emotions[batch.rows]
        hidden = self.net.hidden_grid(batch.grid, batch.starts, e)
        y = self.net.output[1](hidden) * self.loss_scale
        t, p0, p1 = batch.targets * self.loss_scale, batch.pair0, batch.pair1
        shut = None if self.shut_lips is None else self.shut_lips(batch.targets)
        weight = None if shut is None else 1 + (self.closure_weight - 1) * shut
        terms = [position_loss(y, t, weight, self.position_power),
                 motion_loss(y[p0], y[p1], t[p0], t[p1]), emotion_loss(e[p0], e[p1])]
        if self.contact is not None:
            terms.append(nn.functional.binary_cross_entropy_with_logits(
                self.contact(hidden)[:, 0], shut))
        return torch.stack(terms)


@dataclass
class TrainResult:
    run_dir: Path
    step: int               # steps completed
    total_steps: int
    interrupted: bool       # stopped early by abort_fn or Ctrl-C; `--resume` continues
    best_val: float         # lowest validation position loss (inf without a val split)
    frames_per_second: float  # training throughput of this session, all ranks together
    tensors: dict           # final network tensors + "training.emotion_table", numpy float32
    is_main: bool = True    # rank 0 (the process that wrote the run directory)


def learning_rate(step: int, total: int, config: TrainConfig) -> float:
    """Peak lr times a Gaussian-shaped ramp-up and a half-cosine ramp-down to zero."""
    t = step / total
    factor = 1.0
    if config.rampup_fraction > 0 and t < config.rampup_fraction:
        factor *= math.exp(-5.0 * (1.0 - t / config.rampup_fraction) ** 2)
    down = 1.0 - config.rampdown_fraction
    if config.rampdown_fraction > 0 and t > down:
        factor *= 0.5 + 0.5 * math.cos(math.pi * (t - down) / config.rampdown_fraction)
    return config.learning_rate * factor


def initial_emotion_table(takes, config: TrainConfig, known: dict | None = None) -> torch.Tensor:
    """(frames, E) Gaussian table of std emotion_init_std; with emotion_init 'label', every row of
    a labelled take also gets its label's vector ('neutral' keeps zero), so the network sees which
    takes share an emotion from the first step instead of after many epochs: `known[label]` when
    the network already knows that emotion, else a shared random unit vector."""
    frames = sum(t.frames for t in takes)
    noise = torch.Generator().manual_seed(config.seed)
    table = torch.randn(frames, config.model.emotion_dim, generator=noise) * config.emotion_init_std
    if config.emotion_init == "label":
        labels = sorted({t.label for t in takes if t.label not in (None, "neutral")})
        rng = np.random.default_rng([config.seed, 1])
        seeds = rng.standard_normal((len(labels), config.model.emotion_dim)).astype(np.float32)
        seeds /= np.linalg.norm(seeds, axis=1, keepdims=True)
        vectors = {label: np.asarray((known or {}).get(label, seed), np.float32)
                   for label, seed in zip(labels, seeds)}
        for take in takes:
            if take.label in vectors:
                table[take.row0:take.row0 + take.frames] += torch.from_numpy(vectors[take.label])
    return table


def start_from(path, net: A2FNet, takes, dataset, config: TrainConfig) -> torch.Tensor:
    """Load checkpoint `path`'s network into net and return the emotion table to start from: the
    checkpoint's own when it was trained on exactly these takes (a later stage of the same run),
    else a fresh one in which labelled takes start at the checkpoint's emotion of that name (mined
    or added; not 'neutral', which label init keeps at zero), so captures of an emotion the
    network knows begin where it knows it."""
    ckpt = load_checkpoint(path)
    check_compatible(ckpt, dataset)
    if ckpt.config != net.config:
        raise A2FError(f"init checkpoint {path} has a different network shape than this config "
                       f"({ckpt.config} vs {net.config}); use the config it was trained with")
    net.load_numpy_tensors(ckpt.tensors)
    saved = ckpt.tensors.get("training.emotion_table")
    if saved is not None and ckpt.meta.get("training", {}).get("takes") == take_index(takes):
        return torch.from_numpy(np.array(saved, np.float32))
    known = {name: vector for name, vector in ckpt.emotions.items() if name != "neutral"}
    return initial_emotion_table(takes, config, known)


def take_index(takes) -> list:
    """Where each training take's rows lie in the emotion table (checkpoint meta 'training')."""
    return [{"name": t.name, "row0": t.row0, "frames": t.frames, "label": t.label} for t in takes]


def output_loss_scale(targets: np.ndarray, config: TrainConfig) -> torch.Tensor:
    """(output_size,) multipliers of outputs and targets inside the losses: ones (the paper), or
    1 / std per output value with standardize_outputs. The floor keeps values that never move
    from dominating; the result is scaled to unit RMS so the losses keep their magnitude."""
    if not config.standardize_outputs:
        return torch.ones(targets.shape[1])
    std = targets.std(0)
    scale = 1.0 / np.maximum(std, 0.25 * np.sqrt(np.mean(std ** 2)) + 1e-12)
    return torch.from_numpy((scale / np.sqrt(np.mean(scale ** 2))).astype(np.float32))


def train(config: TrainConfig | None, data_dir, out_dir, progress_fn=None, abort_fn=None,
          resume: bool = False) -> TrainResult:
    """Train into out_dir. progress_fn(step, total) is called after every step; when abort_fn()
    returns True the run saves its resume state and returns (interrupted=True). With resume,
    config may be None (the run's own config is used) and must otherwise match it."""
    run_dir = RunDir(out_dir, resume)
    if resume:
        saved = TrainConfig.from_dict(run_dir.read_config()["train"])
        if config is not None and config != saved:
            raise A2FError(f"--resume: the given config differs from {run_dir.path}'s config.json;"
                           " resume without --config/--steps/--epochs or start a new run")
        config = saved
    ctx = distributed.setup(config.device)
    try:
        return _Trainer(config, Path(data_dir), run_dir, ctx, resume).run(progress_fn, abort_fn)
    finally:
        run_dir.close()
        distributed.teardown(ctx)


class _Trainer:
    def __init__(self, config: TrainConfig, data_dir: Path, run_dir: RunDir, ctx, resume: bool):
        self.config, self.run_dir, self.ctx, self.resume = config, run_dir, ctx, resume
        dataset = load_dataset(data_dir)
        if config.data_minutes:
            dataset = dataset.first_minutes(config.data_minutes)
        self.dataset = dataset
        train_takes, val_takes = dataset.split("train"), dataset.split("val")
        if not train_takes:
            raise DatasetError(f"{data_dir}: no takes in the 'train' split")
        size = (len(dataset.channel_names) if dataset.kind == "weights"
                else dataset.template.size)
        self.model_config = config.model_config(dataset.kind, size)
        self.takes = self._prepare(train_takes, config.time_shift_frames)
        self.val = self._prepare(val_takes, 0.0)
        self.steps_per_epoch = runs_per_epoch(self.takes, config.run_frames) // (
            config.batch_runs * ctx.world_size)
        if self.steps_per_epoch == 0:
            raise DatasetError(
                f"{data_dir}: {runs_per_epoch(self.takes, config.run_frames)} runs of "
                f"{config.run_frames} frames is fewer than one minibatch of {config.batch_runs} "
                f"runs x {ctx.world_size} process(es); add data or lower run_frames/batch_runs")
        self.total = config.total_steps(self.steps_per_epoch)

        torch.manual_seed(config.seed)
        net = A2FNet(self.model_config, noise_base=config.noise_base)
        targets = torch.cat([t.targets for t in self.takes]).cpu().numpy()
        if config.init and not resume:  # a resumed run loads its own state instead
            table = start_from(config.init, net, self.takes, dataset, config)
        else:
            table = initial_emotion_table(self.takes, config)
            net.pca_init(targets, seed=config.seed)
        contact = config.contact_loss > 0
        shut_lips = (ShutLips(dataset, targets) if config.closure_weight != 1.0 or contact
                     else None)
        self.module = TrainModule(net, table, output_loss_scale(targets, config),
                                  config.closure_weight, shut_lips,
                                  config.position_power, contact).to(ctx.device)
        self.model = distributed.wrap(self.module, ctx)
        self.terms = TERMS + ("contact",) if contact else TERMS
        self.term_weights = (1.0,) * len(TERMS) + (config.contact_loss,) * contact
        self.normalizers = nn.ModuleList(LossNormalizer() for _ in self.terms).to(ctx.device)
        net_params = [p for name, p in self.module.named_parameters() if name != "emotions"]
        groups = [{"params": net_params, "lr_scale": 1.0},
                  {"params": [self.module.emotions], "lr_scale": config.emotion_lr_scale}]
        self.optimizer = torch.optim.Adam(groups, lr=config.learning_rate,
                                          betas=(config.adam_beta1, config.adam_beta2),
                                          eps=config.adam_eps)
        self.step, self.best = 0, math.inf
        self._epoch_cache = (None, None)

    def _prepare(self, takes, max_shift):
        data, row = [], 0
        for take in tqdm(takes, desc="featurising", unit="take", disable=not self.ctx.is_main,
                         leave=False):
            data.append(prepare_take(take, self.dataset.fps, self.dataset.kind,
                                     self.dataset.template, self.model_config, row, max_shift))
            data[-1].grid = data[-1].grid.to(self.ctx.device)
            data[-1].targets = data[-1].targets.to(self.ctx.device)
            row += data[-1].frames
        return data

    # --- the loop ---------------------------------------------------------------------------
    def run(self, progress_fn, abort_fn) -> TrainResult:
        if self.resume:
            self._load_state(self.run_dir.load_resume())
            if self.ctx.is_main:
                self.run_dir.truncate_stats(self.step)
        elif self.ctx.is_main:
            self.run_dir.write_config({"train": self.config.to_dict(),
                                       "data": str(self.dataset.root.resolve()),
                                       "world_size": self.ctx.world_size,
                                       "steps_per_epoch": self.steps_per_epoch,
                                       "total_steps": self.total})
        if self.ctx.is_main and not self.val:
            tqdm.write("note: the dataset has no 'val' takes; best.safetensors follows last")
        interrupted = _SigintFlag()
        sums, frames, seconds, tick = torch.zeros(len(self.terms)), 0, 0.0, time.perf_counter()
        session_frames, session_start = 0, tick
        bar = tqdm(total=self.total, initial=self.step, unit="step", desc="training",
                   disable=not self.ctx.is_main, dynamic_ncols=True)
        with interrupted:
            while self.step < self.total:
                raw, n = self._train_step()
                sums += raw
                frames += n
                session_frames += n
                self.step += 1
                bar.update(1)
                if progress_fn:
                    progress_fn(self.step, self.total)
                if self.step % self.config.log_every == 0 or self.step == self.total:
                    now = time.perf_counter()
                    seconds, tick = now - tick, now
                    self._log(sums / self.config.log_every, frames / seconds, bar)
                    sums, frames = torch.zeros(len(self.terms)), 0
                if self.step % self.config.val_every == 0 or self.step == self.total:
                    self._validate(bar)
                stop = distributed.broadcast_flag(interrupted.is_set or bool(abort_fn and abort_fn()),
                                                  self.ctx)
                if self.step % self.config.checkpoint_every == 0 or self.step == self.total or stop:
                    self._save()
                if self.ctx.is_main and (self.step % self.config.val_every == 0 or stop
                                         or self.step == self.total):
                    self.run_dir.plot()
                if stop:
                    break
        bar.close()
        fps = session_frames / max(time.perf_counter() - session_start, 1e-9)
        return TrainResult(self.run_dir.path, self.step, self.total, self.step < self.total,
                           self.best, fps, self._tensors(), self.ctx.is_main)

    def _train_step(self):
        """One optimiser step; returns ((terms,) globally averaged raw losses, frames on all ranks)."""
        config, ctx = self.config, self.ctx
        epoch, index = divmod(self.step, self.steps_per_epoch)
        if self._epoch_cache[0] != epoch:
            self._epoch_cache = (epoch, epoch_runs(self.takes, config.run_frames, config.seed,
                                                   epoch)[ctx.rank::ctx.world_size])
        runs = self._epoch_cache[1][index * config.batch_runs:(index + 1) * config.batch_runs]
        rng = np.random.default_rng([config.seed, self.step, ctx.rank])
        shifts = rng.uniform(-config.time_shift_frames, config.time_shift_frames, len(runs))
        batch = make_batch(self.takes, runs, shifts, self.dataset.fps, self.model_config)
        torch.manual_seed(int(rng.integers(2 ** 62)))  # the feature-map noise of this step
        lr = learning_rate(self.step, self.total, config)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]

        raw = self.model(batch.to(ctx.device))
        mean = distributed.mean(raw, ctx)
        # Normalise the all-rank mean (identical v on every rank) while keeping local gradients.
        loss = sum(w * norm(m + (r - r.detach()))
                   for norm, w, m, r in zip(self.normalizers, self.term_weights, mean, raw))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return mean.cpu(), len(batch.targets) * ctx.world_size

    # --- validation, logging, checkpoints ---------------------------------------------------
    def neutral_emotion(self) -> torch.Tensor:
        """(E,) mean of the emotion table: the input that represents 'no particular emotion'."""
        return self.module.emotions.detach().mean(0)

    @torch.no_grad()
    def _validate(self, bar):
        if not self.ctx.is_main or not self.val:
            return
        metrics = validate(self.module.net, self.val, self.neutral_emotion(), self.dataset.fps)
        record = {"step": self.step, **{f"val/{k}": v for k, v in metrics.items()}}
        self.run_dir.log(record)
        bar.write(f"step {self.step}: val position {metrics['position']:.5g} "
                  f"motion {metrics['motion']:.5g}")
        if metrics["position"] < self.best:
            self.best = metrics["position"]
            self._save_checkpoint(BEST)

    def _log(self, mean_losses, frames_per_second, bar):
        if not self.ctx.is_main:
            return
        record = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 4),
                  "lr": self.optimizer.param_groups[0]["lr"],
                  "frames_per_second": round(frames_per_second, 2),
                  **{f"train/{k}": float(v) for k, v in zip(self.terms, mean_losses)}}
        self.run_dir.log(record)
        bar.set_postfix(pos=f"{record['train/position']:.4g}", fps=f"{frames_per_second:.0f}")

    def _save(self):
        if not self.ctx.is_main:
            return
        self._save_checkpoint(LAST)
        if not self.val:
            self._save_checkpoint(BEST)
        self.run_dir.save_resume({
            "step": self.step, "best": self.best, "module": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(), "normalizers": self.normalizers.state_dict()})

    def _load_state(self, state: dict):
        self.step, self.best = int(state["step"]), float(state["best"])
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.normalizers.load_state_dict(state["normalizers"])

    def _tensors(self) -> dict:
        tensors = self.module.net.numpy_tensors()
        tensors["training.emotion_table"] = self.module.emotions.detach().cpu().numpy()
        return tensors

    def _save_checkpoint(self, name: str):
        tensors = self._tensors()
        if self.dataset.kind == "vertices":
            tensors["template"] = self.dataset.template
        provenance = {"kind": "trained", "data": str(self.dataset.root.resolve()),
                      "steps": self.step, "epochs": round(self.step / self.steps_per_epoch, 3),
                      "best_val_position": None if math.isinf(self.best) else self.best,
                      "train": self.config.to_dict(),
                      "emotions": "neutral is the mean of the training emotion table; "
                                  "run `a2f emotions mine` to add named emotions"}
        save_checkpoint(self.run_dir.file(name), tensors, self.model_config,
                        fps=self.dataset.fps, channel_names=self.dataset.channel_names,
                        emotions={"neutral": self.neutral_emotion().cpu().numpy()},
                        provenance=provenance,
                        extra_meta={"training": {"takes": take_index(self.takes)}})


@torch.no_grad()
def validate(net: A2FNet, takes: list, emotion: torch.Tensor, fps: float,
             chunk_frames: int = 512) -> dict:
    """Position and motion MSE of the whole takes (no noise, no shift) with one emotion vector."""
    was_training = net.training
    net.eval()
    sums = {"position": 0.0, "motion": 0.0}
    counts = {"position": 0, "motion": 0}
    for take in takes:
        starts = take_starts(take, fps, net.config).to(take.grid.device)
        parts = []
        for i in range(0, take.frames, chunk_frames):
            s = starts[i:i + chunk_frames]
            g0 = int(s[0])
            grid = take.grid[g0:int(s[-1]) + net.config.window_frames]
            parts.append(net.forward_grid(grid, s - g0, emotion.expand(len(s), -1)))
        error = torch.cat(parts) - take.targets
        sums["position"] += float((error ** 2).sum())
        counts["position"] += error.numel()
        sums["motion"] += float(((error[1:] - error[:-1]) ** 2).sum())
        counts["motion"] += error[1:].numel()
    net.train(was_training)
    return {k: sums[k] / max(counts[k], 1) for k in sums}


class _SigintFlag:
    """Within the block, the first Ctrl-C only raises a flag so the loop can save and stop after
    the current step; a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.is_set = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.is_set:
            raise KeyboardInterrupt
        self.is_set = True
        tqdm.write("Ctrl-C: saving the resume state after this step (press again to abort now)")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# --- command line -----------------------------------------------------------------------------
def add_arguments(parser):
    parser.add_argument("--data", help="dataset folder (dataset.json); default with --resume: "
                                       "the run's own data folder")
    parser.add_argument("--out", required=True, help="run directory for checkpoints and logs")
    parser.add_argument("--config", help="TOML file of TrainConfig fields (see configs/)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, help="passes over the training frames")
    length.add_argument("--steps", type=int, help="optimiser steps (overrides epochs)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cpu")
    parser.add_argument("--minutes", type=float, dest="data_minutes", metavar="M",
                        help="train on the dataset's first takes holding M minutes of audio "
                             "(a smaller `a2f synth` set of the same seed; default: all)")
    parser.add_argument("--init", metavar="CKPT",
                        help="start from this checkpoint's network instead of a fresh one "
                             "(a second training stage, or fine-tuning on new captures)")
    parser.add_argument("--seed", type=int, help="overrides the config's seed")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="overrides one config field (a TOML value), e.g. "
                             "--set contact_loss=1.0; repeatable")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run in --out exactly where it stopped")


def run(args) -> int:
    overrides = {"device": args.device, "epochs": args.epochs, "steps": args.steps,
                 "init": args.init, "seed": args.seed, "data_minutes": args.data_minutes,
                 **dict(parse_setting(text) for text in args.set)}
    if args.epochs is not None:
        overrides["steps"] = 0
    changed = args.config or any(v is not None for v in overrides.values())
    if args.resume and changed:
        raise A2FError("--resume continues with the run's saved config; drop --config, "
                       "--epochs, --steps, --minutes, --device, --init, --seed and --set")
    config = None if args.resume else load_config(args.config, **overrides)
    data = args.data
    if data is None:
        if not args.resume:
            raise A2FError("--data DIR is required (a dataset folder with dataset.json)")
        data = RunDir(args.out, resume=True).read_config()["data"]
    result = train(config, data, args.out, resume=args.resume)
    if not result.is_main:
        return 130 if result.interrupted else 0
    if result.interrupted:
        print(f"stopped at step {result.step}/{result.total_steps}; continue with "
              f"a2f train --out {args.out} --resume")
        return 130
    best = "n/a" if math.isinf(result.best_val) else f"{result.best_val:.5g}"
    print(f"{args.out}: {result.step} steps, {result.frames_per_second:.0f} frames/s, "
          f"best val position {best}")
    return 0


def main(argv=None) -> int:
    """`python -m training.train ...`, the entry point torchrun launches on every rank."""
    from a2f_core.cli.main import main as cli_main
    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
