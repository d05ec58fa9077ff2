"""The numpy-only a2f core, wherever it lives.

The built zip vendors it as a subpackage (`<add-on>/a2f_core`, copied by build_addon.py); in the
source tree (tests, `python blender_addon/batch.py`) the top-level `a2f_core` next to this
package is used instead, so the core is never duplicated in the repository.
"""

import importlib
import importlib.util

_VENDORED = f"{__package__}.a2f_core"
_NAME = _VENDORED if importlib.util.find_spec(_VENDORED) is not None else "a2f_core"

arkit = importlib.import_module(f"{_NAME}.arkit")
audio = importlib.import_module(f"{_NAME}.audio")
checkpoint = importlib.import_module(f"{_NAME}.checkpoint")
emotions = importlib.import_module(f"{_NAME}.emotions")
errors = importlib.import_module(f"{_NAME}.errors")
features = importlib.import_module(f"{_NAME}.features")
infer = importlib.import_module(f"{_NAME}.infer")
models = importlib.import_module(f"{_NAME}.models")

A2FError = errors.A2FError
