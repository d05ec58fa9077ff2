"""Replacing a file in one piece: a reader sees the old content or the new, never half of one."""

import os
import secrets
from pathlib import Path

from .errors import A2FError

MAX_NAME = 255  # bytes in a file name on ext4, XFS and btrfs


def atomic_write(path, writer, error=A2FError, what=""):
    """Call writer(f) on a new binary file beside `path`, then rename it over `path`.

    The new file is created as open(path, "wb") would create it, with the umask's permissions
    (usually readable by all), not mkstemp's owner-only 0600: checkpoints and exports live in
    folders a studio shares. On failure the old file is untouched, the new one removed, and
    `error` raised with a one-line message; `what` names the file in it ("checkpoint ").
    """
    path = Path(path)
    if not path.parent.is_dir():
        state = "is not a folder" if path.parent.exists() else "does not exist"
        raise error(f"cannot write {what}{path}: {path.parent} {state}")
    # ".NAME.XXXXXXXX.tmp" is 14 bytes longer than NAME: cut NAME so that a legal output name
    # (up to MAX_NAME bytes) always has a legal temporary name
    stem = os.fsdecode(os.fsencode(path.name)[:MAX_NAME - 14])
    tmp = path.parent / f".{stem}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
    except OSError as e:
        raise error(f"cannot write {what}{path}: {e.strerror or e}; choose a folder you can "
                    "write to") from None
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # disk full, quota, I/O error
        tmp.unlink(missing_ok=True)
        raise error(f"cannot write {what}{path}: {e.strerror or e}; any existing file there is "
                    "unchanged, free some space or choose another path") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
