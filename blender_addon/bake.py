"""Writing a bake into Blender, shared by the Generate operator and batch.py.

A `BakeJob` runs the network chunk by chunk (`step()`, for progress and Esc) and changes
nothing in the file until `apply()` writes everything at once, so cancelling is just dropping
the job. Keys are written in bulk: one `keyframe_points.add` and `foreach_set` per F-curve.

Output by checkpoint kind:
- weights: one F-curve per shape key matched by name (name_matching), or per target of a
  retarget preset (a2f_core.retarget), on a new action of each mesh's shape keys; armatures get
  their poses blended onto the bones (armature.py). The liveliness layer (life_bake.py) shapes
  the weights first, and its head and eye rotations are keyed on their objects or bones.
- vertices, SHAPE_KEYS: the last linear layer y = h @ W.T + b becomes shape keys, one for the
  mean offset b (value 1) and one per hidden unit k holding W[:, k] * s_k, keyed h_k / s_k with
  s_k = max |h_k| so values stay in [-1, 1]; their sum is exactly the network output.
- vertices, POINT_CACHE: absolute positions (basis + output) in a .pc2 file read by a Mesh
  Cache modifier.

Every action a bake makes plays in an NLA strip over the object's own animation (nla.py).
"""

import dataclasses
import struct
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from . import armature, compat, life_bake, nla
from .core import A2FError, arkit, infer, retarget, topology
from .name_matching import match_channels

MIN_GUESSED = 3  # keys a shipped preset must match to be chosen for a rig the model's names miss
TARGET_TYPES = ('MESH', 'ARMATURE')  # shape keys, or poses blended onto bones (armature.py)
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
    preset: object = None              # a2f_core.retarget.Preset: channels -> the rig's keys
    emotion_label: str = "neutral"     # names the bake's NLA track with the audio
    blend_type: str = "REPLACE"        # the bake's strip over the animation: "REPLACE" or "ADD"
    life: life_bake.LifeBake = field(default_factory=life_bake.LifeBake)  # weights models


@dataclass
class BakeResult:
    action: object        # the (first mesh's) new action, or None for a point cache
    keyed: list           # shape keys (or files) written, on any of the meshes
    unmatched: list       # channels (or preset targets) no shape key took on any mesh
    objects: list = field(default_factory=list)  # names of the meshes baked
    preset: str = ""      # the retarget preset's name, if one was used

    def summary(self, clip, obj) -> str:
        names = ", ".join(f"'{n}'" for n in self.objects or [obj.name])
        through = f", preset '{self.preset}'" if self.preset else ""
        text = (f"baked {clip.frame_count} frames of '{clip.name}' onto {names} "
                f"({len(self.keyed)} channels{through})")
        if self.unmatched:
            shown = ", ".join(self.unmatched[:6])
            more = len(self.unmatched) - 6
            text += f"; no shape key for {len(self.unmatched)}: {shown}" + (f" and {more} more" if more > 0 else "")
        return text


