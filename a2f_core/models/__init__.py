"""The bundled default models, shipped beside this file and inside the add-on zip."""

from pathlib import Path

from ..errors import CheckpointError

MODELS_DIR = Path(__file__).resolve().parent
DEFAULT_WEIGHTS = MODELS_DIR / "default_weights.safetensors"
DEFAULT_VERTICES = MODELS_DIR / "default_vertices.safetensors"


def default_checkpoint(kind: str = "weights") -> Path:
    """Path of the bundled model of that output kind; CheckpointError when none is bundled."""
    path = DEFAULT_WEIGHTS if kind == "weights" else DEFAULT_VERTICES
    if not path.is_file():
        raise CheckpointError(f"no bundled default {kind} model at {path}; pass --checkpoint "
                              "FILE (train one with 'a2f train' or build it with 'make models')")
    return path
