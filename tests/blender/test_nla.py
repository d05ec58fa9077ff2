"""Bakes play in NLA strips of their own over the animator's action, which keeps playing."""

import bpy
import pytest
from bpy_fixtures import HAS_AUD, make_mesh, write_wav

from blender_addon import compat, nla

# NLA blending of float32 values: REPLACE at influence 1 and ADD are each one float32 multiply-add
# per strip, so the evaluated value is within a few float32 ulps of 1.0 of the exact sum.
ATOL = 1e-6


@pytest.fixture
def face(scene, weights_ckpt, speech):
    """Face with keys the model drives (jawOpen, mouthClose) and one it does not (Blink); the
    animator keyed a blink at frame 11 and jawOpen at 0.3."""
    obj = make_mesh("Face", ["jawOpen", "mouthClose", "Blink"])
    blocks = obj.data.shape_keys.key_blocks
    for block in blocks:  # the random checkpoint's outputs leave 0..1; nothing may clamp them
        block.slider_min, block.slider_max = -10.0, 10.0
    for frame, value in ((1, 0.0), (11, 1.0), (21, 0.0)):
        blocks["Blink"].value = value
        blocks["Blink"].keyframe_insert("value", frame=frame)
    blocks["jawOpen"].value = 0.3
    blocks["jawOpen"].keyframe_insert("value", frame=1)
    obj.data.shape_keys.animation_data.action.name = "hand keyed"
    s = scene.a2f
    s.checkpoint_path, s.source, s.audio_path = str(weights_ckpt.path), 'FILE', str(speech)
    return obj


def evaluated(obj, name, frame):
    bpy.context.scene.frame_set(frame)
    key = obj.data.shape_keys.evaluated_get(bpy.context.evaluated_depsgraph_get())
    return key.key_blocks[name].value


def baked(obj, name, frame, strip=None):
    """The bake's own curve for shape key name at frame (the top a2f strip by default)."""
    strip = strip or nla.bake_strips(obj.data.shape_keys)[-1]
    path = f'key_blocks["{name}"].value'
    (curve,) = [fc for fc in compat.strip_fcurves(strip) if fc.data_path == path]
    return curve.evaluate(frame - strip.frame_start + strip.action_frame_start)


def test_the_animators_blink_plays_after_two_bakes(face, scene):
    key = face.data.shape_keys
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    scene.a2f.emotion = 'happy'
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert bpy.ops.a2f.generate() == {'FINISHED'}  # the same audio and emotion again
    tracks = [t.name for t in key.animation_data.nla_tracks]
    assert tracks == ["hand keyed", "a2f: line_01 (neutral)", "a2f: line_01 (happy)"]
    assert [len(t.strips) for t in key.animation_data.nla_tracks] == [1, 1, 1]
    assert key.animation_data.action is None
    assert sorted(a.name for a in bpy.data.actions) == ["hand keyed", "line_01", "line_01.001"]
    assert evaluated(face, "Blink", 11) == pytest.approx(1.0, abs=ATOL)
    assert evaluated(face, "Blink", 6) == pytest.approx(0.5, abs=ATOL)  # Bezier, symmetric
    for frame in (5, 30):  # override: the top bake's jaw, whatever lies below
        assert evaluated(face, "jawOpen", frame) == pytest.approx(baked(face, "jawOpen", frame), abs=ATOL)
    assert abs(baked(face, "jawOpen", 30) - 0.3) > 1e-3  # the check above can tell the two apart


def test_add_mode_adds_the_bake_to_the_animators_keys(face, scene):
    scene.a2f.blend_type = 'ADD'
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    (strip,) = nla.bake_strips(face.data.shape_keys)
    assert strip.blend_type == 'ADD'
    for frame in (5, 30):
        assert evaluated(face, "jawOpen", frame) == pytest.approx(0.3 + baked(face, "jawOpen", frame), abs=ATOL)
    assert evaluated(face, "Blink", 11) == pytest.approx(1.0, abs=ATOL)


