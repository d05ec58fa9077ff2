"""Writing a bake into Blender, shared by the Generate operator and batch.py.

A `BakeJob` runs the network chunk by chunk (`step()`, for progress and Esc) and changes
nothing in the file until `apply()` writes everything at once, so cancelling is just dropping
the job. Keys are written in bulk: one `keyframe_points.add` and `foreach_set` per F-curve.

Output by checkpoint kind:
- weights: one F-curve per shape key matched by name (name_matching) on a new action of the
  mesh's shape keys.
- vertices, SHAPE_KEYS: the last linear layer y = h @ W.T + b becomes shape keys, one for the
  mean offset b (value 1) and one per hidden unit k holding W[:, k] * s_k, keyed h_k / s_k with
  s_k = max |h_k| so values stay in [-1, 1]; their sum is exactly the network output.
- vertices, POINT_CACHE: absolute positions (basis + output) in a .pc2 file read by a Mesh
  Cache modifier.
"""

import struct
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from . import compat, life_bake
from .core import A2FError, arkit, infer
from .name_matching import match_channels

MEAN_KEY = "a2f mean"
BASIS_KEY = "a2f basis {:03d}"
CACHE_MODIFIER = "a2f cache"
_LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value


@dataclass
class BakeSettings:
    """Choices that are not part of the audio, the checkpoint or the emotion."""

    vertex_output: str = "SHAPE_KEYS"  # vertex models: "SHAPE_KEYS" or "POINT_CACHE"
    overrides: dict = field(default_factory=dict)  # channel -> shape key ("" = leave out)
    create_missing_keys: bool = False  # add the ARKit shape keys the mesh lacks, empty
    cache_dir: str = "//a2f_cache"     # folder of point-cache files (may be blend-relative)
    lip_contact: bool = True           # apply the checkpoint's lip contact head, if it has one
    life: life_bake.LifeBake = field(default_factory=life_bake.LifeBake)  # weights models


@dataclass
class BakeResult:
    action: object        # the new action, or None for a point cache
    keyed: list           # shape keys (or files) written
    unmatched: list       # channels of a weights model no shape key took

    def summary(self, clip, obj) -> str:
        text = (f"baked {clip.frame_count} frames of '{clip.name}' onto '{obj.name}' "
                f"({len(self.keyed)} channels)")
        if self.unmatched:
            shown = ", ".join(self.unmatched[:6])
            more = len(self.unmatched) - 6
            text += f"; no shape key for {len(self.unmatched)}: {shown}" + (f" and {more} more" if more > 0 else "")
        return text


