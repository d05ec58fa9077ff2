"""Blender rows of docs/reliability.md: every bad input is one ERROR report (or a disabled
button that says why), and no bake ever loses data. Complements test_bake_safety.py (user action
kept, one undo step, cancelled bake) and test_install.py (register/unregister)."""

import os
import pickle
import struct
import subprocess
import sys

import addon_utils
import bpy
import numpy as np
import pytest
from bpy_fixtures import REPO, configure, make_mesh, needs_aud, write_wav

from a2f_core.arkit import ARKIT_NAMES
from a2f_core.audio import load_audio
from a2f_core.infer import Animator
from tests.tolerance import BAKE_ATOL
from blender_addon import bake, compat, nla
from blender_addon.audio_source import clip_from_file
from blender_addon.operators.generate import problem


def error_of(call):
    """The single-line message of an operator's ERROR report (background mode raises it)."""
    with pytest.raises(RuntimeError) as info:
        call()
    text = str(info.value).strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    return text


def action_state():
    """Every action with every F-curve's keys: a fingerprint of the file's animation."""
    state = {}
    for action in bpy.data.actions:
        curves = action.fcurves if not compat.uses_slots() else [
            fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for fc in bag.fcurves]
        keys = {}
        for fc in curves:
            co = np.empty(2 * len(fc.keyframe_points))
            fc.keyframe_points.foreach_get("co", co)
            keys[fc.data_path] = co.tolist()
        state[action.name] = (action.use_fake_user, keys)
    return state


# --- the target ---------------------------------------------------------------------------

def _nothing(scene):
    pass


def _empty(scene):
    empty = bpy.data.objects.new("Rig", None)
    scene.collection.objects.link(empty)
    bpy.context.view_layer.objects.active = empty


def _edit_mode(scene):
    make_mesh("Face", ["jawOpen"])
    bpy.ops.object.mode_set(mode='EDIT')


@pytest.mark.parametrize("setup,message", [
    (_nothing, "Select the face mesh or set a target mesh"),
    (_empty, "'Rig' is not a mesh or an armature; select the face mesh or rig"),
    (_edit_mode, "'Face' is in Edit mode; switch to Object Mode"),
], ids=["no active object", "an Empty is active", "mesh in Edit Mode"])
def test_no_usable_mesh_disables_the_button(scene, weights_ckpt, speech, setup, message):
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    setup(scene)
    assert problem(bpy.context) == message
    assert not bpy.ops.a2f.generate.poll()
    with pytest.raises(RuntimeError):
        bpy.ops.a2f.generate()
    if bpy.context.object is not None and bpy.context.object.mode == 'EDIT':
        bpy.ops.object.mode_set(mode='OBJECT')
    assert len(bpy.data.actions) == 0


def test_mesh_without_shape_keys_offers_to_create_them(scene, weights_ckpt, speech):
    face = make_mesh("Face")
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    message = error_of(bpy.ops.a2f.generate)
    assert "no shape key of 'Face' matches a channel of weights.safetensors" in message
    assert "enable 'Create missing ARKit keys'" in message
    assert face.data.shape_keys is None and len(bpy.data.actions) == 0  # untouched
    scene.a2f.create_missing_keys = True
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    names = [k.name for k in face.data.shape_keys.key_blocks]
    assert names[0] == "Basis" and sorted(names[1:]) == sorted(ARKIT_NAMES)


# --- linked data --------------------------------------------------------------------------

@pytest.fixture
def linked_face(scene, tmp_path, weights_ckpt, speech):
    make_mesh("Face", ["jawOpen", "mouthClose"])
    library = tmp_path / "characters.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(library))
    bpy.ops.wm.read_homefile(use_empty=True)
    with bpy.data.libraries.load(str(library), link=True) as (_, into):
        into.objects = ["Face"]
    face = into.objects[0]
    bpy.context.scene.collection.objects.link(face)
    bpy.context.view_layer.objects.active = face
    configure(bpy.context.scene, weights_ckpt, source='FILE', audio_path=str(speech))
    return face


