"""Shape-key name matching, without Blender (blender_addon.name_matching imports no bpy)."""

import pytest

from a2f_core.arkit import ARKIT_NAMES
from blender_addon.name_matching import match_channels, name_key


@pytest.mark.parametrize("spelling", [
    "mouthSmileLeft", "MouthSmileLeft", "mouthSmile_L", "mouth_smile_left", "mouthSmile.L",
    "A_mouthSmileLeft", "Mouth.mouthSmile_L", "blendShape1.mouthSmileLeft", "L_mouthSmile",
    "MOUTH SMILE LEFT", "mouthSmileL",
])
def test_common_spellings_match_the_arkit_name(spelling):
    mapping, unmatched = match_channels(["mouthSmileLeft", "mouthSmileRight"], [spelling])
    assert mapping == {"mouthSmileLeft": spelling}
    assert unmatched == ["mouthSmileRight"]


def test_sides_are_not_confused():
    keys = ["eyeBlink_R", "eyeBlink_L"]
    mapping, unmatched = match_channels(["eyeBlinkLeft", "eyeBlinkRight"], keys)
    assert mapping == {"eyeBlinkLeft": "eyeBlink_L", "eyeBlinkRight": "eyeBlink_R"}
    assert unmatched == []


def test_exact_spelling_beats_a_prefix_stripped_one():
    mapping, _ = match_channels(["jawOpen"], ["Face.jawOpen", "jawOpen"])
    assert mapping == {"jawOpen": "jawOpen"}


def test_a_prefix_is_only_stripped_at_a_separator():
    # 'Open' is a suffix of 'jawOpen' but not after a separator: no match for channel 'open'.
    mapping, unmatched = match_channels(["open"], ["jawOpen"])
    assert mapping == {} and unmatched == ["open"]
    mapping, _ = match_channels(["open"], ["jaw.Open"])
    assert mapping == {"open": "jaw.Open"}


def test_a_bare_side_segment_is_never_a_name():
    assert match_channels(["L"], ["mouth_L"]) == ({}, ["L"])
    assert match_channels(["L"], ["mouth_L", "L"]) == ({"L": "L"}, [])  # a whole name


def test_each_shape_key_drives_one_channel():
    mapping, unmatched = match_channels(["jawOpen", "JawOpen"], ["jaw_open"])
    assert mapping == {"jawOpen": "jaw_open"} and unmatched == ["JawOpen"]


def test_overrides_win_and_can_leave_a_channel_out():
    keys = ["jawOpen", "MouthOpen", "tongueOut"]
    overrides = {"jawOpen": "MouthOpen", "tongueOut": ""}
    mapping, unmatched = match_channels(["jawOpen", "tongueOut"], keys, overrides)
    assert mapping == {"jawOpen": "MouthOpen"}
    assert unmatched == ["tongueOut"]


def test_override_to_a_missing_key_falls_back_to_unmatched_not_to_auto():
    mapping, unmatched = match_channels(["jawOpen"], ["jawOpen"], {"jawOpen": "Gone"})
    assert mapping == {} and unmatched == ["jawOpen"]


def test_all_52_arkit_names_survive_a_prefixed_rig():
    keys = ["Basis_like_other"] + [f"A_{n[:1].upper()}{n[1:]}" for n in ARKIT_NAMES]
    mapping, unmatched = match_channels(list(ARKIT_NAMES), keys)
    assert unmatched == [] and len(set(mapping.values())) == 52


def test_name_keys_are_distinct_for_every_arkit_name():
    assert len({name_key(n) for n in ARKIT_NAMES}) == 52
