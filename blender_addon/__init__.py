"""a2f: audio-driven facial animation (Karras et al. 2017) for Blender.

Installs as an extension (blender_manifest.toml) or as a legacy add-on (bl_info); build_addon.py
writes a2f_core's version into both. Importing this package loads nothing else, so Blender
starts fast and the bpy-free helpers (name_matching) import outside Blender; register() imports
the rest. "Reload Scripts" re-runs
this file, which drops the old submodules so register() imports fresh copies.
"""

import importlib
import sys

bl_info = {
    "name": "a2f: Audio to Face",
    "author": "a2f contributors",
    "blender": (4, 2, 0),
    "location": "View3D > Sidebar > a2f",
    "description": "Animate a face's shape keys or vertices from speech audio",
    "category": "Animation",
}

for _name in [m for m in sys.modules if m.startswith(f"{__name__}.")]:
    del sys.modules[_name]

_MODULES = ("preferences", "life_properties", "properties", "operators", "panel", "life_panel")


def _modules():
    return [importlib.import_module(f".{name}", __name__) for name in _MODULES]


def register():
    import bpy

    for module in _modules():
        for cls in getattr(module, "classes", ()):
            bpy.utils.register_class(cls)
        if hasattr(module, "register"):
            module.register()


def unregister():
    import bpy

    for module in reversed(_modules()):
        if hasattr(module, "unregister"):
            module.unregister()
        for cls in reversed(getattr(module, "classes", ())):
            bpy.utils.unregister_class(cls)
