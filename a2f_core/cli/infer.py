"""`a2f infer AUDIO -o OUT`: numpy-only inference from the command line."""

from pathlib import Path

import numpy as np

from tqdm import tqdm

from a2f_core.alive import options as life_options
from a2f_core.alive.compose import Mood, liven
from a2f_core.alive.regions import shape_regions
from a2f_core.audio import SAMPLE_RATE, open_audio
from a2f_core.checkpoint import load_checkpoint
from a2f_core.emotions import blend, parse_emotion_spec
from a2f_core.errors import A2FError
from a2f_core.export import FORMATS, refuse_overwriting, write_animation
from a2f_core.infer import Animator
from a2f_core.limits import check_fps
from a2f_core.models import default_checkpoint
from a2f_core.retarget import load_preset, shipped_presets


def add_arguments(parser):
    parser.add_argument("audio", help="audio file (wav, flac, ogg, aiff, mp3 ...)")
    parser.add_argument("-o", "--output", required=True,
                        help=f"output file; the format follows the extension: {', '.join(FORMATS)}")
    parser.add_argument("--checkpoint", help="a2f checkpoint (.safetensors); default: bundled model")
    parser.add_argument("--emotion", default="neutral",
                        help="NAME[=WEIGHT][,NAME=WEIGHT...] from the checkpoint's emotions")
    parser.add_argument("--fps", type=float, default=30.0, help="output frame rate (default 30)")
    parser.add_argument("--start-seconds", type=float, default=0.0,
                        help="animate from this time in the audio (frame 0 is at that time)")
    parser.add_argument("--no-lip-contact", dest="lip_contact", action="store_false",
                        help="leave out the checkpoint's lip contact head (a2f contact)")
    parser.add_argument("--preset", help="retarget preset: the output has the rig's targets instead "
                        f"of the model's channels; a shipped name ({', '.join(shipped_presets())}) "
                        "or a .json file (docs/blender.md, 'Retarget presets')")
    life_options.add_arguments(parser)


def run(args) -> int:
    fps = check_fps(args.fps, "--fps")
    refuse_overwriting(args.output, args.audio)
    life, regions = life_options.settings_from(args)
    checkpoint = load_checkpoint(args.checkpoint or default_checkpoint())
    preset = load_preset(args.preset) if args.preset else None
    if preset is not None and checkpoint.kind != "weights":
        raise A2FError("--preset maps a weights model's channels; this checkpoint outputs vertices")
    emotion_weights = parse_emotion_spec(args.emotion)
    emotion = blend(checkpoint.emotions, emotion_weights)
    samples = open_audio(args.audio)  # an hour of audio streams: memory stays bounded
    duration = len(samples) / SAMPLE_RATE
    if not 0 <= args.start_seconds < duration:
        raise A2FError(f"--start-seconds {args.start_seconds} is outside the audio "
                       f"(0 to {duration:.3f} s)")
    animator = Animator(checkpoint, args.lip_contact)
    total = animator.frame_count(samples, fps, args.start_seconds)
    chunks = []
    with tqdm(total=total, unit="frame", desc="animating", disable=None, leave=False) as bar:
        for _, frames in animator.iter_frames(samples, fps, emotion, args.start_seconds):
            chunks.append(frames)
            bar.update(len(frames))
    frames = np.concatenate(chunks)
    names = checkpoint.channel_names if checkpoint.kind == "weights" else None
    if names is not None:
        frames = shape_regions(frames, names, fps, regions)
    frames, rotations = liven(samples, frames, names, fps, args.start_seconds, life,
                              Mood.from_weights(emotion_weights))
    names = checkpoint.channel_names
    if checkpoint.kind == "vertices":
        frames = frames.reshape(len(frames), -1, 3) + checkpoint.template
    elif preset is not None:  # the rig's targets of the livened channels (blinks included)
        frames, names = preset.apply(names, frames), list(preset.targets)
    write_animation(args.output, frames, fps, names, rotations)
    print(f"{Path(args.output)}: {len(frames)} frames at {fps:g} fps "
          f"({duration - args.start_seconds:.2f} s of audio, {checkpoint.kind})")
    return 0
