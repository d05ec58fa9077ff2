"""tests/blender run under the .venv-bpy-4.2/4.5/5.0 venvs (`make test-blender`), where the
PyPI bpy module stands in for Blender; in any other Python there is nothing to collect here."""

import importlib.util
from pathlib import Path

import pytest

if importlib.util.find_spec("bpy") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    from bpy_fixtures import *  # noqa: F401,F403  (fixtures and hooks)


def pytest_collection_modifyitems(items):
    """Every test here needs Blender: `-m "not blender"` leaves them out."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.blender)
