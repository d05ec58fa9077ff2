"""The liveliness layer in Blender: blink, gaze and brow keys beside the network's, head and eye
rotations on objects and bones in the bake's NLA strips, from the panel and from batch.py."""

import importlib
import math

import bpy
import mathutils
import numpy as np
import pytest
from bpy_fixtures import configure, make_armature, make_mesh

from a2f_core.alive.compose import LifeSettings, liven
from a2f_core.arkit import ARKIT_NAMES
from a2f_core.audio import load_audio
from a2f_core.infer import Animator

from blender_addon import audio_source, compat, nla
from tests.tolerance import BAKE_ATOL, EPS32

MOUTH = [n for n in ARKIT_NAMES if n.startswith(("mouth", "jaw"))]


def curves(id_data):
    """{(data_path, index): values} of id_data's latest bake strip."""
    out = {}
    for fc in nla.latest_bake_fcurves(id_data):
        co = np.empty(2 * len(fc.keyframe_points))
        fc.keyframe_points.foreach_get("co", co)
        out[fc.data_path, fc.array_index] = co[1::2]
    return out


def rig(name="Rig"):
    """An armature with a head bone and two eye bones, in quaternion mode (Blender's default)."""
    return make_armature(name, [("head", (0, 0, 0), (0, 0, 0.2)),
                                ("eye.L", (0.03, -0.07, 0.1), (0.03, -0.09, 0.1)),
                                ("eye.R", (-0.03, -0.07, 0.1), (-0.03, -0.09, 0.1))])


def bake(scene, weights_ckpt, speech, **life):
    face = bpy.data.objects.get("Face") or make_mesh("Face", list(ARKIT_NAMES))
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    scene.a2f.target = face
    for key, value in dict(enabled=True, blink_rate=60.0, **life).items():
        setattr(scene.a2f.life, key, value)
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    return face


def test_blinks_gaze_and_brows_join_the_network_without_touching_the_mouth(scene, weights_ckpt,
                                                                         speech):
    scene.render.fps, scene.render.fps_base = 24, 1.0
    face = bake(scene, weights_ckpt, speech)
    keys = curves(face.data.shape_keys)
    value = lambda n: keys[f'key_blocks["{n}"].value', 0]  # noqa: E731
    network = Animator(weights_ckpt).animate(load_audio(speech), 24.0,
                                             weights_ckpt.emotions["neutral"])
    for name in MOUTH:  # the layer never fights the lips
        np.testing.assert_allclose(value(name), network[:, ARKIT_NAMES.index(name)],
                                   atol=BAKE_ATOL)
    assert value("eyeBlinkLeft").max() > 0.9
    # what a2f infer computes for the same audio and settings, keyed
    settings = LifeSettings(blink_rate=60.0)
    expected, rotations = liven(audio_source.read_file(speech), network, ARKIT_NAMES, 24.0, 0.0,
                                settings)
    for name in ("eyeBlinkLeft", "eyeLookOutLeft", "eyeLookInRight", "browInnerUp"):
        np.testing.assert_allclose(value(name), expected[:, ARKIT_NAMES.index(name)],
                                   atol=BAKE_ATOL)
    assert not any(path.startswith("rotation") for path, _ in keys)


def test_head_object_and_eye_bones_are_keyed_in_strips_of_the_bake(scene, weights_ckpt, speech):
    head = make_mesh("Head")
    armature = rig()
    life = scene.a2f.life
    life.head_target = head
    life.left_eye_target = life.right_eye_target = armature
    life.left_eye_bone, life.right_eye_bone = "eye.L", "eye.R"
    face = bake(scene, weights_ckpt, speech)
    (track,) = [t.name for t in face.data.shape_keys.animation_data.nla_tracks]
    for obj in (head, armature):  # a strip on a track named as the face's; no active action
        assert [t.name for t in obj.animation_data.nla_tracks] == [track]
        assert obj.animation_data.action is None
    turn = curves(head)
    assert sorted(i for p, i in turn if p == "rotation_euler") == [0, 1, 2]
    yaw, pitch = turn["rotation_euler", 2], turn["rotation_euler", 0]
    assert 0 < np.abs(yaw).max() < math.radians(15) and np.abs(pitch).max() > 0
    eyes = curves(armature)
    fps = audio_source.scene_fps(scene)
    network = Animator(weights_ckpt).animate(load_audio(speech), fps,
                                             weights_ckpt.emotions["neutral"])
    _, rotations = liven(audio_source.read_file(speech), network, ARKIT_NAMES, fps, 0.0,
                         LifeSettings(blink_rate=60.0))
    for bone, (yaw, pitch) in (("eye.L", (3, 4)), ("eye.R", (6, 7))):
        quat = np.stack([eyes[f'pose.bones["{bone}"].rotation_quaternion', i] for i in range(4)])
        assert np.abs(quat[1:]).max() > 0.01  # the eyes move
        # a bone nods about X and turns about its Y: Blender's own Euler -> quaternion
        expected = np.array([list(mathutils.Euler((r[pitch], r[yaw], 0.0)).to_quaternion())
                             for r in rotations]).T
        np.testing.assert_allclose(quat, expected, atol=4 * EPS32)  # float32 keys of unit size
    # an object nods about X, tilts about Y and turns about Z; keys hold the float32 angles
    for axis, column in enumerate((1, 2, 0)):
        np.testing.assert_array_equal(turn["rotation_euler", axis], rotations[:, column])
    assert 'pose.bones["head"].rotation_quaternion' not in {p for p, _ in eyes}
    assert len(scene.a2f.last_report) > 0


