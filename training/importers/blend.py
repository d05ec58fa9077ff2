"""`a2f import blend FILE.blend --object Face --out DIR`: hands the work to a Python with bpy.

The a2f command's Python has no `bpy`, so this starts training/importers/blend_scene.py in one:
--blender-python PATH (or $A2F_BLENDER_PYTHON: a Python with the PyPI bpy module), else
--blender PATH (or `blender` on PATH) in background mode; where this Python has bpy it runs here.
"""

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

from a2f_core.errors import A2FError
from . import blend_scene

SCRIPT = Path(blend_scene.__file__).resolve()


def add_arguments(parser) -> None:
    blend_scene.add_arguments(parser)
    parser.add_argument("--blender-python", default=os.environ.get("A2F_BLENDER_PYTHON"),
                        help="a Python with the bpy module (default: $A2F_BLENDER_PYTHON)")
    parser.add_argument("--blender", help="Blender executable (default: `blender` on PATH)")


def run(args) -> int:
    argv = blend_scene.argv_of(args)
    if args.blender_python:
        command = [args.blender_python, str(SCRIPT), *argv]
    elif args.blender or shutil.which("blender"):
        command = [args.blender or shutil.which("blender"), "-b", "--factory-startup",
                   "--python", str(SCRIPT), "--", *argv]
    elif importlib.util.find_spec("bpy") is not None:
        blend_scene.import_blend(args)
        return 0
    else:
        raise A2FError("reading .blend files needs Blender: pass --blender PATH, put `blender` "
                       "on PATH, or pass --blender-python with a Python that has "
                       "`pip install bpy` (e.g. .venv-bpy-4.5/bin/python)")
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL).returncode
    except OSError as e:
        raise A2FError(f"cannot start {command[0]}: {e.strerror or e}") from None
