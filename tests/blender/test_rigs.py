"""Any rig: shipped retarget presets on meshes named like their rigs, several meshes in one bake."""

import json
import subprocess
import sys
import wave

import bpy
import numpy as np
import pytest
from bpy_fixtures import REPO, configure, make_mesh

from a2f_core.arkit import ARKIT_NAMES
from a2f_core.audio import load_audio
from a2f_core.checkpoint import load_checkpoint
from a2f_core.infer import Animator
from a2f_core.models import DEFAULT_WEIGHTS
from a2f_core.retarget import load_preset

from blender_addon import nla
from tests.tolerance import float32_atol

CLOSED = {"oculus_visemes": ("viseme_PP", "viseme_sil"), "preston_blair": ("A", "X"),
          "papagayo": ("MBP", "rest")}
OPEN = {"oculus_visemes": ("viseme_aa", "viseme_E", "viseme_O"), "preston_blair": ("C", "D", "E"),
        "papagayo": ("AI", "E", "O"),
        "vrm_vowels": ("Fcl_MTH_A", "Fcl_MTH_E", "Fcl_MTH_O"), "arkit": ("jawOpen",),
        "vrm_perfect_sync": ("JawOpen",), "cc4_extended": ("Jaw_Open",), "ict_facekit": ("jawOpen",)}


@pytest.fixture(scope="module")
def bilabial_line(data_dir):
    """A bilabial-rich line spoken by espeak-ng, as 16 kHz PCM so that Blender's decoder and
    a2f_core read the same samples."""
    raw = data_dir / "bilabials_22k.wav"
    subprocess.run(["espeak-ng", "-v", "en+m3", "-w", str(raw),
                    "Bob bought a big blue map, maybe Pam made plum pie; a bumpy cab ride by the mill."],
                   check=True)
    wav = data_dir / "bilabials.wav"
    with wave.open(str(wav), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes((np.clip(load_audio(raw), -1, 1) * 32767).astype("<i2").tobytes())
    return wav


def keyed_values(obj, names):
    curves = {fc.data_path: fc for fc in nla.latest_bake_fcurves(obj.data.shape_keys)}
    out = []
    for name in names:
        fc = curves[f'key_blocks["{name}"].value']
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out.append(co[1::2])
    return np.stack(out, 1)


@pytest.mark.parametrize("stem", sorted(OPEN))
def test_each_shipped_preset_on_its_rig(scene, bilabial_line, stem):
    preset = load_preset(stem)
    targets = list(preset.targets)
    face = make_mesh("Face", targets)
    for block in face.data.shape_keys.key_blocks:  # no clamping: compare the raw curves
        block.slider_min, block.slider_max = -10.0, 10.0
    ckpt = load_checkpoint(DEFAULT_WEIGHTS)
    configure(scene, ckpt, source='FILE', audio_path=str(bilabial_line), retarget_preset=stem)
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    fps = scene.render.fps / scene.render.fps_base
    weights = Animator(ckpt).animate(load_audio(bilabial_line), fps, ckpt.emotions["neutral"])
    assert scene.a2f.last_report == (f"baked {len(weights)} frames of 'bilabials' onto 'Face' "
                                     f"({len(targets)} channels, preset '{preset.name}')")  # all found
    values = keyed_values(face, targets)
    expected = preset.apply(ckpt.channel_names, weights)
    # the bake's chunks round differently from this Animator's; the preset's gains (up to ~2)
    # scale that rounding with the values
    np.testing.assert_allclose(values, expected, atol=float32_atol(expected))

    jaw = weights[:, ARKIT_NAMES.index("jawOpen")]
    opening = values[:, [targets.index(t) for t in OPEN[stem]]].sum(1)
    assert np.corrcoef(opening, jaw)[0, 1] > 0.9  # the jaw follows speech (measured >= 0.95)
    shut = jaw - weights[:, ARKIT_NAMES.index("mouthClose")] < 0.1  # a2f eval's closed lips
    speaking = shut & (np.convolve(jaw > 0.15, np.ones(9), "same") > 0)  # closures inside words
    assert speaking.sum() >= 10
    if stem in CLOSED:  # the closed (or rest) shape is the strongest where the lips meet
        closed = np.isin(values.argmax(1), [targets.index(t) for t in CLOSED[stem]])
    elif stem == "vrm_vowels":  # no vowel opens the mouth
        closed = values[:, [targets.index(f"Fcl_MTH_{v}") for v in "AIUEO"]].max(1) < 0.15
    else:  # the rig's own mouthClose follows its jaw
        close_key = {"cc4_extended": "Mouth_Close", "vrm_perfect_sync": "MouthClose"}.get(stem, "mouthClose")
        jaw_key = OPEN[stem][0]
        closed = values[:, targets.index(jaw_key)] - values[:, targets.index(close_key)] < 0.1
    assert closed[speaking].mean() >= 0.9, closed[speaking].mean()


def test_teeth_and_tongue_bake_with_the_face_in_one_undo_step(scene, weights_ckpt, speech):
    face = make_mesh("Face", ["jawOpen", "mouthClose", "mouthSmileLeft"])
    teeth = make_mesh("Teeth", ["jawOpen"])
    tongue = make_mesh("Tongue", ["jawOpen", "tongueOut"])
    lashes = make_mesh("Lashes")  # no shape keys: left alone
    for obj in (face, teeth, tongue, lashes):
        obj.select_set(True)
    bpy.context.view_layer.objects.active = face
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    bpy.ops.ed.undo_push(message="before bake")
    assert bpy.ops.a2f.generate('EXEC_DEFAULT', True) == {'FINISHED'}
    assert scene.a2f.last_report.startswith("baked 60 frames of 'line_01' onto 'Face', 'Teeth', "
                                            "'Tongue' (4 channels)")
    jaw = [keyed_values(o, ["jawOpen"])[:, 0] for o in (face, teeth, tongue)]
    np.testing.assert_array_equal(jaw[0], jaw[1])  # one computation, written three times
    np.testing.assert_array_equal(jaw[0], jaw[2])
    assert len(keyed_values(tongue, ["tongueOut"])) == 60
    assert lashes.data.shape_keys is None
    with bpy.context.temp_override(screen=bpy.data.screens[0]):
        bpy.ops.ed.undo()
    assert len(bpy.data.actions) == 0
    assert all(bpy.data.objects[n].data.shape_keys.animation_data is None
               for n in ("Face", "Teeth", "Tongue"))


def test_a_preset_for_another_rig_is_refused_with_advice(scene, weights_ckpt, speech):
    make_mesh("Face", ["AA", "EE", "OH", "MBP"])
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech), retarget_preset="oculus_visemes")
    with pytest.raises(RuntimeError, match="no shape key of 'Face' matches a target of preset "
                                           "'Meta/Oculus visemes' \\(e.g. viseme_sil\\); choose the preset"):
        bpy.ops.a2f.generate()


