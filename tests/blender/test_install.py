"""Registration, and the built zip installed into a clean Blender user folder both ways."""

import os
import subprocess
import sys
import textwrap

import addon_utils
import bpy
import pytest
from bpy_fixtures import REPO

import build_addon
from a2f_core.retarget import shipped_presets

INSTALL_AND_BAKE = textwrap.dedent("""
    import sys, bpy, addon_utils
    zip_path, mode, wav, ckpt = sys.argv[1:5]
    if mode == "legacy":
        bpy.ops.preferences.addon_install(filepath=zip_path)
        module = addon_utils.enable("a2f", default_set=True, handle_error=None)
    else:
        bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                 enable_on_install=True)
        module = sys.modules["bl_ext.user_default.a2f"]
    core = sys.modules[module.__name__ + ".core"]
    assert core.checkpoint.__file__.startswith(bpy.utils.user_resource("EXTENSIONS" if mode == "ext" else "SCRIPTS")), core.checkpoint.__file__
    bpy.ops.wm.read_homefile(use_empty=True)
    mesh = bpy.data.meshes.new("Face")
    mesh.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    face = bpy.data.objects.new("Face", mesh)
    bpy.context.scene.collection.objects.link(face)
    bpy.context.view_layer.objects.active = face
    face.shape_key_add(name="Basis")
    face.shape_key_add(name="jawOpen")
    s = bpy.context.scene.a2f
    s.source, s.audio_path, s.checkpoint_path = 'FILE', wav, ckpt
    s.retarget_preset = "arkit"  # a shipped preset, read from the installed copy
    assert bpy.ops.a2f.generate() == {'FINISHED'}
    (track,) = face.data.shape_keys.animation_data.nla_tracks
    print("BAKED", module.__name__, track.name, track.strips[0].action.name, flush=True)
    import os
    os._exit(0)  # skip interpreter teardown: bpy 4.2's module crashes there (see bpy_fixtures.py)
""")


def test_register_and_unregister_cleanly(addon):
    assert hasattr(bpy.types.Scene, "a2f") and hasattr(bpy.ops.a2f, "generate")
    addon_utils.disable("blender_addon", default_set=True)
    assert not hasattr(bpy.types.Scene, "a2f")
    assert not hasattr(bpy.types, "A2F_PT_generate")
    assert "blender_addon" not in bpy.context.preferences.addons
    assert addon_utils.enable("blender_addon", default_set=True, handle_error=None) is not None
    assert hasattr(bpy.types, "A2F_PT_generate") and bpy.context.scene.a2f.emotion_intensity == 1.0


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    return build_addon.build(tmp_path_factory.mktemp("dist"))


def test_zip_holds_the_addon_and_a_numpy_only_core(built_zip):
    import zipfile
    names = zipfile.ZipFile(built_zip).namelist()
    assert built_zip.name == "a2f-0.1.0.zip"
    assert {"a2f/blender_manifest.toml", "a2f/__init__.py", "a2f/batch.py",
            "a2f/a2f_core/infer.py", "a2f/a2f_core/checkpoint.py", "a2f/nla.py",
            "a2f/a2f_core/retarget.py", "a2f/a2f_core/topology.py"} <= set(names)
    assert {f"a2f/a2f_core/presets/{stem}.json" for stem in shipped_presets()} <= set(names)
    assert not any(n.endswith(("model.py", "losses.py")) or "__pycache__" in n for n in names)
    assert not any(n.startswith("a2f/a2f_core/") for n in os.listdir(REPO / "blender_addon"))


def test_zip_manifest_and_bl_info_carry_the_core_version(built_zip):
    import ast
    import tomllib
    import zipfile

    from a2f_core import __version__
    with zipfile.ZipFile(built_zip) as zf:
        manifest = tomllib.loads(zf.read("a2f/blender_manifest.toml").decode())
        init = ast.parse(zf.read("a2f/__init__.py").decode())
    bl_info = next(ast.literal_eval(node.value) for node in init.body if isinstance(node, ast.Assign)
                   and node.targets[0].id == "bl_info")
    assert manifest["version"] == __version__
    assert ".".join(map(str, bl_info["version"])) == __version__


@pytest.mark.parametrize("mode", ["legacy", "ext"])
def test_built_zip_installs_enables_and_bakes(built_zip, mode, tmp_path, weights_ckpt, speech):
    env = dict(os.environ, BLENDER_USER_SCRIPTS=str(tmp_path / "scripts"),
               BLENDER_USER_CONFIG=str(tmp_path / "config"),
               BLENDER_USER_EXTENSIONS=str(tmp_path / "extensions"),
               PYTHONPATH="")  # the installed copy must work without the source tree
    done = subprocess.run([sys.executable, "-c", INSTALL_AND_BAKE, str(built_zip), mode,
                           str(speech), str(weights_ckpt.path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "BAKED" in done.stdout and "a2f: line_01 (neutral) line_01" in done.stdout
