"""torchrun with 2 CPU processes (gloo): both ranks end with identical networks and tables."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from a2f_core.checkpoint import load_checkpoint
from training.toy_dataset import write_toy_dataset

pytestmark = pytest.mark.slow  # trains in two child processes

ROOT = Path(__file__).resolve().parents[1]
WORKER = """
import os, sys
import numpy as np
from training.train import train
from training.train_config import load_config
out, data, tiny = sys.argv[1:4]
rank = int(os.environ["RANK"])
result = train(load_config(tiny, steps=6, checkpoint_every=3, log_every=3, val_every=3), data, out)
np.savez(f"{out}/rank{rank}.npz", **result.tensors)
"""


def test_two_process_ddp_ranks_agree(tmp_path):
    write_toy_dataset(tmp_path / "data", takes=4, seconds=1.5)
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(worker), str(out), str(tmp_path / "data"),
         str(ROOT / "configs" / "tiny.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = np.load(out / "rank0.npz"), np.load(out / "rank1.npz")
    assert sorted(rank0.files) == sorted(rank1.files)
    # both ranks apply the same all-reduced gradients with the same code: bit for bit
    for name in rank0.files:
        np.testing.assert_array_equal(rank0[name], rank1[name], err_msg=name)
    saved = load_checkpoint(out / "last.safetensors")
    np.testing.assert_array_equal(saved.tensors["training.emotion_table"],
                                  rank0["training.emotion_table"])
    config = json.loads((out / "config.json").read_text())
    assert config["world_size"] == 2
    assert saved.meta["provenance"]["steps"] == 6
