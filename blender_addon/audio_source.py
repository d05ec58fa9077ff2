"""Where a bake's audio comes from and which scene frames it animates.

A sound strip's keys go on every whole scene frame of its visible range, each showing the audio
at the time core.timing gives it, less offset_ms / 1000. An audio file plays from the scene's
start frame (or a given one). A positive offset_ms makes the face lag.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from . import compat
from .core import audio, errors, features, limits, timing
from .core import A2FError


@dataclass(frozen=True)
class AudioClip:
    """Audio and the scene frames it animates."""

    name: str             # the sound's name; the bake's action is named after it
    samples: np.ndarray   # (N,) float32 mono 16 kHz, at least up to the last keyed frame
    fps: float            # scene frames per second (render.fps / render.fps_base)
    frame_first: int      # first keyed scene frame
    frame_count: int      # keyed frames: frame_first .. frame_first + frame_count - 1
    start_seconds: float  # audio time shown at frame_first

    @property
    def frames(self) -> np.ndarray:
        """(T,) float64 scene frames that get keys."""
        return self.frame_first + np.arange(self.frame_count, dtype=np.float64)


scene_fps = timing.scene_fps


def clip_from_strip(scene, strip, offset_ms: float = 0.0) -> AudioClip:
    """The clip a sound strip plays, keyed over the strip's visible frame range."""
    fps = scene_fps(scene)
    first = int(strip.frame_final_start)
    start = timing.strip_start_seconds(strip, fps) - offset_ms / 1000.0
    samples = read_strip(strip)
    return _clip(strip.name, samples, fps, first, int(strip.frame_final_end) - first, start)


def clip_from_file(scene, path, offset_ms: float = 0.0, frame_first=None) -> AudioClip:
    """The clip of an audio file played from frame_first (default: the scene's start frame)."""
    fps = scene_fps(scene)
    first = scene.frame_start if frame_first is None else int(frame_first)
    samples = read_file(path)
    start = -offset_ms / 1000.0
    count = features.frame_count(len(samples) / audio.SAMPLE_RATE - start, fps)
    return _clip(Path(path).stem, samples, fps, first, count, start)


def read_file(path) -> np.ndarray:
    """(N,) float32 mono 16 kHz: Blender's own decoder (any format it plays) where present."""
    path = bpy.path.abspath(str(path))
    if not compat.has_audaspace():
        return audio.load_audio(path)
    audio.check_readable(path)
    return _decode(path, path)


def read_strip(strip) -> np.ndarray:
    """(N,) float32 mono 16 kHz samples of a sound strip's sound (packed sounds included)."""
    sound = strip.sound
    if sound is None:
        raise A2FError(f"sound strip '{strip.name}' has no sound; pick another strip")
    path = bpy.path.abspath(sound.filepath, library=sound.library)
    if not sound.packed_file and not os.path.isfile(path):
        raise errors.AudioError(f"sound strip '{strip.name}' points at a missing file "
                               f"{sound.filepath}; relink it in the Sequencer")
    if not compat.has_audaspace():
        return audio.load_audio(path)
    if not sound.packed_file:
        audio.check_readable(path, f"the file {path} of sound strip '{strip.name}'")
    return _decode(path, f"sound strip '{strip.name}'", sound)


def _decode(path: str, source: str, sound=None) -> np.ndarray:
    try:
        factory = compat.open_sound(path, sound)
    except Exception as e:  # aud raises plain Exception subclasses with C messages
        raise errors.AudioError(f"Blender cannot decode {source}: {e}") from None
    # the file's own rate, checked as a2f infer checks it: a header claiming 1 Hz would be
    # resampled into days of audio
    limits.check_sample_rate(factory.specs[0], source, errors.AudioError)
    try:
        samples = compat.decode_sound(factory, audio.SAMPLE_RATE)
    except Exception as e:
        raise errors.AudioError(f"Blender cannot decode {source}: {e}") from None
    return audio.prepare(samples, audio.SAMPLE_RATE, source=source)


def _clip(name, samples, fps, first, count, start_seconds) -> AudioClip:
    if count <= 0:
        raise A2FError(f"'{name}' covers no frames; check the strip's length and the offset")
    needed = math.ceil((start_seconds + count / fps) * audio.SAMPLE_RATE)
    if len(samples) < needed:  # frames past the sound's end see silence
        samples = np.concatenate([samples, np.zeros(needed - len(samples), np.float32)])
    return AudioClip(name, samples, fps, first, count, start_seconds)


def show_in_scene(scene, clip: AudioClip, path, add_strip: bool = True, extend_range: bool = True):
    """After a file bake: its sound as a strip at the bake's first frame (unless one already
    plays that file there, or Blender lacks Audaspace) and a frame range that covers it."""
    if add_strip and compat.has_audaspace():
        path = bpy.path.abspath(str(path))
        playing = any(s.frame_start == clip.frame_first and s.sound is not None
                      and bpy.path.abspath(s.sound.filepath) == path for s in compat.sound_strips(scene))
        if not playing:
            channels = [s.channel for s in compat.sound_strips(scene)]
            compat.new_sound_strip(scene, clip.name, path, max(channels, default=0) + 1, clip.frame_first)
    if extend_range:
        scene.frame_end = max(scene.frame_end, clip.frame_first + clip.frame_count - 1)
