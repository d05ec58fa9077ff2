"""Importers that turn real capture data into the native dataset layout (docs/importers.md).

vocaset (FLAME meshes), livelink (Live Link Face CSV) and blend (animated Blender scenes) each
check their input and write a dataset that `a2f train` and `a2f eval` read unchanged. numpy only:
blend_scene.py also runs inside Blender's Python, which has no torch, soundfile or soxr.
"""
