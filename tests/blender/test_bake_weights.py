"""Weights checkpoints: keys on shape keys matched by name, timed exactly, equal to a2f infer."""

import math

import bpy
import numpy as np
import pytest
from bpy_fixtures import configure, make_mesh, needs_aud, write_wav

from a2f_core.arkit import ARKIT_NAMES
from a2f_core.audio import load_audio
from a2f_core.emotions import blend
from a2f_core.infer import Animator
from tests.tolerance import BAKE_ATOL, float32_atol

from blender_addon import checkpoints, compat, nla


def keyed(obj):
    """{data_path: (frames, values)} of the mesh's latest bake (its top a2f NLA strip)."""
    out = {}
    for fc in compat.strip_fcurves(nla.bake_strips(obj.data.shape_keys)[-1]):
        co = np.empty(2 * len(fc.keyframe_points))
        fc.keyframe_points.foreach_get("co", co)
        out[fc.data_path] = (co[0::2], co[1::2])
    return out


def channel_values(obj, key_name):
    return keyed(obj)[f'key_blocks["{key_name}"].value']


@needs_aud
def test_strip_at_frame_101_at_24_fps_matches_infer(scene, weights_ckpt, speech):
    scene.render.fps, scene.render.fps_base = 24, 1.0
    strip = compat.new_sound_strip(scene, "VO_01", str(speech), 1, 101)
    face = make_mesh("Face", [f"A_{n}" for n in ARKIT_NAMES])
    configure(scene, weights_ckpt, source='STRIP', strip="VO_01")
    assert bpy.ops.a2f.generate() == {'FINISHED'}

    expected = Animator(weights_ckpt).animate(load_audio(speech), 24.0, weights_ckpt.emotions["neutral"])
    assert strip.frame_final_duration == math.ceil(2.5 * 24) == len(expected) == 60
    curves = keyed(face)
    assert len(curves) == 52
    (strip,) = nla.bake_strips(face.data.shape_keys)
    assert strip.action.name == "VO_01" and strip.id_data.animation_data.action is None
    for c, name in enumerate(ARKIT_NAMES):
        frames, values = curves[f'key_blocks["A_{name}"].value']
        assert len(frames) == 60
        assert frames[0] == 101 and frames[-1] == 160
        np.testing.assert_allclose(values, expected[:, c], atol=BAKE_ATOL)
    assert scene.a2f.last_report.startswith("baked 60 frames of 'VO_01' onto 'Face' (52 channels)")


@needs_aud
def test_strip_offsets_and_trim_are_honoured(scene, weights_ckpt, speech):
    scene.render.fps, scene.render.fps_base = 25, 1.0
    strip = compat.new_sound_strip(scene, "VO", str(speech), 1, 40)
    strip.frame_offset_start = 5  # trimmed: the first 5 frames of the sound are hidden
    if hasattr(strip, "sound_offset"):
        strip.sound_offset = 0.1
    make_mesh("Face", ["jawOpen"])
    configure(scene, weights_ckpt, source='STRIP', strip="VO", offset_ms=20.0)
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    frames, values = channel_values(bpy.data.objects["Face"], "jawOpen")
    assert frames[0] == 45 and frames[-1] == strip.frame_final_end - 1
    start = 5 / 25 + getattr(strip, "sound_offset", 0.0) - 0.020
    expected = Animator(weights_ckpt).animate(load_audio(speech), 25.0, weights_ckpt.emotions["neutral"],
                                              start_seconds=start)
    col = weights_ckpt.channel_names.index("jawOpen")
    n = min(len(values), len(expected))
    np.testing.assert_allclose(values[:n], expected[:n, col], atol=BAKE_ATOL)


def test_audio_file_at_29_97_fps_from_a_non_1_start_frame(scene, weights_ckpt, data_dir):
    wav = write_wav(data_dir / "stereo_44k.wav", 1.3, rate=44100, channels=2, seed=3)
    scene.render.fps, scene.render.fps_base = 30, 1.001
    scene.frame_start = 7
    make_mesh("Face", ["jawOpen", "mouthSmile_L"])
    configure(scene, weights_ckpt, source='FILE', audio_path=str(wav))
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    fps = 30 / 1.001
    frames, values = channel_values(bpy.data.objects["Face"], "mouthSmile_L")
    assert len(frames) == math.ceil(1.3 * fps)
    assert frames[0] == 7 and frames[-1] == 7 + len(frames) - 1
    # Blender's decoder resamples 44.1 kHz its own way; the network sees nearly the same audio.
    expected = Animator(weights_ckpt).animate(load_audio(wav), fps, weights_ckpt.emotions["neutral"])
    col = weights_ckpt.channel_names.index("mouthSmileLeft")
    np.testing.assert_allclose(values, expected[:, col], atol=0.05 * np.abs(expected[:, col]).max())


