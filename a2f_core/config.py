"""The network's shape, stored in every checkpoint so loading is `ModelConfig(**meta["config"])`."""

from dataclasses import asdict, dataclass, fields

from .audio import SAMPLE_RATE

OUTPUT_KINDS = ("weights", "vertices")


@dataclass(frozen=True)
class ModelConfig:
    output_kind: str = "weights"   # 'weights' (C named blendshape weights) or 'vertices' (3V offsets)
    output_size: int = 52          # C for weights, 3 * V for vertices
    emotion_dim: int = 16          # E, the learned emotion vector's length (paper: 16 or 24)
    sample_rate: int = 16000       # audio rate the front end expects, Hz
    frame_length: int = 256        # samples per audio frame (16 ms)
    hop_length: int = 128          # samples between audio frames (8 ms): the global feature grid
    window_frames: int = 64        # audio frames per network window (520 ms)
    lags: int = 32                 # K, autocorrelation lags per audio frame
    formant_channels: tuple = (72, 108, 162, 243, 256)  # formant analysis conv widths
    articulation_channels: int = 256  # articulation conv width
    hidden_size: int = 150         # width of the output network's first (linear) layer

    def __post_init__(self):
        """Refuse what the front end and the network cannot honour, before any array is made
        from it: a checkpoint's config is untrusted input."""
        if self.output_kind not in OUTPUT_KINDS:
            raise ValueError(f"output_kind must be one of {OUTPUT_KINDS}, not {self.output_kind!r}")
        if not isinstance(self.formant_channels, (list, tuple)) or len(self.formant_channels) < 2:
            raise ValueError("formant_channels must be a list of at least 2 widths")
        object.__setattr__(self, "formant_channels", tuple(self.formant_channels))
        for name, (low, high) in _INT_RANGES.items():
            values = getattr(self, name)
            for value in values if name == "formant_channels" else (values,):
                if type(value) is not int or not low <= value <= high:
                    raise ValueError(f"{name} must be a whole number from {low} to {high}, "
                                     f"got {value!r}")
        if self.output_kind == "vertices" and self.output_size % 3:
            raise ValueError(f"a vertex model's output_size must be 3 * V, got {self.output_size}")
        if self.sample_rate != SAMPLE_RATE:
            raise ValueError(f"sample_rate {self.sample_rate} Hz: a2f reads all audio at "
                             f"{SAMPLE_RATE} Hz, so this model's features cannot be computed")
        if self.lags != 2 ** len(self.formant_channels) or self.lags > self.frame_length:
            raise ValueError(f"lags must be 2 ** len(formant_channels) = "
                             f"{2 ** len(self.formant_channels)} and at most frame_length, "
                             f"got {self.lags}")
        if self.window_frames & (self.window_frames - 1):
            raise ValueError(f"window_frames must be a power of two, got {self.window_frames}")

    @property
    def window_samples(self) -> int:
        """Samples one network window sees: 8320 (520 ms) by default."""
        return (self.window_frames - 1) * self.hop_length + self.frame_length

    def to_dict(self) -> dict:
        d = asdict(self)
        d["formant_channels"] = list(self.formant_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        return cls(**d)


_INT_RANGES = {  # field -> (lowest, highest) accepted; far beyond any trained model
    "output_size": (1, 3_000_000), "emotion_dim": (1, 1024), "sample_rate": (1, 10**6),
    "frame_length": (16, 4096), "hop_length": (1, 4096), "window_frames": (32, 1024),
    "lags": (4, 4096), "formant_channels": (1, 4096), "articulation_channels": (1, 4096),
    "hidden_size": (1, 4096)}


def parameter_shapes(config: ModelConfig) -> dict:
    """Name -> shape of every network tensor; the torch model's state_dict uses the same names.

    Convolutions are stored as (out, in, kernel): the formant convs slide over autocorrelation lags
    of one audio frame, the articulation convs over the 64 audio frames of a window.
    """
    shapes = {}
    c_in = 1
    for i, c_out in enumerate(config.formant_channels):
        kernel = 3 if i < len(config.formant_channels) - 1 else 2
        shapes[f"formant.{i}.weight"] = (c_out, c_in, kernel)
        shapes[f"formant.{i}.bias"] = (c_out,)
        c_in = c_out
    width, e = config.articulation_channels, config.emotion_dim
    for i in range(articulation_layers(config)):
        last = i == articulation_layers(config) - 1
        shapes[f"articulation.{i}.weight"] = (width, c_in, 4 if last else 3)
        shapes[f"articulation.{i}.bias"] = (width,)
        c_in = width + e
    shapes["output.0.weight"] = (config.hidden_size, c_in)
    shapes["output.0.bias"] = (config.hidden_size,)
    shapes["output.1.weight"] = (config.output_size, config.hidden_size)
    shapes["output.1.bias"] = (config.output_size,)
    return shapes


def articulation_layers(config: ModelConfig) -> int:
    """Stride-2 convs halve the window until 4 frames remain, then one stride-4 conv: 5 for 64."""
    n, frames = 1, config.window_frames
    while frames > 4:
        frames //= 2
        n += 1
    return n
