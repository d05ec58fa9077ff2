"""Every Blender-version difference a2f touches, in one place, decided by features not versions.

- Audaspace (`aud`): absent from the PyPI `bpy` 4.2 build, so sound strips cannot be created
  there and audio files fall back to a2f_core's reader.
- Sequencer: `sequence_editor.strips` (4.4+) replaced `.sequences` (gone in 5.0).
- Actions: 4.4+ keys live in a slot's channelbag (layers -> keyframe strip -> channelbag) and
  must be assigned with a slot; `Action.fcurves` is the legacy API (removed in 5.0).
"""

import bpy
import numpy as np

try:
    import aud
except ImportError:  # PyPI bpy 4.2 is built without Audaspace
    aud = None


def has_audaspace() -> bool:
    """Whether Blender's audio library is available (decoding any format, sound strips)."""
    return aud is not None


def open_sound(path: str, sound=None):
    """An Audaspace sound of the file (or of a strip's bpy.types.Sound), opened: its `specs`
    (sample rate, channels) are the file's own.

    sound: a strip's sound; its loaded handle (`factory`, which also covers packed sounds) is
    used when Blender has one, which it lacks in background mode.
    """
    factory = sound.factory if sound is not None else None
    if factory is None:
        factory = aud.Sound(path)
    # Opening the file here raises aud.error for data no reader accepts; the same failure
    # inside .data() is a C++ exception that aborts the whole of Blender.
    factory.specs  # noqa: B018
    return factory


def decode_sound(factory, sample_rate: int):
    """(N,) float32 mono samples of an opened sound, resampled to sample_rate."""
    data = np.asarray(factory.resample(sample_rate, False).rechannel(1).data(), np.float32)
    return data.reshape(-1)


# --- sequencer ------------------------------------------------------------------------------

def _strips(sequence_editor, everywhere: bool):
    if everywhere:
        return getattr(sequence_editor, all_strips_attribute(sequence_editor))
    return sequence_editor.strips if hasattr(sequence_editor, "strips") else sequence_editor.sequences


def sound_strips(scene) -> list:
    """All sound strips of the scene's sequencer (inside meta strips too), by name."""
    if scene.sequence_editor is None:
        return []
    return sorted((s for s in _strips(scene.sequence_editor, True) if s.type == 'SOUND'),
                  key=lambda s: s.name)


def all_strips_attribute(sequence_editor) -> str:
    """Name of the sequencer's all-strips collection, for UI search fields."""
    return "strips_all" if hasattr(sequence_editor, "strips_all") else "sequences_all"


def find_sound_strip(scene, name: str):
    """The sound strip called name, or None."""
    return next((s for s in sound_strips(scene) if s.name == name), None)


def new_sound_strip(scene, name: str, filepath: str, channel: int, frame_start: int):
    """Add a sound strip (needs Audaspace: raises RuntimeError where Blender lacks it)."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    return _strips(editor, False).new_sound(name, filepath, channel, frame_start)


# --- actions --------------------------------------------------------------------------------

def uses_slots() -> bool:
    """Layered actions with slots (Blender 4.4+)."""
    return "slots" in bpy.types.Action.bl_rna.properties


def active_fcurves(id_data) -> list:
    """The F-curves id_data's active action animates it with (empty when it has none)."""
    anim = id_data.animation_data
    if anim is None or anim.action is None:
        return []
    return action_fcurves(anim.action, active_action_slot(anim))


def action_fcurves(action, slot) -> list:
    """The F-curves of action for slot (slot is None before 4.4)."""
    if not uses_slots():
        return list(action.fcurves)
    for layer in action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot) if slot else None
            if bag:
                return list(bag.fcurves)
    return []


def all_fcurves(action) -> list:
    """Every F-curve of action, whichever slot it is for (a pose action has one)."""
    if not uses_slots():
        return list(action.fcurves)
    return [fc for layer in action.layers for strip in layer.strips
            for bag in strip.channelbags for fc in bag.fcurves]


def strip_fcurves(strip) -> list:
    """The F-curves an NLA strip plays."""
    return action_fcurves(strip.action, strip.action_slot if uses_slots() else None)


def new_action(id_data, name: str):
    """An action for id_data that nothing uses yet; returns (action, slot, fcurves).

    slot is None before 4.4; fcurves is a slot's channelbag on 4.4+, the action itself before.
    """
    action = bpy.data.actions.new(name)
    if not uses_slots():
        action.id_root = id_data.id_type
        return action, None, action.fcurves
    slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
    strip = action.layers.new("Layer").strips.new(type='KEYFRAME')
    return action, slot, strip.channelbag(slot, ensure=True).fcurves


def active_action_slot(anim):
    """The slot the active action animates with (4.4+), else None."""
    return anim.action_slot if uses_slots() else None


def new_nla_strip(track, name: str, frame_start: int, action, slot):
    """An NLA strip playing action (through slot on 4.4+) from frame_start."""
    strip = track.strips.new(name, int(frame_start), action)
    if slot is not None:
        strip.action_slot = slot
    return strip