def test_linked_library_data_is_refused_and_left_alone(linked_face, weights_ckpt, speech):
    expected = f"'Face' is linked from {linked_face.library.filepath} (object) and cannot be edited"
    assert problem(bpy.context).startswith(expected)
    assert "Make Local" in problem(bpy.context)
    with pytest.raises(RuntimeError):
        bpy.ops.a2f.generate()
    # the batch script and scripts use BakeJob directly: same refusal, before any change
    clip = clip_from_file(bpy.context.scene, speech)
    with pytest.raises(Exception, match="cannot be edited"):
        bake.BakeJob(linked_face, clip, weights_ckpt, weights_ckpt.emotions["neutral"],
                     bake.BakeSettings())
    assert len(bpy.data.actions) == 0 and linked_face.data.shape_keys.animation_data is None


# --- sound strips -------------------------------------------------------------------------

@needs_aud
def test_strip_with_a_missing_file(scene, weights_ckpt, speech, tmp_path):
    moved = write_wav(tmp_path / "moved.wav", 1.0)
    strip = compat.new_sound_strip(scene, "VO", str(moved), 1, 1)
    moved.unlink()
    make_mesh("Face", ["jawOpen"])
    configure(scene, weights_ckpt, source='STRIP', strip="VO")
    assert strip.sound is not None
    message = error_of(bpy.ops.a2f.generate)
    assert f"sound strip 'VO' points at a missing file {strip.sound.filepath}; relink it" in message
    assert len(bpy.data.actions) == 0


@needs_aud
def test_muted_strips(scene, weights_ckpt, speech, data_dir):
    other = write_wav(data_dir / "other.wav", 1.0, seed=5)
    muted = compat.new_sound_strip(scene, "Muted", str(speech), 1, 1)
    compat.new_sound_strip(scene, "Heard", str(other), 2, 1)
    muted.mute = True
    face = make_mesh("Face", ["jawOpen"])
    s = configure(scene, weights_ckpt, source='STRIP')
    # with no strip chosen, the muted one is skipped
    assert s.sound_strip(scene).name == "Heard"
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert nla.bake_strips(face.data.shape_keys)[-1].action.name == "Heard"
    # a muted strip chosen by name bakes, and the report says it is muted
    s.strip = "Muted"
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert nla.bake_strips(face.data.shape_keys)[-1].action.name == "Muted"
    assert s.last_report.endswith("; note: strip 'Muted' is muted")
    # every strip muted and none chosen: the button says what to do
    s.strip = ""
    compat.find_sound_strip(scene, "Heard").mute = True
    assert problem(bpy.context) == "Every sound strip is muted; unmute one, or choose it in the Strip field"


# --- timing -------------------------------------------------------------------------------

def test_23_976_fps_audio_file(scene, weights_ckpt, speech):
    scene.render.fps, scene.render.fps_base = 24, 1.001
    scene.frame_start = 0
    face = make_mesh("Face", ["jawOpen"])
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    fps = 24 / 1.001
    fc = nla.latest_bake_fcurves(face.data.shape_keys)[0]
    co = np.empty(2 * len(fc.keyframe_points))
    fc.keyframe_points.foreach_get("co", co)
    expected = Animator(weights_ckpt).animate(load_audio(speech), fps, weights_ckpt.emotions["neutral"])
    assert len(expected) == int(np.ceil(2.5 * fps)) == 60  # 59.94 frames of audio
    np.testing.assert_array_equal(co[0::2], np.arange(60))
    np.testing.assert_allclose(co[1::2], expected[:, weights_ckpt.channel_names.index("jawOpen")],
                               atol=BAKE_ATOL)


@needs_aud
def test_strip_at_a_negative_frame_at_23_976_fps(scene, weights_ckpt, speech):
    scene.render.fps, scene.render.fps_base = 24, 1.001
    compat.new_sound_strip(scene, "VO", str(speech), 1, -20)
    face = make_mesh("Face", ["jawOpen"])
    configure(scene, weights_ckpt, source='STRIP', strip="VO")
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    fc = nla.latest_bake_fcurves(face.data.shape_keys)[0]
    co = np.empty(2 * len(fc.keyframe_points))
    fc.keyframe_points.foreach_get("co", co)
    fps = 24 / 1.001
    expected = Animator(weights_ckpt).animate(load_audio(speech), fps, weights_ckpt.emotions["neutral"])
    frames = co[0::2]
    assert frames[0] == -20 and np.array_equal(frames, -20 + np.arange(len(frames)))
    n = min(len(frames), len(expected))
    assert n >= 59
    np.testing.assert_allclose(co[1::2][:n], expected[:n, weights_ckpt.channel_names.index("jawOpen")],
                               atol=BAKE_ATOL)


