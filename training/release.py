"""`python -m training.release RUN_CKPT OUT`: a trained checkpoint made fit to ship.

Drops what only training and mining need (the per-frame emotion table and its take index),
stores the weights as float16 and checks on real speech that the shipped model still animates
like the original, so a release never silently loses accuracy. A vertex model released with
`--mesh` (an .npz with the template's `faces`, or training/assets/ict_head.npz for a model of
the demo head's skin) carries its mesh's topology fingerprint, so the
add-on refuses a mesh with its vertex count but another vertex order.

`python -m training.release --stamp CKPT --mesh MESH.npz` adds the fingerprint to a checkpoint
in place, leaving its tensors as they are.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from a2f_core.audio import load_audio
from a2f_core import topology
from a2f_core.checkpoint import load_checkpoint, save_checkpoint, update_metadata
from a2f_core.errors import A2FError
from a2f_core.infer import Animator
from training.assets.ict_head import load_head

PARITY_TOLERANCE = 0.01  # max |shipped - original| output, relative to the output range


def release(source, target, dtype="float16", mesh=None) -> float:
    """Write the shipped checkpoint; returns the parity error measured on a spoken line.
    Above PARITY_TOLERANCE nothing is written (an existing target is kept) and A2FError says so.
    mesh: an .npz whose `faces` connect a vertex model's template, or the demo head's asset for a
    model of its skin (the topology is stored)."""
    target = Path(target)
    candidate = target.with_name(target.name + ".candidate")
    ckpt = load_checkpoint(source)
    tensors = {k: v for k, v in ckpt.tensors.items() if not k.startswith("training.")}
    meta = {k: v for k, v in ckpt.meta.items()
            if k not in ("format", "format_version", "config", "fps", "emotions",
                         "channel_names", "provenance", "training")}
    save_checkpoint(candidate, tensors, ckpt.config, fps=ckpt.fps,
                    channel_names=ckpt.channel_names, emotions=ckpt.meta["emotions"],
                    provenance=ckpt.meta.get("provenance"), extra_meta=meta, dtype=dtype)
    if mesh is not None:
        stamp_topology(candidate, mesh)
    error = parity_error(ckpt, load_checkpoint(candidate))
    if error > PARITY_TOLERANCE:
        candidate.unlink()
        raise A2FError(f"{dtype} storage moves outputs by {error:.2e} of their range (limit "
                       f"{PARITY_TOLERANCE}); {target} left unchanged, try --dtype float32")
    os.replace(candidate, target)
    return error


def stamp_topology(path, mesh) -> dict:
    """Store the topology of mesh (.npz with `faces`) in the vertex checkpoint at path."""
    ckpt = load_checkpoint(path)
    if ckpt.kind != "vertices":
        raise A2FError(f"{path} is a weights model; only vertex models carry a mesh topology")
    try:
        with np.load(mesh) as f:
            scanned = "polygon_sizes" in f  # the demo head (ict_head.npz): its skin's polygons
            faces = load_head(mesh).skin().polygons("skin") if scanned else np.asarray(f["faces"])
    except (OSError, KeyError, ValueError) as e:
        raise A2FError(f"cannot read faces from {mesh} ({e}); give an .npz with a 'faces' array") from None
    count = len(ckpt.template)
    corners = np.concatenate([np.ravel(face) for face in faces]) if len(faces) else np.zeros(0)
    if corners.size == 0 or corners.min() < 0 or corners.max() >= count:
        raise A2FError(f"the faces of {mesh} do not index a mesh of {count} vertices, the template "
                       f"of {path}; give the mesh the model was trained on")
    entry = topology.fingerprint(count, topology.edges_from_faces(faces))
    update_metadata(path, topology=entry)
    return entry


def parity_error(original, shipped) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "line.wav"
        subprocess.run(["espeak-ng", "-w", str(wav),
                        "Bring me a warm bowl of soup, please, before you go."], check=True)
        samples = load_audio(wav)
    worst, before, after = 0.0, Animator(original), Animator(shipped)
    for name, vector in original.emotions.items():
        a = before.animate(samples, 30.0, vector)
        b = after.animate(samples, 30.0, shipped.emotions[name])
        worst = max(worst, float(np.abs(a - b).max() / (np.ptp(a) + 1e-9)))
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", help="trained checkpoint (e.g. RUN_DIR/best.safetensors)")
    parser.add_argument("target", nargs="?", help="where to write the shipped checkpoint")
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    parser.add_argument("--mesh", help="vertex models: .npz with the template's faces; stores "
                        "its topology fingerprint")
    parser.add_argument("--stamp", metavar="CKPT", help="only add --mesh's topology to CKPT, in place")
    args = parser.parse_args(argv)
    if args.stamp:
        if not args.mesh:
            parser.error("--stamp needs --mesh")
        try:
            entry = stamp_topology(args.stamp, args.mesh)
        except A2FError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(f"{args.stamp}: topology of {entry['vertices']} vertices, {entry['edges']} edges stored")
        return 0
    if not args.source or not args.target:
        parser.error("give SOURCE and TARGET (or --stamp CKPT --mesh MESH.npz)")
    try:
        error = release(args.source, args.target, args.dtype, args.mesh)
    except A2FError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    size = Path(args.target).stat().st_size / 2**20
    print(f"{args.target}: {size:.1f} MiB, {args.dtype}, parity error {error:.2e} of the "
          f"output range (limit {PARITY_TOLERANCE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
