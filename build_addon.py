"""Build dist/a2f-<version>.zip: the Blender add-on with the numpy-only a2f core vendored in.

The zip holds one folder, `a2f/`, with blender_manifest.toml and __init__.py, so it installs
both as an extension (Blender finds the manifest in a single top folder) and as a legacy
add-on (the folder becomes the module). The core is copied from the source tree at build time,
never kept twice in the repository; its torch/ (training only) and cli/ (no command line in
Blender) folders stay out, and the bundled default models and the shipped retarget presets go
in. Nothing is downloaded and nothing is pip-installed into Blender.
"""

import argparse
import sys
import tomllib
import zipfile
from pathlib import Path

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


def check_numpy_only(files):
    """The vendored core must not import torch (Blender has none)."""
    for path, arcname in files:
        if path.suffix == ".py" and any(line.lstrip().startswith(("import torch", "from torch"))
                                        for line in path.read_text().splitlines()):
            sys.exit(f"build_addon: {arcname} imports torch; keep it out of the add-on")


def build(out_dir: Path) -> Path:
    manifest = tomllib.loads((ADDON / "blender_manifest.toml").read_text())
    out = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    files = addon_files()
    check_numpy_only(files)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, arcname in files:
            zf.write(path, arcname.as_posix())
    tmp.replace(out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    print(build(parser.parse_args(argv).out))


if __name__ == "__main__":
    main()
