"""Which audio time a Blender scene frame shows; plain attribute reads, so no bpy import.

A sound strip plays its sound from `frame_start` (the content start, before trimming), skipping
`animation_offset_start` frames and `sound_offset` seconds of it, inside the visible range
`frame_final_start .. frame_final_end`. Scene frame f shows the sound at

    (f - frame_start + animation_offset_start) / fps + sound_offset

with fps = render.fps / render.fps_base, so 23.976 and 29.97 scenes are exact. The add-on bakes
and `a2f import blend` records takes by this one rule, so a scene round-trips.
"""


def scene_fps(scene) -> float:
    """Frames per second of a bpy scene (render.fps / render.fps_base)."""
    return scene.render.fps / scene.render.fps_base


def sound_offset_seconds(strip) -> float:
    """Seconds of the sound skipped at the strip's content start (`sound_offset`, Blender 4.1+)."""
    return float(getattr(strip, "sound_offset", 0.0))


def strip_start_seconds(strip, fps: float) -> float:
    """The sound's time at the strip's first visible frame, `frame_final_start`."""
    return ((int(strip.frame_final_start) - strip.frame_start + strip.animation_offset_start) / fps
            + sound_offset_seconds(strip))
