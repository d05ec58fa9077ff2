"""Files a2f writes replace the old ones in one piece and get the permissions of a plain open():
checkpoints, exports and run files are shared between the users of a studio's folders."""

import os
import stat

import numpy as np
import pytest

from a2f_core.arkit import ARKIT_NAMES
from a2f_core.atomic import atomic_write
from a2f_core.checkpoint import random_checkpoint
from a2f_core.export import write_animation
from training.run_dir import RunDir


@pytest.fixture(params=[0o022, 0o077])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_follow_the_umask(tmp_path, umask):
    expected = 0o666 & ~umask
    random_checkpoint(tmp_path / "model.safetensors")
    write_animation(tmp_path / "take.csv", np.zeros((3, len(ARKIT_NAMES))), 30.0, ARKIT_NAMES)
    run = RunDir(tmp_path / "run", resume=False)
    run.write_config({"steps": 1})
    run.save_resume({"step": 1})
    for path in (tmp_path / "model.safetensors", tmp_path / "take.csv",
                 run.file("config.json"), run.file("resume.pt")):
        assert _mode(path) == expected, path


def test_a_failing_writer_keeps_the_old_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "take.json"
    path.write_text("the good one")

    def fails_half_way(f):
        f.write(b"half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, fails_half_way)
    assert path.read_text() == "the good one" and list(tmp_path.iterdir()) == [path]
