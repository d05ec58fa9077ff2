"""Every knob of a training run in one dataclass, loadable from TOML and saved with the run.

Defaults are the Karras et al. 2017 recipe; `configs/*.toml` hold named presets.
"""

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from a2f_core.config import ModelConfig
from a2f_core.errors import A2FError


MODEL_KEYS = ("emotion_dim", "formant_channels", "articulation_channels", "hidden_size")


@dataclass(frozen=True)
class TrainConfig:
    # --- length of training: exactly one of epochs / steps is used (steps wins when set) ---
    epochs: float = 300.0          # passes over the training frames (paper: hundreds of epochs)
    steps: int = 0                 # optimiser steps; 0 means derive from epochs
    # --- minibatches: short runs of consecutive frames share one formant pass ---
    run_frames: int = 26           # R consecutive frames per run; R - 1 adjacent pairs per run
    batch_runs: int = 2            # runs per minibatch per process: 2 x 25 = 50 pairs (paper: 50)
    time_shift_frames: float = 0.5  # each run is shifted by U[-s, s) frames, targets interpolated
    # --- model: the network's shape, set by the flat keys MODEL_KEYS (emotion_dim, the E of the
    # learned emotion vector; formant_channels and articulation_channels, the conv widths, shrunk
    # only for tests; hidden_size, the first output layer's width = PCA components kept). The
    # defaults are the paper's network; the dataset sets its output kind and size (model_config).
    model: ModelConfig = field(default_factory=ModelConfig)
    emotion_init_std: float = 0.01  # std of the Gaussian init of the per-frame emotion table
    emotion_init: str = "random"   # 'random' (paper) or 'label': takes sharing an emotion label
                                   # start from one shared random unit vector (neutral: zero)
    standardize_outputs: bool = False  # position and motion losses on targets divided by each
                                   # output value's std (floored at a quarter of the RMS std), so
                                   # small but vital channels (mouthClose) count; paper: False
    emotion_lr_scale: float = 1.0  # lr multiplier for the emotion table; each row is updated
                                   # only when its frames are drawn, so few epochs barely move it
    closure_weight: float = 1.0    # position-loss weight of frames whose target lips touch
                                   # (training/lip_contact/shut_lips.py): bilabials are ~2% of
                                   # frames. Paper: 1.0
    contact_loss: float = 0.0      # weight of a fourth, normalised loss term: a logistic unit on
                                   # the hidden layer telling the frames whose target lips touch
                                   # (needs the same channels as closure_weight). Paper: 0 (none)
    position_power: float = 2.0    # exponent of the position error: 2 (paper) fits the mean pose
                                   # given the audio, 1 its median, which commits to a mode
    noise_base: float = 1.4        # feature maps times noise_base ** N(0, 1) in training (paper:
                                   # 1.4, for hundreds of epochs); 1.0 turns the noise off
    # --- optimiser: Adam with ramp-up and smooth ramp-down ---
    learning_rate: float = 1e-3    # peak learning rate
    adam_beta1: float = 0.9        # Adam first-moment decay
    adam_beta2: float = 0.99       # Adam second-moment decay (paper: 0.99, not torch's 0.999)
    adam_eps: float = 1e-8         # Adam epsilon
    rampup_fraction: float = 0.05  # first part of training where lr rises as exp(-5 (1 - t)^2)
    rampdown_fraction: float = 0.3  # last part of training where lr falls as a half cosine to 0
    # --- data and start ---
    data_minutes: float = 0.0      # train and validate on the dataset's first takes holding this
                                   # much audio (0: all): a prefix of an `a2f synth` set is the set
                                   # that many minutes of the same seed make, so stages of training
                                   # on growing prefixes share one folder
    init: str = ""                 # checkpoint whose network (and emotion table, when trained on
                                   # the same takes) replaces the PCA-initialised start: a second
                                   # stage of training, or fine-tuning a model on new captures
    # --- bookkeeping ---
    val_every: int = 500           # steps between validations on the held-out split
    checkpoint_every: int = 500    # steps between last/best checkpoints and resume states
    log_every: int = 50            # steps between stats.jsonl / TensorBoard records
    seed: int = 0                  # all randomness (init, batches, shifts, noise) derives from it
    device: str = "cpu"            # 'cpu' or 'cuda' (torchrun picks cuda:LOCAL_RANK)

    def __post_init__(self):
        problems = [
            (self.run_frames < 2, "run_frames must be at least 2 (one adjacent pair)"),
            (self.batch_runs < 1, "batch_runs must be at least 1"),
            (not 0 <= self.time_shift_frames <= 0.5, "time_shift_frames must be in [0, 0.5]"),
            (self.steps < 0 or self.epochs < 0, "steps and epochs must not be negative"),
            (self.data_minutes < 0, "data_minutes must not be negative (0: the whole dataset)"),
            (self.steps == 0 and self.epochs == 0, "set steps or epochs above 0"),
            (not 0 <= self.rampup_fraction + self.rampdown_fraction <= 1,
             "rampup_fraction + rampdown_fraction must lie in [0, 1]"),
            (min(self.val_every, self.checkpoint_every, self.log_every) < 1,
             "val_every, checkpoint_every and log_every must be at least 1"),
            (self.emotion_init not in ("random", "label"),
             f"emotion_init must be 'random' or 'label', not {self.emotion_init!r}"),
            (self.emotion_lr_scale <= 0, "emotion_lr_scale must be positive"),
            (self.closure_weight < 1.0, "closure_weight must be at least 1.0 (1.0: the paper)"),
            (self.contact_loss < 0, "contact_loss must not be negative (0: none, the paper)"),
            (not 1.0 <= self.position_power <= 2.0, "position_power must lie in [1, 2]"),
            (self.noise_base < 1.0, "noise_base must be at least 1.0 (1.0: no noise)"),
            (self.device not in ("cpu", "cuda"), f"device must be 'cpu' or 'cuda', not {self.device!r}"),
        ]
        for bad, message in problems:
            if bad:
                raise A2FError(f"training config: {message}")

    def model_config(self, output_kind: str, output_size: int) -> ModelConfig:
        """The network shape for a dataset with `output_size` values per frame."""
        return replace(self.model, output_kind=output_kind, output_size=output_size)

    def total_steps(self, steps_per_epoch: int) -> int:
        return self.steps or max(1, math.ceil(self.epochs * steps_per_epoch))

    def to_dict(self) -> dict:
        """Flat keys, as in TOML and `--set`: the model's MODEL_KEYS beside the others."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "model"}
        d.update({k: getattr(self.model, k) for k in MODEL_KEYS})
        d["formant_channels"] = list(self.model.formant_channels)
        return d

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """From flat keys (TOML, `--set`, a run's saved config): MODEL_KEYS go to `model`."""
        values = dict(values)
        shape = {k: values.pop(k) for k in MODEL_KEYS if k in values}
        return cls(**values, model=ModelConfig(**shape))

    def replace(self, **changes) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **changes})