# --- never losing work --------------------------------------------------------------------

def test_baking_twice_keeps_the_first_bake_through_save_and_reload(scene, weights_ckpt, speech, tmp_path):
    face = make_mesh("Face", ["jawOpen", "mouthClose"])
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech))
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    first = action_state()
    scene.a2f.emotion = 'happy'
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    assert [s.action.name for s in nla.bake_strips(face.data.shape_keys)] == ["line_01", "line_01.001"]
    after = action_state()
    assert after["line_01"] == first["line_01"]  # unchanged, and used by its NLA strip
    assert after["line_01.001"][1] != first["line_01"][1]
    path = tmp_path / "twice.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    assert action_state() == after  # the replaced bake is not an orphan that saving drops


def test_undo_after_creating_keys_restores_the_mesh_exactly(scene, weights_ckpt, speech):
    face = make_mesh("Face")
    configure(scene, weights_ckpt, source='FILE', audio_path=str(speech), create_missing_keys=True)
    bpy.ops.ed.undo_push(message="before bake")
    assert bpy.ops.a2f.generate('EXEC_DEFAULT', True) == {'FINISHED'}
    assert len(face.data.shape_keys.key_blocks) == 53 and len(bpy.data.actions) == 1
    with bpy.context.temp_override(screen=bpy.data.screens[0]):
        bpy.ops.ed.undo()
    face = bpy.data.objects["Face"]
    assert face.data.shape_keys is None and len(bpy.data.shape_keys) == 0
    assert len(bpy.data.actions) == 0 and len(face.data.vertices) == 16


def test_disable_and_re_enable_leaves_nothing_behind(scene, weights_ckpt, speech):
    ours = [c.__name__ for c in bpy.types.Operator.__subclasses__() if c.__name__.startswith("A2F_")]
    assert ours
    addon_utils.disable("blender_addon", default_set=True)
    try:
        leftovers = [n for n in dir(bpy.types) if n.startswith(("A2F_", "A2FSettings", "A2FMapping"))]
        assert leftovers == [] and not hasattr(bpy.types.Scene, "a2f")
        assert not [op for op in dir(bpy.ops.a2f)]
    finally:
        assert addon_utils.enable("blender_addon", default_set=True, handle_error=None) is not None
    make_mesh("Face", ["jawOpen"])
    configure(bpy.context.scene, weights_ckpt, source='FILE', audio_path=str(speech))
    assert bpy.ops.a2f.generate() == {'FINISHED'}


# --- bad audio and checkpoints inside Blender ---------------------------------------------

@pytest.mark.parametrize("make,message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_bytes(b""), ""),
    (lambda p: p.write_bytes(np.random.default_rng(0).bytes(4000)), ""),
], ids=["missing audio file", "0-byte audio file", "random bytes named .wav"])
def test_bad_audio_file_is_one_error_report(scene, weights_ckpt, tmp_path, make, message):
    audio = tmp_path / "voice é.wav"
    make(audio)
    make_mesh("Face", ["jawOpen"])
    configure(scene, weights_ckpt, source='FILE', audio_path=str(audio))
    text = error_of(bpy.ops.a2f.generate)
    assert text.startswith("Error: ") and message in text and "voice é.wav" in text
    assert len(bpy.data.actions) == 0


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("make,message", [
    (lambda p, m: p.write_bytes(b""), "too short"),
    (lambda p, m: p.write_bytes(pickle.dumps({"w": _Payload(m)})), "is a pickle or torch .pt file"),
], ids=["0-byte checkpoint", "pickle renamed .safetensors"])
def test_bad_checkpoint_is_one_error_report(scene, speech, tmp_path, make, message):
    ckpt, marker = tmp_path / "model.safetensors", tmp_path / "pwned"
    make(ckpt, marker)
    make_mesh("Face", ["jawOpen"])
    s = scene.a2f
    s.checkpoint_path, s.source, s.audio_path = str(ckpt), 'FILE', str(speech)
    text = error_of(bpy.ops.a2f.generate)
    assert message in text and "model.safetensors" in text
    assert not marker.exists() and len(bpy.data.actions) == 0


