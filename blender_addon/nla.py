"""Bakes as NLA strips over the animator's own animation, which keeps playing.

The stack, bottom to top: the animator's own tracks; their active action, moved onto a track of
its own named after it (it played above their tracks, so it keeps that place, with its blend
mode and extrapolation); then one track per bake, named "a2f: AUDIO (EMOTION)". A bake's strip
overrides (REPLACE) or adds to (ADD) the channels it keys and leaves every other channel to the
animation below; outside its frames it does nothing. Baking the same audio and emotion again
replaces the strip on that track only, and drops the old bake's action once nothing uses it.
"""

import bpy

from . import compat

TRACK_PREFIX = "a2f: "
BLEND_MODES = (('REPLACE', "Override", "The bake's channels replace the animation below"),
               ('ADD', "Add", "The bake's channels are added to the animation below"))
_MAX_NAME = 63  # Blender's name length; longer names are cut, and then never found again


def track_name(audio: str, emotion: str) -> str:
    return f"{TRACK_PREFIX}{audio} ({emotion})"[:_MAX_NAME]


def place(id_data, action, slot, name: str, frame_start: int, blend_type: str = 'REPLACE'):
    """Play action from frame_start on the track called name, over id_data's animation."""
    anim = id_data.animation_data or id_data.animation_data_create()
    keep_active_action_playing(anim)
    track = anim.nla_tracks.get(name)
    if track is None:
        track = anim.nla_tracks.new()
        track.name = name
    for old in list(track.strips):
        old_name = old.action.name if old.action is not None else None
        if _remove_strip(track, old) and old_name:
            action.name = old_name  # the new bake takes the name the old one gave up
    strip = compat.new_nla_strip(track, action.name, frame_start, action, slot)
    strip.blend_type = blend_type
    strip.extrapolation = 'NOTHING'
    return strip


def keep_active_action_playing(anim):
    """Move the animator's active action onto a new top track, playing as it did."""
    action = anim.action
    if action is None:
        return
    slot = compat.active_action_slot(anim)
    track = anim.nla_tracks.new()
    track.name = action.name[:_MAX_NAME]
    start = action.frame_range[0]
    strip = compat.new_nla_strip(track, action.name, int(start), action, slot)
    shift = start - strip.frame_start  # strips start on whole frames; keys may not (1.5)
    strip.frame_end += shift  # end first, so that moving the start keeps the strip's length
    strip.frame_start += shift
    strip.blend_type = anim.action_blend_type
    strip.extrapolation = anim.action_extrapolation
    if anim.action_influence < 1.0:
        strip.influence = anim.action_influence  # first: animating it keys the value it has
        strip.use_animated_influence = True
    anim.action = None


def bake_strips(id_data) -> list:
    """The strips a2f's bakes put on id_data's NLA, bottom track first."""
    anim = id_data.animation_data
    if anim is None:
        return []
    return [s for t in anim.nla_tracks if t.name.startswith(TRACK_PREFIX) for s in t.strips]


def latest_bake_fcurves(id_data) -> list:
    """The F-curves of the top a2f strip (the latest new bake), or [] without one."""
    strips = bake_strips(id_data)
    return compat.strip_fcurves(strips[-1]) if strips else []


def _remove_strip(track, strip) -> bool:
    """Remove strip, and its action when nothing else uses it; True if the action went."""
    action = strip.action
    track.strips.remove(strip)
    if action is not None and action.users == 0:
        bpy.data.actions.remove(action)
        return True
    return False