def parse_setting(text: str) -> tuple:
    """'KEY=VALUE' with VALUE in TOML syntax (`contact_loss=1.0`, `device="cuda"`) -> (key, value);
    a bare word counts as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise A2FError(f"--set {text!r}: expected KEY=VALUE, e.g. contact_loss=1.0")
    try:
        return key.strip(), tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key.strip(), value.strip()


def load_config(path=None, **overrides) -> TrainConfig:
    """TrainConfig from a TOML file (flat keys, or under a [train] table) plus overrides."""
    values = {}
    if path is not None:
        path = Path(path)
        try:
            values = tomllib.loads(path.read_text())
        except OSError as e:
            raise A2FError(f"cannot read training config {path}: {e.strerror or e}") from None
        except tomllib.TOMLDecodeError as e:
            raise A2FError(f"training config {path} is not valid TOML: {e}") from None
        values = values.get("train", values)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(TrainConfig) if f.name != "model"} | set(MODEL_KEYS)
    unknown = sorted(set(values) - known)
    if unknown:
        raise A2FError(f"training config {path or ''}: unknown keys {unknown}; "
                       f"known keys are listed in docs/training.md")
    try:
        return TrainConfig.from_dict(values)
    except TypeError as e:
        raise A2FError(f"training config {path or ''}: {e}") from None
