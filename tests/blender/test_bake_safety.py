"""A bake never loses work: undo restores, a cancelled bake changes nothing (and test_nla.py)."""

import bpy
import pytest
from bpy_fixtures import make_mesh

from blender_addon.operators.generate import build_job, problem


@pytest.fixture
def face(scene, weights_ckpt, speech):
    obj = make_mesh("Face", ["jawOpen", "mouthClose"])
    s = scene.a2f
    s.checkpoint_path, s.source, s.audio_path = str(weights_ckpt.path), 'FILE', str(speech)
    return obj


def test_one_undo_step_restores_the_scene(face):
    bpy.ops.ed.undo_push(message="before bake")  # background mode starts without an undo stack
    assert bpy.ops.a2f.generate('EXEC_DEFAULT', True) == {'FINISHED'}  # True: push undo, as the UI does
    assert "line_01" in bpy.data.actions
    with bpy.context.temp_override(screen=bpy.data.screens[0]):
        bpy.ops.ed.undo()
    face = bpy.data.objects["Face"]
    assert "line_01" not in bpy.data.actions
    anim = face.data.shape_keys.animation_data
    assert anim is None or (anim.action is None and len(anim.nla_tracks) == 0)


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
