"""The layer's command-line options, shared by `a2f infer` and Blender's batch.py."""

import math

from ..errors import A2FError
from .compose import LifeSettings
from .regions import REGIONS, RegionSettings

LAYERS = ("blinks", "gaze", "brows", "head")
_STRENGTH = {"blinks": "blink_strength", "gaze": "gaze_strength", "brows": "brow_strength",
             "head": "head_strength"}
_REGION_FLAG = {"upper": "upper-face", "lower": "lower-face", "lips": "lips"}


def add_arguments(parser) -> None:
    group = parser.add_argument_group(
        "liveliness", "blinks, gaze, brows and head motion added to the network's output, and "
        "per-region strength and smoothing of that output")
    group.add_argument("--no-life", action="store_true",
                       help="add no blinks, gaze, brows or head motion (the network alone)")
    for layer in LAYERS:
        group.add_argument(f"--no-{layer}", dest=f"no_{layer}", action="store_true",
                           help=f"leave out the {layer} layer")
        group.add_argument(f"--{layer.rstrip('s')}-strength", dest=_STRENGTH[layer], type=float,
                           default=1.0, metavar="S", help=f"scale the {layer} layer (default 1)")
    group.add_argument("--blink-rate", type=float, default=LifeSettings.blink_rate, metavar="N",
                       help="blinks per minute while speaking "
                            f"(default {LifeSettings.blink_rate:g})")
    group.add_argument("--gaze-target", default="0,0", metavar="YAW,PITCH",
                       help="degrees the eyes wander around; yaw to the subject's left, pitch "
                            "down (default 0,0)")
    group.add_argument("--seed", type=int, default=0, help="random seed of the layer (default 0)")
    for region, flag in _REGION_FLAG.items():
        group.add_argument(f"--{flag}-strength", dest=f"{region}_strength", type=float,
                           default=1.0, metavar="S",
                           help=f"scale the network's {flag.replace('-', ' ')} channels")
        group.add_argument(f"--{flag}-smoothing-ms", dest=f"{region}_smoothing_ms", type=float,
                           default=0.0, metavar="MS",
                           help=f"smooth the network's {flag.replace('-', ' ')} channels over "
                                "this time constant (default 0: none)")


def settings_from(args):
    """(LifeSettings, RegionSettings) from parsed options; A2FError on a bad value."""
    for name in list(_STRENGTH.values()) + [f"{r}_strength" for r in REGIONS] + \
            [f"{r}_smoothing_ms" for r in REGIONS] + ["blink_rate"]:
        value = getattr(args, name)
        if not math.isfinite(value) or value < 0:
            flag = "--" + name.replace("_", "-").replace("upper-", "upper-face-") \
                .replace("lower-", "lower-face-")
            raise A2FError(f"{flag} must be a number >= 0, got {value:g}")
    try:
        yaw, pitch = (float(v) for v in args.gaze_target.split(","))
    except ValueError:
        raise A2FError(f"--gaze-target {args.gaze_target!r} must be YAW,PITCH in degrees, "
                       "e.g. 0,5") from None
    life = LifeSettings(
        **{layer: not (args.no_life or getattr(args, f"no_{layer}")) for layer in LAYERS},
        **{field: getattr(args, field) for field in _STRENGTH.values()},
        blink_rate=args.blink_rate, gaze_target=(yaw, pitch), seed=args.seed)
    regions = RegionSettings(**{f"{r}_{kind}": getattr(args, f"{r}_{kind}")
                                for r in REGIONS for kind in ("strength", "smoothing_ms")})
    return life, regions
