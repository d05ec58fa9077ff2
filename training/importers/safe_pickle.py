"""Reading published pickles (VOCASET, FLAME masks) without letting them run code.

A pickle can call any importable function while it loads, so `pickle.load` on a downloaded file
is code execution. These datasets only ever hold dicts, lists, strings, numbers and numpy arrays,
so the unpickler resolves exactly the globals that rebuild those and refuses every other name
before anything is called. Python 2 pickles (protocol 2, `__builtin__` names, byte strings) are
read with latin1, the encoding numpy documents for them.
"""

import codecs
import pickle
from pathlib import Path

import numpy as np

from a2f_core.errors import DatasetError

try:  # numpy >= 2 moved numpy.core to numpy._core; pickles name either
    from numpy._core import multiarray as _multiarray, numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x (Blender's Python)
    from numpy.core import multiarray as _multiarray, numeric as _numeric


def _latin1_encode(text, encoding="latin1"):
    """Python 3 writes bytes into protocol-2 pickles as `_codecs.encode(text, 'latin1')`; only
    that codec is allowed, so the name cannot reach other codecs."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return codecs.encode(text, "latin1")


_ARRAY_GLOBALS = {  # (module under numpy.core / numpy._core, name) -> what rebuilds arrays
    ("multiarray", "_reconstruct"): _multiarray._reconstruct,  # ndarray pickles, protocols 0-4
    ("multiarray", "scalar"): _multiarray.scalar,              # numpy scalars: np.int64(22000)
    ("numeric", "_frombuffer"): _numeric._frombuffer,          # ndarray pickles, protocol 5
}
ALLOWED = {  # find_class sees the names as written: Python 2 spells builtins "__builtin__"
    **{(module, name): value for module in ("builtins", "__builtin__")
       for name, value in (("set", set), ("frozenset", frozenset), ("complex", complex))},
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
    **{(f"numpy.{core}.{module}", name): function for core in ("core", "_core")
       for (module, name), function in _ARRAY_GLOBALS.items()},
}


class UnsafePickleError(DatasetError):
    """A pickle that names something other than containers, numbers, strings or numpy arrays."""


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, path):
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self.path}: refused to load: the pickle names {module}.{name}, but only "
                "containers, numbers, strings and numpy arrays are allowed; the file is not a "
                "plain data pickle (corrupt or hostile), nothing in it was run") from None

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.path}: refused to load: persistent ids are not allowed")


def load(path):
    """The object stored in the pickle file at path, built from allowed types only."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} not found")
    with open(path, "rb") as f:
        try:
            return _Unpickler(f, path).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
                AttributeError, UnicodeDecodeError, MemoryError) as e:
            raise DatasetError(f"{path}: not a readable pickle ({type(e).__name__}: {e}); "
                               "download the file again") from None
