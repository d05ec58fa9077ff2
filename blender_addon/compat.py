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


def decode_sound(path: str, sample_rate: int, sound=None):
    """(N,) float32 mono samples at sample_rate decoded by Audaspace, or None without it.

    sound: the bpy.types.Sound of a strip; its loaded handle (`factory`, which also covers
    packed sounds) is used when Blender has one, which it lacks in background mode.
    """
    if aud is None:
        return None
    factory = sound.factory if sound is not None else None
    if factory is None:
        factory = aud.Sound(path)
    # Opening the file here raises aud.error for data no reader accepts; the same failure
    # inside .data() is a C++ exception that aborts the whole of Blender.
    factory.specs  # noqa: B018
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


def assign_new_action(id_data, name: str):
    """Create an action, make it id_data's active one; returns (action, fcurves collection).

    The fcurves collection is a slot's channelbag on 4.4+, the action itself before.
    """
    action = bpy.data.actions.new(name)
    anim = id_data.animation_data or id_data.animation_data_create()
    if not uses_slots():
        action.id_root = id_data.id_type
        anim.action = action
        return action, action.fcurves
    slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
    anim.action = action
    anim.action_slot = slot
    layer = action.layers[0] if len(action.layers) else action.layers.new("Layer")
    strip = layer.strips[0] if len(layer.strips) else layer.strips.new(type='KEYFRAME')
    return action, strip.channelbag(slot, ensure=True).fcurves


def fcurves_beside(action, id_data):
    """F-curves animating id_data next to an action made by `assign_new_action` for other data:
    in that action, on a slot of id_data's own (4.4+), or before 4.4 (an action animates one
    kind of data) in a new action named after it. id_data's previous action keeps a fake user."""
    anim = id_data.animation_data or id_data.animation_data_create()
    if anim.action is not None and anim.action != action:
        anim.action.use_fake_user = True
    if not uses_slots():
        return assign_new_action(id_data, f"{action.name} {id_data.name}")[1]
    slot = action.slots.new(id_type=id_data.id_type, name=id_data.name)
    anim.action = action
    anim.action_slot = slot
    return action.layers[0].strips[0].channelbag(slot, ensure=True).fcurves


def active_fcurves(id_data) -> list:
    """The F-curves id_data's active action animates it with (empty when it has none)."""
    anim = id_data.animation_data
    if anim is None or anim.action is None:
        return []
    if not uses_slots():
        return list(anim.action.fcurves)
    slot = anim.action_slot
    for layer in anim.action.layers:
        for strip in layer.strips:
            bag = strip.channelbag(slot) if slot else None
            if bag:
                return list(bag.fcurves)
    return []


def push_to_nla(id_data, track_name: str):
    """Move id_data's active action into an NLA strip at the action's first frame.

    Strips go end to end on the track called track_name (created when missing); the slot the
    action was assigned with travels along on 4.4+.
    """
    anim = id_data.animation_data
    action = anim.action
    slot = anim.action_slot if uses_slots() else None
    track = anim.nla_tracks.get(track_name) or anim.nla_tracks.new()
    track.name = track_name
    strip = track.strips.new(action.name, int(action.frame_range[0]), action)
    if slot is not None:
        strip.action_slot = slot
    anim.action = None
    return strip


def sound_offset_seconds(strip) -> float:
    """Seconds of the sound skipped at the strip's content start (`sound_offset`, 4.1+)."""
    return float(getattr(strip, "sound_offset", 0.0))
