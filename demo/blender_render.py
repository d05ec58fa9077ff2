"""Rendering the baked scene (bpy): contact-sheet stills and the preview video with sound.

Runs after the .blend is saved, so the fast mode's smaller size and shorter range never reach
the file the user opens.
"""

from pathlib import Path

import bpy


def shrink(scene, percentage: int, frame_count: int):
    """Fast mode: a fraction of the resolution, only the first frame_count frames, no stamp
    (its text keeps its size in pixels and would cover a thumbnail)."""
    scene.render.resolution_percentage = percentage
    scene.render.use_stamp = False
    scene.frame_end = min(scene.frame_end, scene.frame_start + frame_count - 1)


def video(scene, path: Path):
    """The scene's frame range as H.264 + AAC (the file's output settings) at path."""
    scene.render.filepath = str(path)
    bpy.ops.render.render(animation=True)


def stills(scene, frames, folder: Path) -> list:
    """One PNG per scene frame in frames, in folder; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    scene.render.image_settings.file_format = "PNG"
    paths = []
    for frame in frames:
        scene.frame_set(frame)
        scene.render.filepath = str(folder / f"frame_{frame:04d}.png")
        bpy.ops.render.render(write_still=True)
        paths.append(Path(scene.render.filepath))
    return paths
