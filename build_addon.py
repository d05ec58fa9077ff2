"""Build dist/a2f-<version>.zip: the Blender add-on with the numpy-only a2f core vendored in.

The zip holds one folder, `a2f/`, with blender_manifest.toml and __init__.py, so it installs
both as an extension (Blender finds the manifest in a single top folder) and as a legacy
add-on (the folder becomes the module). The core is copied from the source tree at build time,
never kept twice in the repository; its torch/ (training only) and cli/ (no command line in
Blender) folders stay out, and the bundled default models and the shipped retarget presets go
in. The version is written once, in a2f_core/__init__.py; the zip's manifest and bl_info get it
here. Nothing is downloaded and nothing is pip-installed into Blender.
"""

import argparse
import sys
import tomllib
import zipfile
from pathlib import Path

from a2f_core import __version__

ROOT = Path(__file__).resolve().parent
ADDON = ROOT / "blender_addon"
CORE = ROOT / "a2f_core"
CORE_EXCLUDE = {"torch", "cli"}  # folders of a2f_core the add-on never imports
DATA_SUFFIXES = {".safetensors", ".json"}  # bundled models, retarget presets


def addon_files():
    """(path on disk, path in the zip) of everything the add-on ships."""
    files = [(p, Path("a2f") / p.relative_to(ADDON)) for p in sorted(ADDON.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".toml")]
    for p in sorted(CORE.rglob("*")):
        rel = p.relative_to(CORE)
        if "__pycache__" in rel.parts or rel.parts[0] in CORE_EXCLUDE or not p.is_file():
            continue
        if p.suffix == ".py" or p.suffix in DATA_SUFFIXES:
            files.append((p, Path("a2f") / "a2f_core" / rel))
    return files


def stamped(path: Path) -> str:
    """The text of a file the version goes into: blender_manifest.toml gets `version` after its
    `id`, __init__.py's bl_info a "version" tuple (Blender reads both without importing)."""
    text = path.read_text()
    if path == ADDON / "blender_manifest.toml":
        anchor, line = "\nid = ", f'version = "{__version__}"\n'
    else:
        anchor, line = "\nbl_info = {\n", f'    "version": {tuple(map(int, __version__.split(".")))},\n'
    at = text.index(anchor) + 1
    at = text.index("\n", at) + 1
    return text[:at] + line + text[at:]


STAMPED = {ADDON / "blender_manifest.toml", ADDON / "__init__.py"}


def check_numpy_only(files):
    """The vendored core must not import torch (Blender has none)."""
    for path, arcname in files:
        if path.suffix == ".py" and any(line.lstrip().startswith(("import torch", "from torch"))
                                        for line in path.read_text().splitlines()):
            sys.exit(f"build_addon: {arcname} imports torch; keep it out of the add-on")


def build(out_dir: Path) -> Path:
    manifest = tomllib.loads(stamped(ADDON / "blender_manifest.toml"))
    out = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    files = addon_files()
    check_numpy_only(files)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, arcname in files:
            if path in STAMPED:
                zf.writestr(arcname.as_posix(), stamped(path))
            else:
                zf.write(path, arcname.as_posix())
    tmp.replace(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    print(build(parser.parse_args(argv).out))


if __name__ == "__main__":
    main()
