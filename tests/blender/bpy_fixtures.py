"""Real-bpy fixtures and helpers: the add-on enabled from the source tree, WAVs, meshes, checkpoints.

conftest.py loads this module only where the bpy module is installed.
"""

import os
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

import bpy

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import addon_utils  # noqa: E402  (a Blender module: importable once bpy is)

from a2f_core.checkpoint import load_checkpoint, random_checkpoint  # noqa: E402

from blender_addon import compat  # noqa: E402

HAS_AUD = compat.has_audaspace()
needs_aud = pytest.mark.skipif(not HAS_AUD, reason="this bpy build has no Audaspace (aud): "
                               "no sound strips, no Blender decoder")


def write_wav(path, seconds, rate=16000, channels=1, seed=0):
    """Speech-like test audio: voiced harmonics with a syllable-rate envelope, 16-bit PCM."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    pitch = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3.1 * t + rng.uniform(0, 6)), 0, None) ** 2
    x = 0.3 * voice * envelope + 0.01 * rng.standard_normal(len(t))
    x = np.repeat(x[:, None], channels, axis=1) * np.linspace(1, 0.8, channels)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())
    return Path(path)


def configure(scene, ckpt, **settings):
    """scene.a2f set to use checkpoint ckpt, plus any other a2f settings; returns scene.a2f."""
    s = scene.a2f
    s.checkpoint_path = str(ckpt.path)
    for k, v in settings.items():
        setattr(s, k, v)
    return s


def make_mesh(name, key_names=(), vertices=None):
    """A mesh object (a small grid unless vertices (V, 3) are given) with a basis and key_names."""
    if vertices is None:
        g = np.linspace(-1, 1, 4)
        vertices = np.array([(x, y, 0.0) for x in g for y in g])
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata([tuple(v) for v in np.asarray(vertices, float)], [], [])
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    if key_names:
        obj.shape_key_add(name="Basis", from_mix=False)
        for n in key_names:
            obj.shape_key_add(name=n, from_mix=False)
    bpy.context.view_layer.objects.active = obj
    return obj


def make_armature(name, bones):
    """An armature object with bones [(name, head, tail)], back in object mode and active."""
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode='EDIT')
    for bone, head, tail in bones:
        b = arm.edit_bones.new(bone)
        b.head, b.tail = head, tail
    bpy.ops.object.mode_set(mode='OBJECT')
    return obj


@pytest.fixture(scope="session", autouse=True)
def addon():
    """The add-on enabled from the source tree (it falls back to the top-level a2f_core)."""
    module = addon_utils.enable("blender_addon", default_set=True, handle_error=None)
    assert module is not None, "blender_addon failed to enable"
    yield module
    addon_utils.disable("blender_addon", default_set=True)


@pytest.fixture
def scene():
    """A new empty file, its liveliness layer off: bakes equal the network's output (the
    layer's own tests switch it on)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.a2f.life.enabled = False
    return bpy.context.scene


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("a2f_blender")


@pytest.fixture(scope="session")
def weights_ckpt(data_dir):
    path = random_checkpoint(data_dir / "weights.safetensors", kind="weights", seed=1)
    return load_checkpoint(path)


@pytest.fixture(scope="session")
def speech(data_dir):
    """2.5 s of 16 kHz mono speech-like audio: 60 frames at 24 fps exactly."""
    return write_wav(data_dir / "line_01.wav", 2.5)


_exit_status = []


def pytest_sessionfinish(session, exitstatus):
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config):
    """Leave without interpreter teardown, keeping pytest's exit status.

    The PyPI bpy module (seen with 4.2.23) segfaults while Python shuts down once an RNA property
    with a Python callback (dynamic enum items, pointer poll) has been registered, even after
    unregistering; Blender itself does not. The report is already printed at this point.
    """
    if _exit_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[0])