def test_the_strip_moves_in_time_and_does_nothing_outside_it(face, scene):
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    (strip,) = nla.bake_strips(face.data.shape_keys)
    last = int(strip.frame_end)
    assert evaluated(face, "jawOpen", last + 5) == pytest.approx(0.3, abs=ATOL)  # the animator's
    reference = baked(face, "jawOpen", 20)
    strip.frame_end += 40  # NLA strips move end first, then start, to keep their length
    strip.frame_start += 40
    assert evaluated(face, "jawOpen", 60) == pytest.approx(reference, abs=ATOL)
    assert evaluated(face, "jawOpen", 20) == pytest.approx(0.3, abs=ATOL)


def test_an_action_keyed_between_frames_plays_at_its_own_times(scene, weights_ckpt, speech):
    face = make_mesh("Face", ["jawOpen", "Blink"])
    blink = face.data.shape_keys.key_blocks["Blink"]
    for frame, value in ((1.5, 0.0), (4.5, 1.0), (10.5, 0.3)):
        blink.value = value
        blink.keyframe_insert("value", frame=frame)
    s = scene.a2f
    s.checkpoint_path, s.source, s.audio_path = str(weights_ckpt.path), 'FILE', str(speech)
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    scene.frame_set(4, subframe=0.5)
    key = face.data.shape_keys.evaluated_get(bpy.context.evaluated_depsgraph_get())
    assert key.key_blocks["Blink"].value == pytest.approx(1.0, abs=ATOL)  # not shifted by 0.5


def test_undo_restores_the_animators_action(face):
    bpy.ops.ed.undo_push(message="before bake")  # background mode starts without an undo stack
    assert bpy.ops.a2f.generate('EXEC_DEFAULT', True) == {'FINISHED'}
    with bpy.context.temp_override(screen=bpy.data.screens[0]):
        bpy.ops.ed.undo()
    anim = bpy.data.objects["Face"].data.shape_keys.animation_data
    assert anim.action.name == "hand keyed" and len(anim.nla_tracks) == 0
    assert "line_01" not in bpy.data.actions


def test_a_file_bake_adds_its_sound_and_covers_its_frames(scene, weights_ckpt, data_dir):
    wav = write_wav(data_dir / "long_line.wav", 12.0, seed=5)
    make_mesh("Face", ["jawOpen"])
    s = scene.a2f
    s.checkpoint_path, s.source, s.audio_path = str(weights_ckpt.path), 'FILE', str(wav)
    scene.frame_start, scene.frame_end = 10, 250
    scene.render.fps, scene.render.fps_base = 25, 1.0
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert scene.frame_end == 10 + 12 * 25 - 1
    if HAS_AUD:
        (strip,) = compat.sound_strips(scene)
        assert strip.frame_start == 10 and strip.name == "long_line"
        assert bpy.ops.a2f.generate() == {'FINISHED'}
        assert len(compat.sound_strips(scene)) == 1  # the sound already plays there
    else:  # PyPI bpy 4.2 has no Audaspace, so no sound strips; the frame range still follows
        assert compat.sound_strips(scene) == []


def test_sound_strip_and_frame_range_can_be_left_alone(scene, weights_ckpt, speech):
    make_mesh("Face", ["jawOpen"])
    s = scene.a2f
    s.checkpoint_path, s.source, s.audio_path = str(weights_ckpt.path), 'FILE', str(speech)
    s.add_sound_strip = s.extend_frame_range = False
    scene.frame_end = 20
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert scene.frame_end == 20 and compat.sound_strips(scene) == []


def test_a_strip_in_tweak_mode_disables_the_button(face):
    from blender_addon.operators.generate import problem
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    anim = face.data.shape_keys.animation_data
    for track in anim.nla_tracks:
        track.select = track.name.startswith(nla.TRACK_PREFIX)
        for strip in track.strips:
            strip.select = track.select
    anim.nla_tracks.active = anim.nla_tracks[-1]
    anim.use_tweak_mode = True
    assert anim.use_tweak_mode
    assert problem(bpy.context) == ("'Face' has an NLA strip in tweak mode; leave it (Tab in the "
                                    "NLA editor) before baking")