class BakeJob:
    """One bake of clip onto one mesh or several (face, teeth, tongue...): `step()` until it
    returns True, then `apply()`, which writes every mesh in one go (one undo step)."""

    def __init__(self, obj, clip, checkpoint, emotion, settings: BakeSettings):
        """obj: a mesh object or a list of them, the face first; emotion: (E,) or
        (clip.frame_count, E) float32."""
        objs = list(obj) if isinstance(obj, (list, tuple)) else [obj]
        if not objs or any(o is None or o.type not in TARGET_TYPES for o in objs):
            raise A2FError("the target must be a mesh or an armature; select the face mesh or rig")
        turned = [o for o, _ in settings.life.targets.values()]  # by weights models only
        for o in objs + (turned if checkpoint.kind == "weights" else []):
            reason = not_editable(o)
            if reason:
                raise A2FError(reason)
        self.obj, self.clip, self.checkpoint, self.settings = objs[0], clip, checkpoint, settings
        self._pose_cache = {}
        if checkpoint.kind == "vertices":
            if len(objs) > 1 or objs[0].type != 'MESH':
                raise A2FError(f"a vertex model animates one mesh, the one it was trained on; "
                               f"select only that mesh, not '{objs[-1].name}'")
            if settings.preset is not None:
                raise A2FError("a retarget preset maps a weights model's channels; clear the "
                               "preset to bake this vertex model")
            _check_vertex_count(self.obj, checkpoint)
            self.objs = objs
        else:
            if settings.preset is None and not any(self._matches(o)[0] for o in objs):
                self.settings = settings = dataclasses.replace(settings, preset=self._guess_preset(objs))
            if settings.preset is not None:  # a preset reading channels the model lacks fails here
                settings.preset.apply(checkpoint.channel_names, np.zeros((0, len(checkpoint.channel_names))))
            self.objs = self._meshes_that_match(objs)
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
            return self._write_weights(weights, rotations)
        if not self._keys_hidden:
            return self._write_point_cache(self.computed.reshape(len(self.computed), -1, 3))
        return self._write_vertex_basis(self.computed, *self._animator.output_layer())

    # --- weights --------------------------------------------------------------------------

    def _target_names(self) -> list:
        """What the bake keys: the preset's targets, or the model's channels."""
        preset = self.settings.preset
        return list(preset.targets) if preset is not None else self.checkpoint.channel_names

    def _matches(self, obj):
        """(target -> shape key or pose action name, unmatched targets) for obj."""
        if obj.type == 'ARMATURE':
            return match_channels(self._target_names(), list(self._poses(obj)))
        overrides = self.settings.overrides if self.settings.preset is None else {}
        return match_channels(self._target_names(), shape_key_names(obj), overrides)

    def _poses(self, obj) -> dict:
        if obj.name not in self._pose_cache:
            self._pose_cache[obj.name] = armature.poses(obj)
        return self._pose_cache[obj.name]

    def _creates_keys(self) -> bool:
        return (self.settings.create_missing_keys and self.settings.preset is None
                and bool(set(self.checkpoint.channel_names) & set(arkit.ARKIT_NAMES)))

    def _guess_preset(self, objs):
        """The shipped preset whose targets match the most keys or poses of objs (at least
        MIN_GUESSED), for rigs whose names are not the model's; None if none does."""
        if self._creates_keys():
            return None
        names = [n for o in objs for n in (self._poses(o) if o.type == 'ARMATURE' else shape_key_names(o))]
        best, best_count = None, MIN_GUESSED - 1
        for stem in retarget.shipped_presets():
            preset = retarget.load_preset(stem)
            if not set(preset.channels) <= set(self.checkpoint.channel_names):
                continue
            count = len(match_channels(list(preset.targets), names)[0])
            if count > best_count:
                best, best_count = preset, count
        return best

    def _meshes_that_match(self, objs) -> list:
        """The meshes that get keys: every one with a matching shape key (the first always when
        missing keys are created); an error when none has one."""
        matching = [o for i, o in enumerate(objs)
                    if self._matches(o)[0] or (i == 0 and o.type == 'MESH' and self._creates_keys())]
        if matching:
            return matching
        names = self._target_names()
        source = (f"preset '{self.settings.preset.name}'" if self.settings.preset is not None
                  else Path(self.checkpoint.path).name)
        meshes = " or ".join(f"'{o.name}'" for o in objs)
        what = "a target of" if self.settings.preset is not None else "a channel of"
        if all(o.type == 'ARMATURE' for o in objs):
            raise A2FError(f"no pose action matches {what} {source} (e.g. {names[0]}) for {meshes}; "
                           f"name one action per pose after its target (e.g. {names[0]})")
        advice = ("choose the preset made for this rig" if self.settings.preset is not None
                  else "enable 'Create missing ARKit keys', choose a retarget preset or edit the name mapping")
        raise A2FError(f"no shape key of {meshes} matches {what} {source} (e.g. {names[0]}); {advice}")

    def _write_weights(self, weights: np.ndarray, rotations: np.ndarray) -> BakeResult:
        """Keys weights on every matching mesh or rig, and the (T, 9) head and eye rotations on
        their targets: a rig of this bake turns its bones in its own strip, any other target
        object gets a strip of its own on the same track name."""
        turning, turned = life_bake.rotation_curves(rotations, self.settings.life.targets)
        values = weights
        if self.settings.preset is not None:
            values = self.settings.preset.apply(self.checkpoint.channel_names, weights)
        column = {c: i for i, c in enumerate(self._target_names())}
        actions, keyed, unmatched = [], set(), None
        for i, obj in enumerate(self.objs):
            if i == 0 and obj.type == 'MESH' and self._creates_keys():
                for name in self._matches(obj)[1]:
                    if name in arkit.ARKIT_NAMES and self.settings.overrides.get(name, None) != "":
                        _shape_key(obj, name)
            mapping, missing = self._matches(obj)
            if obj.type == 'ARMATURE':
                targets = list(mapping)
                poses = self._poses(obj)
                curves = armature.blend([poses[mapping[t]] for t in targets],
                                        values[:, [column[t] for t in targets]])
                # head and eye bones turn in the poses' strip (over a pose's keys of them)
                curves.update(turning.pop(obj.name, (obj, {}))[1])
                actions.append(self._write_action(obj, curves))
            else:
                curves = {(_key_value_path(k), 0): values[:, column[c]] for c, k in mapping.items()}
                actions.append(self._write_action(obj.data.shape_keys, curves))
            keyed.update(mapping.values())
            unmatched = [c for c in (missing if unmatched is None else unmatched) if c in missing]
        for obj, curves in turning.values():
            self._write_action(obj, curves)
        preset = self.settings.preset.name if self.settings.preset is not None else ""
        return BakeResult(actions[0], sorted(keyed) + turned, unmatched,
                          [o.name for o in self.objs], preset)

    def _write_action(self, id_data, curves: dict):
        """A new action with one F-curve per (data path, index) (values on the clip's frames, or
        on its first frames when shorter), played in an NLA strip over id_data's animation."""
        action, slot, fcurves = compat.new_action(id_data, self.clip.name)
        for (path, index), values in curves.items():
            write_keys(fcurves, path, self.clip.frames[:len(values)], values, index)
        nla.place(id_data, action, slot, nla.track_name(self.clip.name, self.settings.emotion_label),
                  self.clip.frame_first, self.settings.blend_type)
        return action

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
        curves = {(_key_value_path(MEAN_KEY), 0): np.ones(1)}
        curves.update({(_key_value_path(n), 0): hidden[:, k] / scale[k] for k, n in enumerate(names)})
        action = self._write_action(self.obj.data.shape_keys, curves)
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