def test_a_bake_is_reproducible_and_the_seed_changes_it(scene, weights_ckpt, speech):
    head = make_mesh("Head")
    scene.a2f.life.head_target = head
    bake(scene, weights_ckpt, speech, seed=3)
    first = curves(head)["rotation_euler", 2]
    bake(scene, weights_ckpt, speech, seed=3)
    assert np.array_equal(curves(head)["rotation_euler", 2], first)
    bake(scene, weights_ckpt, speech, seed=4)
    other = curves(head)["rotation_euler", 2]
    assert not np.array_equal(other, first)
    face = bake(scene, weights_ckpt, speech, head=False, gaze=False, seed=4)
    # no head layer: nothing is keyed on the head, which keeps its last bake's animation
    assert np.array_equal(curves(head)["rotation_euler", 2], other)
    (head_strip,) = nla.bake_strips(head)
    assert head_strip.action != nla.bake_strips(face.data.shape_keys)[-1].action


def test_the_animators_own_head_motion_keeps_playing_under_the_bake(scene, weights_ckpt, speech):
    """The head's own action (a slide along X and a turn) moves onto the NLA below the bake's
    strip: the bake overrides the rotation it keys, the slide plays on, and outside the bake's
    frames the animator's turn is back."""
    head = make_mesh("Head")
    for frame, x in ((1, 0.0), (400, 2.0)):
        head.location.x, head.rotation_euler.z = x, 0.5
        head.keyframe_insert("location", index=0, frame=frame)
        head.keyframe_insert("rotation_euler", index=2, frame=frame)
    head.animation_data.action.name = "head walk"
    for fc in compat.active_fcurves(head):
        for point in fc.keyframe_points:
            point.interpolation = 'LINEAR'
    scene.a2f.life.head_target = head
    bake(scene, weights_ckpt, speech)
    assert [t.name for t in head.animation_data.nla_tracks][0] == "head walk"
    assert "head walk" in bpy.data.actions and head.animation_data.action is None
    (strip,) = nla.bake_strips(head)
    yaw = curves(head)["rotation_euler", 2]
    inside, after = int(strip.frame_start) + 10, int(strip.frame_end) + 20
    assert after < 400
    for frame, turn in ((inside, yaw[10]), (after, 0.5)):  # the bake's turn, then the animator's
        scene.frame_set(frame)
        evaluated = head.evaluated_get(bpy.context.evaluated_depsgraph_get())
        # linear keys from x = 0 at frame 1 to 2 at frame 400, evaluated in float32
        assert evaluated.location.x == pytest.approx(2.0 * (frame - 1) / 399, abs=4 * EPS32)
        assert evaluated.rotation_euler.z == pytest.approx(turn, abs=EPS32)  # copied float32


def test_batch_options(scene, weights_ckpt, speech, tmp_path):
    make_mesh("Face", list(ARKIT_NAMES))
    make_mesh("Head")
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    batch = importlib.import_module("blender_addon.batch")
    args, jobs = batch._parse(["--scene", str(tmp_path / "scene.blend"), "--audio", str(speech),
                               "--object", "Face", "--checkpoint",
                               str(weights_ckpt.path), "--head", "Head", "--no-blinks",
                               "--no-gaze", "--no-brows", "--seed", "5"])
    batch.run(args, jobs)
    keys = curves(bpy.data.objects["Face"].data.shape_keys)
    fps = audio_source.scene_fps(bpy.context.scene)  # the opened file's scene
    network = Animator(weights_ckpt).animate(load_audio(speech), fps,
                                             weights_ckpt.emotions["neutral"])
    blink = ARKIT_NAMES.index("eyeBlinkLeft")
    np.testing.assert_allclose(keys['key_blocks["eyeBlinkLeft"].value', 0], network[:, blink],
                               atol=BAKE_ATOL)
    assert np.abs(curves(bpy.data.objects["Head"])["rotation_euler", 0]).max() > 0
    bad = batch._parse(["--scene", str(tmp_path / "scene.blend"), "--audio", str(speech),
                        "--object", "Face", "--head", "Nobody"])
    with pytest.raises(Exception, match="--head: no object 'Nobody'"):
        batch.run(*bad)


def test_a_head_in_tweak_mode_stops_the_bake_before_any_key(scene, weights_ckpt, speech):
    from blender_addon.core import A2FError
    from blender_addon.operators.generate import build_job
    head = make_mesh("Head")
    scene.a2f.life.head_target = head
    bake(scene, weights_ckpt, speech)
    anim = head.animation_data
    (track,) = anim.nla_tracks
    track.select, anim.nla_tracks.active = True, track
    track.strips[0].select = True
    anim.use_tweak_mode = True
    assert anim.use_tweak_mode
    with pytest.raises(A2FError, match="'Head' has an NLA strip in tweak mode; leave it"):
        build_job(bpy.context)  # before the network runs, so nothing is keyed
