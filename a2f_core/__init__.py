"""a2f core: audio features, the Karras 2017 network in numpy, lip contact and safe checkpoints.

Nothing here imports bpy; only the torch/ subpackage imports torch (for training and tests), and
cli/ is the `a2f` command. The add-on vendors the rest. The version below is the one place it is
written (pyproject.toml and build_addon.py read it).
"""

__version__ = "0.1.0"