def test_keyed_emotion_controls_drive_emotion_over_time(scene, weights_ckpt, speech):
    make_mesh("Face", ["jawOpen"])
    s = configure(scene, weights_ckpt, source='FILE', audio_path=str(speech), emotion='happy',
                  emotion_second='sad')
    scene.frame_start = 1
    s.emotion_intensity = 0.0
    s.keyframe_insert("emotion_intensity", frame=1)
    s.emotion_intensity = 1.0
    s.keyframe_insert("emotion_intensity", frame=31)
    for fc in compat.active_fcurves(scene):
        for point in fc.keyframe_points:
            point.interpolation = 'LINEAR'
    s.emotion_blend = 0.25
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    frames, values = channel_values(bpy.data.objects["Face"], "jawOpen")

    intensity = np.clip((frames - 1) / 30, 0, 1)
    emotion = np.array([blend(weights_ckpt.emotions, {"happy": i * 0.75, "sad": i * 0.25})
                        for i in intensity])
    samples = load_audio(speech)
    fps = scene.render.fps / scene.render.fps_base
    animator = Animator(weights_ckpt)
    col = weights_ckpt.channel_names.index("jawOpen")
    np.testing.assert_allclose(values, animator.animate(samples, fps, emotion)[:, col], atol=BAKE_ATOL)
    constant = animator.animate(samples, fps, emotion[-1])[:, col]
    assert np.abs(values[:10] - constant[:10]).max() > 1e-3  # the early frames really differ


def test_unmatched_channels_are_reported_and_can_be_created(scene, weights_ckpt, speech):
    face = make_mesh("Face", ["Mouth.jawOpen", "eyeBlink_L"])
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert set(keyed(face)) == {'key_blocks["Mouth.jawOpen"].value', 'key_blocks["eyeBlink_L"].value'}
    assert scene.a2f.last_report.endswith("(2 channels); no shape key for 50: eyeLookDownLeft, "
                                          "eyeLookInLeft, eyeLookOutLeft, eyeLookUpLeft, "
                                          "eyeSquintLeft, eyeWideLeft and 44 more")

    scene.a2f.create_missing_keys = True
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    names = {k.name for k in face.data.shape_keys.key_blocks}
    assert {"tongueOut", "cheekPuff"} <= names and "jawOpen" not in names  # Mouth.jawOpen matched
    assert len(keyed(face)) == 52


def test_mapping_list_overrides_name_matching(scene, weights_ckpt, speech):
    face = make_mesh("Face", ["jawOpen", "MouthOpen"])
    s = configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    assert bpy.ops.a2f.mapping_preset(preset='ARKIT') == {'FINISHED'}
    items = {m.channel: m for m in s.mapping}
    assert len(items) == 52 and items["jawOpen"].shape_key == "jawOpen"
    items["jawOpen"].shape_key = "MouthOpen"
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert set(keyed(face)) == {'key_blocks["MouthOpen"].value'}


def test_a_mesh_without_any_matching_key_gets_a_clear_error(scene, weights_ckpt, speech):
    make_mesh("Face", ["smile"])
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    with pytest.raises(RuntimeError, match="no shape key of 'Face' matches"):
        bpy.ops.a2f.generate()


def test_lip_contact_box_applies_the_checkpoints_head(scene, weights_ckpt, speech, data_dir):
    """A head that always hears contact: on, the lips touch (mouthClose keys equal jawOpen's);
    off, the keys are the network's output alone."""
    from a2f_core import contact
    from a2f_core.checkpoint import update_metadata
    path = data_dir / "with_head.safetensors"
    path.write_bytes(weights_ckpt.path.read_bytes())
    ckpt = update_metadata(path, tensors={
        contact.WEIGHT: np.zeros(weights_ckpt.config.hidden_size, np.float32),
        contact.BIAS: np.array([20.0], np.float32)}, lip_contact={"center": 0.5, "width": 0.2})
    face = make_mesh("Face", ["jawOpen", "mouthClose"])
    configure(scene, ckpt, source='FILE', audio_path=str(speech))
    assert scene.a2f.lip_contact  # on by default
    assert checkpoints.has_lip_contact(str(path))  # the panel's box is live for this one
    assert not checkpoints.has_lip_contact(str(weights_ckpt.path))
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    _, jaw = channel_values(face, "jawOpen")
    _, close = channel_values(face, "mouthClose")
    # the sure head sets mouthClose to jawOpen's value: one float32 rounding apart at most
    np.testing.assert_allclose(close, jaw, atol=float32_atol(jaw, ulps=8))

    scene.a2f.lip_contact = False
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    fps = scene.render.fps / scene.render.fps_base
    expected = Animator(ckpt, lip_contact=False).animate(load_audio(speech), fps,
                                                          ckpt.emotions["neutral"])
    _, close = channel_values(face, "mouthClose")
    np.testing.assert_allclose(close, expected[:, ckpt.channel_names.index("mouthClose")],
                               atol=BAKE_ATOL)
    assert np.abs(close - jaw).max() > 0.01


def test_the_bundled_heads_detector_is_heard(scene, speech):
    """The bundled model's lip contact head also listens to its log-mel detector: the keys are
    a2f infer's, detector included, computed with Blender's numpy."""
    from a2f_core.checkpoint import load_checkpoint
    from a2f_core.models import DEFAULT_WEIGHTS
    ckpt = load_checkpoint(DEFAULT_WEIGHTS)
    assert Animator(ckpt).contact.detector is not None
    face = make_mesh("Face", ["jawOpen", "mouthClose"])
    configure(scene, ckpt, source='FILE', audio_path=str(speech))
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    fps = scene.render.fps / scene.render.fps_base
    expected = Animator(ckpt).animate(load_audio(speech), fps, ckpt.emotions["neutral"])
    for name in ("jawOpen", "mouthClose"):
        _, values = channel_values(face, name)
        np.testing.assert_allclose(values, expected[:, ckpt.channel_names.index(name)], atol=BAKE_ATOL)