# --- numbers that used to bake garbage: one validation for the CLI, batch.py and the panel ----

def _wav_claiming(path, rate, samples=None, float32=False):
    """A mono WAV whose header says `rate`; float32 writes IEEE float samples (format 3)."""
    x = np.asarray(samples if samples is not None else 0.3 * np.sin(np.arange(60800) / 7.0))
    data = x.astype("<f4" if float32 else None).tobytes() if float32 else \
        (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    width = 4 if float32 else 2
    fmt = struct.pack("<HHIIHH", 3 if float32 else 1, 1, rate, rate * width, width, 8 * width)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE"
                     + b"fmt " + struct.pack("<I", len(fmt)) + fmt
                     + b"data" + struct.pack("<I", len(data)) + data)
    return path


@pytest.mark.parametrize("rate", [1, 1_000_000])
def test_a_wav_header_claiming_an_absurd_rate_is_refused(scene, weights_ckpt, tmp_path, rate):
    """a2f infer refuses these; the panel and batch.py used to bake 383,976 frames or 1."""
    audio = _wav_claiming(tmp_path / "claims.wav", rate)
    make_mesh("Face", ["jawOpen"])
    configure(scene, weights_ckpt, source='FILE', audio_path=str(audio))
    text = error_of(bpy.ops.a2f.generate)
    assert f"sample rate {rate} Hz is outside 1000..768000 Hz; resample the audio" in text, text
    assert len(bpy.data.actions) == 0


@needs_aud
def test_float_samples_beyond_full_scale_bake_the_same_keys(scene, weights_ckpt, speech, tmp_path):
    """1e5 times full scale in a float WAV: the keys equal those of the same audio at a sane
    level; 3.4e38 is refused as a2f infer refuses it (it baked 1248 NaN keys of 1248, saved
    into the .blend)."""
    voice = load_audio(speech)
    loud = _wav_claiming(tmp_path / "loud.wav", 16000, voice / np.abs(voice).max() * 1e5,
                         float32=True)
    make_mesh("Face", ["jawOpen", "mouthClose"])
    configure(scene, weights_ckpt, source='FILE', audio_path=str(loud))
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    curve = next(fc for fc in nla.latest_bake_fcurves(bpy.data.objects["Face"].data.shape_keys)
                 if "jawOpen" in fc.data_path)
    values = np.array([k.co[1] for k in curve.keyframe_points])
    expected = Animator(weights_ckpt).animate(voice, 24.0, weights_ckpt.emotions["neutral"])
    # float32 rounding of the loud samples and of the gain (1e-7 relative each) through a
    # network with outputs of order 1
    np.testing.assert_allclose(values, expected[:len(values), weights_ckpt.channel_names.index(
        "jawOpen")], atol=1e-4)
    absurd = _wav_claiming(tmp_path / "absurd.wav", 16000, voice / np.abs(voice).max() * 3.4e38,
                           float32=True)
    actions = len(bpy.data.actions)
    configure(scene, weights_ckpt, source='FILE', audio_path=str(absurd))
    assert "far beyond full scale (1.0); re-export it normalised" in error_of(bpy.ops.a2f.generate)
    assert len(bpy.data.actions) == actions


@pytest.fixture
def batch_scene(scene, tmp_path):
    make_mesh("Face", ["jawOpen", "mouthClose"])
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "scene.blend"))
    write_wav(tmp_path / "a.wav", 1.0)
    return tmp_path


