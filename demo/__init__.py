"""`make demo`: a spoken line, a Blender scene baked with the default model, a preview.

`python -m demo` (this package's __main__) runs in the main venv: it speaks the line,
hands the Blender part to the bpy venv (blender_main.py, run by path there, because the PyPI bpy
module and torch do not share a venv) and draws the figures. Modules named blender_* import bpy;
the others never do.
"""