class BakeJob:
    """One bake of clip onto obj: `step()` until it returns True, then `apply()`."""

    def __init__(self, obj, clip, checkpoint, emotion, settings: BakeSettings):
        """emotion: (E,) or (clip.frame_count, E) float32."""
        if obj is None or obj.type != 'MESH':
            raise A2FError("the target must be a mesh object; select the face mesh")
        reason = not_editable(obj)
        if reason:
            raise A2FError(reason)
        self.obj, self.clip, self.checkpoint, self.settings = obj, clip, checkpoint, settings
        if checkpoint.kind == "vertices":
            _check_vertex_count(obj, checkpoint)
        else:
            self._check_some_channel_matches()
        self._animator = infer.Animator(checkpoint, settings.lip_contact)
        n = self._animator.frame_count(clip.samples, clip.fps, clip.start_seconds)
        emotion = np.asarray(emotion, np.float32)
        if emotion.ndim == 2:  # frames past the keyed range (never kept) reuse the last row
            emotion = np.concatenate([emotion, np.repeat(emotion[-1:], n - len(emotion), 0)])
        # the vertex basis keys the hidden layer itself; everything else keys the output frames
        self._keys_hidden = (checkpoint.kind == "vertices"
                             and settings.vertex_output != "POINT_CACHE")
        chunks = self._animator.iter_hidden if self._keys_hidden else self._animator.iter_frames
        self._chunks = chunks(clip.samples, clip.fps, emotion, clip.start_seconds)
        self.computed = None  # (frames, hidden) or (frames, outputs)
        self._done = 0

    @property
    def progress(self) -> float:
        return self._done / self.clip.frame_count

    def step(self) -> bool:
        """Compute the next chunk of frames; True once every keyed frame is done."""
        if self._done >= self.clip.frame_count:
            return True
        first, h = next(self._chunks)
        if self.computed is None:
            self.computed = np.empty((self.clip.frame_count, h.shape[1]), np.float32)
        keep = h[:self.clip.frame_count - first]
        self.computed[first:first + len(keep)] = keep
        self._done = first + len(keep)
        return self._done >= self.clip.frame_count

    def run(self) -> BakeResult:
        """The whole bake in one go (batch, tests, the operator's non-interactive path)."""
        while not self.step():
            pass
        return self.apply()

    def apply(self) -> BakeResult:
        """Write the computed frames into the file."""
        if self.checkpoint.kind == "weights":
            weights, rotations = life_bake.liven(self.clip, self.computed,
                                                 self.checkpoint.channel_names, self.settings.life)
            result = self._write_weights(weights)
            result.keyed += life_bake.write_rotations(result.action, self.clip, rotations,
                                                      self.settings.life.targets, write_keys)
            return result
        if not self._keys_hidden:
            return self._write_point_cache(self.computed.reshape(len(self.computed), -1, 3))
        return self._write_vertex_basis(self.computed, *self._animator.output_layer())

    # --- weights --------------------------------------------------------------------------

    def _matches(self, key_names):
        return match_channels(self.checkpoint.channel_names, key_names, self.settings.overrides)

    def _check_some_channel_matches(self):
        if self.settings.create_missing_keys and set(self.checkpoint.channel_names) & set(arkit.ARKIT_NAMES):
            return
        mapping, _ = self._matches(shape_key_names(self.obj))
        if not mapping:
            raise A2FError(f"no shape key of '{self.obj.name}' matches a channel of "
                           f"{Path(self.checkpoint.path).name} (e.g. {self.checkpoint.channel_names[0]}); "
                           "enable 'Create missing ARKit keys' or edit the name mapping")

    def _write_weights(self, weights: np.ndarray) -> BakeResult:
        if self.settings.create_missing_keys:
            mapping, unmatched = self._matches(shape_key_names(self.obj))
            for name in unmatched:
                if name in arkit.ARKIT_NAMES and self.settings.overrides.get(name, None) != "":
                    _shape_key(self.obj, name)
        mapping, unmatched = self._matches(shape_key_names(self.obj))
        key = self.obj.data.shape_keys
        action, fcurves = new_action(key, self.clip.name)
        column = {c: i for i, c in enumerate(self.checkpoint.channel_names)}
        for channel, key_name in mapping.items():
            write_keys(fcurves, _key_value_path(key_name), self.clip.frames,
                       weights[:, column[channel]])
        return BakeResult(action, sorted(mapping.values()), unmatched)

    # --- vertices -------------------------------------------------------------------------

    def _write_vertex_basis(self, hidden: np.ndarray, w: np.ndarray, b: np.ndarray) -> BakeResult:
        basis = _basis_coords(self.obj)
        scale = np.abs(hidden).max(axis=0)
        scale[scale == 0] = 1.0
        _set_key_coords(_shape_key(self.obj, MEAN_KEY), basis + b)
        names = [BASIS_KEY.format(k) for k in range(w.shape[1])]
        for k, name in enumerate(names):
            block = _shape_key(self.obj, name)
            block.slider_min, block.slider_max = -1.0, 1.0
            _set_key_coords(block, basis + w[:, k] * scale[k])
        action, fcurves = new_action(self.obj.data.shape_keys, self.clip.name)
        write_keys(fcurves, _key_value_path(MEAN_KEY), self.clip.frames[:1], np.ones(1))
        for k, name in enumerate(names):
            write_keys(fcurves, _key_value_path(name), self.clip.frames, hidden[:, k] / scale[k])
        return BakeResult(action, [MEAN_KEY] + names, [])

    def _write_point_cache(self, offsets: np.ndarray) -> BakeResult:
        positions = _basis_coords(self.obj).reshape(-1, 3) + offsets
        folder = Path(bpy.path.abspath(self.settings.cache_dir))
        if not folder.is_absolute():
            raise A2FError(f"the point-cache folder {self.settings.cache_dir} is relative to an "
                           "unsaved .blend file; save the file or choose an absolute folder")
        path = folder / f"{bpy.path.clean_name(self.obj.name)}_{bpy.path.clean_name(self.clip.name)}.pc2"
        write_pc2(path, positions, self.clip.frame_first, self.clip.fps)
        mod = self.obj.modifiers.get(CACHE_MODIFIER) or self.obj.modifiers.new(CACHE_MODIFIER, 'MESH_CACHE')
        mod.cache_format = 'PC2'
        mod.filepath = str(path)
        mod.frame_start = self.clip.frame_first
        mod.frame_scale = 1.0
        return BakeResult(None, [str(path)], [])


