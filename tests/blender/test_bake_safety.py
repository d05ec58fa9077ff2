"""A bake never loses work: old actions survive, undo restores, a cancelled bake changes nothing."""

import bpy
import pytest
from bpy_fixtures import make_mesh

from blender_addon import compat
from blender_addon.operators.generate import build_job, problem


@pytest.fixture
def face(scene, weights_ckpt, speech):
    obj = make_mesh("Face", ["jawOpen", "mouthClose"])
    s = scene.a2f
    s.checkpoint_path, s.source, s.audio_path = str(weights_ckpt.path), 'FILE', str(speech)
    return obj


def test_an_existing_user_action_is_kept(face):
    key = face.data.shape_keys
    key.key_blocks["jawOpen"].value = 0.5
    key.key_blocks["jawOpen"].keyframe_insert("value", frame=1)
    user_action = key.animation_data.action
    user_action.name = "hand keyed"
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert key.animation_data.action.name == "line_01"
    assert bpy.data.actions["hand keyed"].use_fake_user
    assert len(bpy.data.actions["hand keyed"].fcurves if not compat.uses_slots()
               else bpy.data.actions["hand keyed"].layers[0].strips[0].channelbags[0].fcurves) == 1


def test_one_undo_step_restores_the_scene(face):
    bpy.ops.ed.undo_push(message="before bake")  # background mode starts without an undo stack
    assert bpy.ops.a2f.generate('EXEC_DEFAULT', True) == {'FINISHED'}  # True: push undo, as the UI does
    assert "line_01" in bpy.data.actions
    with bpy.context.temp_override(screen=bpy.data.screens[0]):
        bpy.ops.ed.undo()
    face = bpy.data.objects["Face"]
    assert "line_01" not in bpy.data.actions
    assert face.data.shape_keys.animation_data is None or face.data.shape_keys.animation_data.action is None


def test_a_cancelled_bake_changes_nothing(face):
    job = build_job(bpy.context)
    job.step()  # one timer tick of the modal operator
    assert job.computed is not None and 0 < job.progress
    del job  # what Esc does: the job is dropped before apply()
    assert len(bpy.data.actions) == 0
    assert face.data.shape_keys.animation_data is None
    assert [k.name for k in face.data.shape_keys.key_blocks] == ["Basis", "jawOpen", "mouthClose"]


def test_disabled_button_says_why(scene):
    assert not bpy.ops.a2f.generate.poll()
    assert problem(bpy.context) == "Select the face mesh or set a target mesh"
    make_mesh("Face", ["jawOpen"])
    assert problem(bpy.context) == "Add a sound strip in the Sequencer, or choose an audio file"
    scene.a2f.strip = "missing"
    assert problem(bpy.context) == "'missing' is not a sound strip of this scene; choose another"
