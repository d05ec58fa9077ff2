"""The numpy-only a2f core, wherever it lives.

The built zip vendors it as a subpackage (`<add-on>/a2f_core`, copied by build_addon.py); in the
source tree (tests, `python blender_addon/batch.py`) the top-level `a2f_core` next to this
package is used instead, so the core is never duplicated in the repository.
"""

import importlib
import importlib.util

_VENDORED = f"{__package__}.a2f_core"
_NAME = _VENDORED if importlib.util.find_spec(_VENDORED) is not None else "a2f_core"

errors = importlib.import_module(f"{_NAME}.errors")
A2FError = errors.A2FError

_MODULES = ("alive", "arkit", "audio", "checkpoint", "contact", "emotions", "features", "infer",
            "limits", "models", "retarget", "timing", "topology")


def __getattr__(name):
    """`core.infer` etc. import on first use, so registering the add-on loads none of them."""
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = globals()[name] = importlib.import_module(f"{_NAME}.{name}")
    return module