# --- building blocks ------------------------------------------------------------------------

def new_action(id_data, name: str):
    """A new active action for id_data; the previous one keeps a fake user so it is never lost."""
    anim = id_data.animation_data
    if anim is not None and anim.action is not None:
        anim.action.use_fake_user = True
    return compat.assign_new_action(id_data, name)


def write_keys(fcurves, data_path: str, frames: np.ndarray, values: np.ndarray, index=0):
    """A new F-curve with one linear key per frame, written in bulk."""
    points = fcurves.new(data_path, index=index).keyframe_points
    co = np.empty(2 * len(frames), np.float32)
    co[0::2], co[1::2] = frames, values
    points.add(len(frames))
    points.foreach_set("co", co)
    points.foreach_set("interpolation", np.full(len(frames), _LINEAR, np.int32))
    # Keys are sorted and unique and all linear, so fcurve.update() (handle recalculation) is not needed.


def shape_key_names(obj) -> list:
    """The mesh's shape keys that can be keyed (the basis excluded)."""
    key = obj.data.shape_keys
    if key is None:
        return []
    return [k.name for k in key.key_blocks if k != key.reference_key]


def write_pc2(path: Path, positions: np.ndarray, frame_first: float, fps: float):
    """(T, V, 3) positions as a PC2 point cache (header + float32 samples)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames, verts, _ = positions.shape
    with open(path, "wb") as f:
        f.write(struct.pack("<12siiffi", b"POINTCACHE2\0", 1, verts, float(frame_first), 1.0, frames))
        f.write(np.ascontiguousarray(positions, "<f4").tobytes())


def not_editable(obj):
    """Why obj cannot take a bake, or None: linked (library) data is read-only, and keys put on
    it would be lost when the file is saved."""
    for what, block in (("object", obj), ("mesh", obj.data),
                        ("shape keys", getattr(obj.data, "shape_keys", None))):
        if block is not None and (block.library is not None
                                  or not getattr(block, "is_editable", True)):
            source = block.library.filepath if block.library is not None else "a library"
            return (f"'{obj.name}' is linked from {source} ({what}) and cannot be edited; make "
                    "it local (Object > Relations > Make Local) or use a library override")
    return None


def _check_vertex_count(obj, checkpoint):
    expected = len(checkpoint.template)
    if len(obj.data.vertices) != expected:
        raise A2FError(f"'{obj.name}' has {len(obj.data.vertices)} vertices but "
                       f"{Path(checkpoint.path).name} animates meshes of {expected}; use the mesh "
                       "the model was trained on (same vertex count and order)")


def _key_value_path(key_name: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(key_name)}"].value'


def _shape_key(obj, name: str):
    """The shape key called name, created empty (and the basis with it) when missing."""
    if obj.data.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
    return obj.data.shape_keys.key_blocks.get(name) or obj.shape_key_add(name=name, from_mix=False)


def _basis_coords(obj) -> np.ndarray:
    """(3V,) float32 rest positions: the reference shape key, else the mesh's vertices."""
    key = obj.data.shape_keys
    source = key.reference_key.data if key is not None else obj.data.vertices
    co = np.empty(3 * len(source), np.float32)
    source.foreach_get("co", co)
    return co


def _set_key_coords(block, co: np.ndarray):
    block.data.foreach_set("co", np.ascontiguousarray(co, np.float32))