@pytest.mark.parametrize("keys, preset", [
    (["viseme_sil", "viseme_PP", "viseme_aa", "viseme_O"], "Meta/Oculus visemes"),
    (["Fcl_MTH_A", "Fcl_MTH_O", "Fcl_EYE_Close_L", "Fcl_BRW_Angry"], "VRM five vowels (VRoid)"),
    (["AI", "E", "O", "U", "MBP", "FV", "rest"], "Papagayo / Moho phonemes"),
    (["Mouth_Funnel_Up_L", "Mouth_Roll_In_Lower_L", "Brow_Drop_L", "Eye_L_Look_L"],
     "Character Creator 4 Extended"),
])
def test_a_rig_the_models_names_miss_gets_the_shipped_preset_it_matches(scene, weights_ckpt, speech,
                                                                         keys, preset):
    make_mesh("Face", keys)
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert f", preset '{preset}')" in scene.a2f.last_report


def test_save_a_mapping_as_a_preset_and_use_it(scene, weights_ckpt, speech, tmp_path):
    face = make_mesh("Face", ["Jaw_Drop", "Lips_Shut"])
    s = configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    assert bpy.ops.a2f.mapping_preset(preset='CHECKPOINT') == {'FINISHED'}
    items = {m.channel: m for m in s.mapping}
    items["jawOpen"].shape_key, items["mouthClose"].shape_key = "Jaw_Drop", "Lips_Shut"
    path = tmp_path / "my_rig.json"
    assert bpy.ops.a2f.save_preset(filepath=str(path)) == {'FINISHED'}
    saved = json.loads(path.read_text())
    assert saved["name"] == "my_rig" and saved["targets"] == {
        "Jaw_Drop": {"from": {"jawOpen": 1.0}}, "Lips_Shut": {"from": {"mouthClose": 1.0}}}
    s.use_mapping = False
    assert bpy.ops.a2f.load_preset(filepath=str(path)) == {'FINISHED'}
    assert s.retarget_preset == str(path)
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert {fc.data_path for fc in nla.latest_bake_fcurves(face.data.shape_keys)} == {
        'key_blocks["Jaw_Drop"].value', 'key_blocks["Lips_Shut"].value'}
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "a2f-retarget"}')
    with pytest.raises(RuntimeError, match="bad.json: version None is not one this a2f reads"):
        bpy.ops.a2f.load_preset(filepath=str(bad))
    assert s.retarget_preset == str(path)  # unchanged


def test_batch_bakes_with_a_preset_onto_several_meshes(scene, weights_ckpt, speech, tmp_path):
    make_mesh("Face", [f"viseme_{v}" for v in ("sil", "PP", "aa", "O")])
    make_mesh("Teeth", ["viseme_aa"])
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "rig.blend"))
    out = tmp_path / "out.blend"
    done = subprocess.run([sys.executable, str(REPO / "blender_addon" / "batch.py"), "--scene", "rig.blend",
                           "--audio", str(speech), "--object", "Face+Teeth", "--preset", "oculus_visemes",
                           "--checkpoint", str(weights_ckpt.path), "--save", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ("onto 'Face', 'Teeth' (4 channels, preset 'Meta/Oculus visemes'); no shape key for 11: "
            "viseme_FF") in done.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out))
    teeth = bpy.data.objects["Teeth"].data.shape_keys
    assert [fc.data_path for fc in nla.latest_bake_fcurves(teeth)] == ['key_blocks["viseme_aa"].value']