def run_batch(*args, cwd):
    return subprocess.run([sys.executable, str(REPO / "blender_addon" / "batch.py"), "--", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fps", ["0", "-24", "nan", "1e9"])
def test_batch_fps_outside_the_documented_range(batch_scene, weights_ckpt, fps):
    """--fps 0 was ignored, -24 baked 380,682 frames, nan named no option."""
    done = run_batch("--scene", "scene.blend", "--audio", "a.wav", "--object", "Face",
                     "--checkpoint", str(weights_ckpt.path), "--fps", fps,
                     "--save", "out.blend", cwd=batch_scene)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (f"a2f batch: error: --fps must be a number "
                                                     f"from 1 to 1000, got {float(fps)!r}")
    assert not (batch_scene / "out.blend").exists()


# --- hangs ---------------------------------------------------------------------------------

@pytest.fixture
def driver_scene(scene, tmp_path):
    """A file whose object has a Python-expression driver (one the simple-expression evaluator
    cannot take), as a stranger's .blend may have."""
    make_mesh("Face", ["jawOpen", "mouthClose"])
    driver = bpy.data.objects["Face"].driver_add("location", 0).driver
    driver.type, driver.expression = 'SCRIPTED', "[frame][0] * 0.1"
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "driver.blend"))
    bpy.ops.wm.read_homefile(use_empty=True)  # this process must not hold the driver either
    write_wav(tmp_path / "a.wav", 1.0)
    return tmp_path


def test_a_file_with_a_python_driver_bakes_and_the_batch_ends(driver_scene, weights_ckpt):
    """The bpy module never finished exiting after opening such a file: the bake was saved and
    the process hung. A hang now fails the test through the child's timeout."""
    done = run_batch("--scene", "driver.blend", "--audio", "a.wav", "--object", "Face",
                     "--checkpoint", str(weights_ckpt.path), "--save", "out.blend", cwd=driver_scene)
    assert done.returncode == 0, done.stderr
    assert "a2f: baked 24 frames of 'a' onto 'Face'" in done.stdout
    assert (driver_scene / "out.blend").is_file()


def test_importing_a_file_with_a_python_driver_ends(driver_scene):
    done = subprocess.run([sys.executable, str(REPO / "training" / "importers" / "blend_scene.py"),
                           str(driver_scene / "driver.blend"), "--object", "Face",
                           "--out", str(driver_scene / "data")],
                          cwd=driver_scene, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "a2f import blend: error:" in done.stderr, done.stderr


def test_a_fifo_as_checkpoint_is_refused_by_the_batch(batch_scene):
    fifo = batch_scene / "model.safetensors"
    os.mkfifo(fifo)
    done = run_batch("--scene", "scene.blend", "--audio", "a.wav", "--object", "Face",
                     "--checkpoint", str(fifo), cwd=batch_scene)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"a2f batch: error: checkpoint {fifo}: is not a regular file (a pipe or a device); "
        "choose a checkpoint file")


# --- one line instead of Blender's own errors ------------------------------------------------

def test_importing_a_file_that_is_not_a_blend_is_one_line(tmp_path):
    fake = tmp_path / "notes.blend"
    fake.write_text("not a blend file\n")
    done = subprocess.run([sys.executable, str(REPO / "training" / "importers" / "blend_scene.py"),
                           str(fake), "--object", "Face", "--out", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().startswith(f"a2f import blend: error: Blender cannot open {fake} (")
    assert done.stderr.strip().endswith("); give a .blend file saved by Blender")
    assert not (tmp_path / "data").exists()


# The child caps the size of any file it writes (RLIMIT_FSIZE) below the .blend's size, as a
# full disk would; Python ignores SIGXFSZ, so Blender's write fails instead of killing it.
CAPPED_BATCH = ("import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_FSIZE, "
                "(1000, 1000)); sys.argv = [sys.argv[0], '--', *sys.argv[1:]]; "
                f"runpy.run_path({str(REPO / 'blender_addon' / 'batch.py')!r}, run_name='__main__')")


def test_a_failed_save_onto_the_input_blend_keeps_it_and_says_why(batch_scene, weights_ckpt):
    scene_file = batch_scene / "scene.blend"
    before = scene_file.read_bytes()
    assert len(before) > 1000
    done = subprocess.run([sys.executable, "-c", CAPPED_BATCH, "--scene", "scene.blend", "--audio",
                           "a.wav", "--object", "Face", "--checkpoint", str(weights_ckpt.path),
                           "--save", "scene.blend"],
                          cwd=batch_scene, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "a2f batch: error: cannot save scene.blend: Blender could not write it (a full disk, a "
        "file size limit or no permission); any existing file there is unchanged, free some "
        "space or choose another path")
    assert scene_file.read_bytes() == before
