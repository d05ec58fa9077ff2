"""Armature rigs: one pose action per viseme, blended per frame onto the bones as bone keys."""

import bpy
import numpy as np
import pytest
from bpy_fixtures import configure, make_armature

from a2f_core.audio import load_audio
from a2f_core.infer import Animator
from a2f_core.retarget import load_preset

from blender_addon import compat, nla
from tests.tolerance import BAKE_ATOL

# bone keys are the bake's weights (BAKE_ATOL from this test's own Animator) times pose offsets
# under 1, summed over at most three poses
ATOL = 3 * BAKE_ATOL
POSES = {  # viseme -> {(bone, property, index): value}
    "viseme_PP": {("LipLower", "location", 2): 0.01, ("Jaw", "rotation_euler", 0): 0.02},
    "viseme_aa": {("Jaw", "rotation_euler", 0): 0.35, ("LipLower", "location", 2): -0.02},
    "viseme_O": {("Jaw", "rotation_euler", 0): 0.2, ("Lips", "scale", 0): 0.7},
    "viseme_U": {("Lips", "scale", 0): 0.6, ("Lips", "rotation_quaternion", 1): 0.1},
}


def make_rig(name="Rig"):
    rig = make_armature(name, [(bone, head, (head[0], head[1], head[2] + 0.1)) for bone, head in
                               (("Jaw", (0, 0, 0)), ("LipLower", (0, -1, 0)),
                                ("Lips", (0, -1, 0.2)))])
    rig.pose.bones["Lips"].rotation_mode = 'QUATERNION'
    for viseme, channels in POSES.items():  # a pose library: one action per viseme, keyed at 1
        action, _, fcurves = compat.new_action(rig, viseme)
        action.use_fake_user = True
        for (bone, prop, index), value in channels.items():
            fc = fcurves.new(f'pose.bones["{bone}"].{prop}', index=index)
            fc.keyframe_points.insert(1, value)
    return rig


def bone_keys(rig, path, index):
    (fc,) = [f for f in nla.latest_bake_fcurves(rig) if f.data_path == path and f.array_index == index]
    co = np.empty(2 * len(fc.keyframe_points), np.float32)
    fc.keyframe_points.foreach_get("co", co)
    return co[1::2]


def test_poses_blend_onto_the_bones_as_keys(scene, weights_ckpt, speech):
    rig = make_rig()
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech), retarget_preset="oculus_visemes")
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert scene.a2f.last_report.startswith("baked 60 frames of 'line_01' onto 'Rig' (4 channels, "
                                            "preset 'Meta/Oculus visemes'); no shape key for 11: viseme_sil")
    fps = scene.render.fps / scene.render.fps_base
    weights = Animator(weights_ckpt).animate(load_audio(speech), fps, weights_ckpt.emotions["neutral"])
    preset = load_preset("oculus_visemes")
    w = dict(zip(preset.targets, preset.apply(weights_ckpt.channel_names, weights).T))
    jaw = 0.02 * w["viseme_PP"] + 0.35 * w["viseme_aa"] + 0.2 * w["viseme_O"]
    np.testing.assert_allclose(bone_keys(rig, 'pose.bones["Jaw"].rotation_euler', 0), jaw, atol=ATOL)
    lip = 0.01 * w["viseme_PP"] - 0.02 * w["viseme_aa"]
    np.testing.assert_allclose(bone_keys(rig, 'pose.bones["LipLower"].location', 2), lip, atol=ATOL)
    scale = 1 - 0.3 * w["viseme_O"] - 0.4 * w["viseme_U"]  # offsets from a rest scale of 1
    np.testing.assert_allclose(bone_keys(rig, 'pose.bones["Lips"].scale', 0), scale, atol=ATOL)
    quat = np.stack([bone_keys(rig, 'pose.bones["Lips"].rotation_quaternion', i) for i in range(4)])
    np.testing.assert_allclose(np.linalg.norm(quat, axis=0), 1.0, atol=ATOL)  # normalised
    assert np.abs(jaw).max() > 0.01  # the bake really moved the jaw

    scene.frame_set(10)  # the bones play the keys, through the bake's NLA strip
    assert rig.pose.bones["Jaw"].rotation_euler[0] == pytest.approx(jaw[9], abs=ATOL)

    assert bpy.ops.a2f.generate() == {'FINISHED'}  # the first bake's action is not a pose
    assert scene.a2f.last_report.startswith("baked 60 frames of 'line_01' onto 'Rig' (4 channels,")


def test_a_rig_without_matching_poses_says_how_to_name_them(scene, weights_ckpt, speech):
    make_rig()
    for i, action in enumerate(bpy.data.actions):
        action.name = f"Pose {i}"  # names no preset knows
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    with pytest.raises(RuntimeError, match="no pose action matches a channel of weights.safetensors "
                                           r"\(e.g. eyeBlinkLeft\) for 'Rig'; name one action per pose"):
        bpy.ops.a2f.generate()


def test_a_rig_turns_its_head_bone_in_the_strip_of_its_mouth_poses(scene, weights_ckpt, speech):
    rig = make_rig()
    bpy.ops.object.mode_set(mode='EDIT')
    rig.data.edit_bones.new("Head").tail = (0, 0, 0.3)
    bpy.ops.object.mode_set(mode='OBJECT')
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech), retarget_preset="oculus_visemes")
    life = scene.a2f.life
    life.enabled, life.head_target, life.head_bone = True, rig, "Head"
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert [t.name for t in rig.animation_data.nla_tracks] == ["a2f: line_01 (neutral)"]
    (strip,) = nla.bake_strips(rig)
    paths = {(f.data_path, f.array_index) for f in compat.strip_fcurves(strip)}
    assert ('pose.bones["Jaw"].rotation_euler', 0) in paths  # the mouth poses
    turn = 'pose.bones["Head"].rotation_quaternion'  # a new bone's mode: quaternions
    assert {(turn, i) for i in range(4)} <= paths
    assert np.abs(bone_keys(rig, turn, 1)).max() > 0  # the head nods