def write_keys(fcurves, data_path: str, frames: np.ndarray, values: np.ndarray, index: int = 0):
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
    it would be lost when the file is saved; a strip in tweak mode owns the active action."""
    for what, block in (("object", obj), ("mesh", obj.data),
                        ("shape keys", getattr(obj.data, "shape_keys", None))):
        if block is not None and (block.library is not None
                                  or not getattr(block, "is_editable", True)):
            source = block.library.filepath if block.library is not None else "a library"
            return (f"'{obj.name}' is linked from {source} ({what}) and cannot be edited; make "
                    "it local (Object > Relations > Make Local) or use a library override")
    for block in (obj, getattr(obj.data, "shape_keys", None)):
        anim = getattr(block, "animation_data", None)
        if anim is not None and anim.use_tweak_mode:
            return (f"'{obj.name}' has an NLA strip in tweak mode; leave it (Tab in the NLA "
                    "editor) before baking")
    return None


def _check_vertex_count(obj, checkpoint):
    """The mesh must be the model's: its vertex count, and its edges where the checkpoint
    stores their fingerprint (older checkpoints do not: only the count is checked)."""
    expected = len(checkpoint.template)
    name = Path(checkpoint.path).name
    if len(obj.data.vertices) != expected:
        raise A2FError(f"'{obj.name}' has {len(obj.data.vertices)} vertices but "
                       f"{name} animates meshes of {expected}; use the mesh "
                       "the model was trained on (same vertex count and order)")
    if "topology" not in checkpoint.meta:
        return
    edges = np.empty(2 * len(obj.data.edges), np.int32)
    obj.data.edges.foreach_get("vertices", edges)
    reason = topology.mismatch(checkpoint.meta["topology"], expected, edges.reshape(-1, 2))
    if reason:
        raise A2FError(f"'{obj.name}' is not the mesh {name} animates: {reason}; use the mesh "
                       "the model was trained on, with its vertex order")


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
