"""`a2f synth`: build a synthetic dataset in the native layout, in parallel, deterministically.

Takes are made in index order by a process pool, in batches; the dataset is the shortest prefix
of takes reaching --minutes, so the result depends on the seed alone, never on --jobs. Each take
gets a freshly forked worker: espeak-ng and flite carry state from one utterance into the next
(flite through libc's rand(), espeak-ng in its own globals), so a reused engine would make a
take depend on which takes its worker spoke before.
Standalone: `python -m training.synth.cli --out DIR`.
"""

import argparse
import multiprocessing
import os
import sys
import time
from functools import partial
from pathlib import Path

from tqdm import tqdm

from a2f_core.arkit import ARKIT_NAMES
from a2f_core.errors import A2FError
from a2f_core.limits import check_fps
from training.dataset import write_dataset_json
from .generate import (DEFAULT_LANGUAGES, DEFAULT_SYNTHESISERS, SYNTHESISERS, SynthConfig,
                       make_take)


MAX_MINUTES = 100_000  # ten weeks of audio: beyond any disk's worth of takes

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `a2f synth`."""
    parser.add_argument("--out", required=True, help="new (or empty) dataset folder")
    parser.add_argument("--minutes", type=float, default=30.0, help="audio to generate (default 30)")
    parser.add_argument("--kind", choices=("weights", "vertices"), default="weights",
                        help="ARKit-52 weights, or vertex positions of the demo head's skin")
    parser.add_argument("--languages", nargs="+", default=list(DEFAULT_LANGUAGES),
                        help=f"language codes among {' '.join(_spoken())} (default: "
                             f"{' '.join(DEFAULT_LANGUAGES)})")
    parser.add_argument("--synthesisers", nargs="+", choices=list(SYNTHESISERS),
                        default=list(DEFAULT_SYNTHESISERS),
                        help=f"speech engines (default: {' '.join(DEFAULT_SYNTHESISERS)}; festival "
                             "adds diphone voices of recorded speakers in en, it, cs and fi; "
                             "recorded adds a person's own labelled recordings in ru)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same dataset")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: all cores)")
    parser.add_argument("--split", type=float, default=0.1, metavar="VAL_FRACTION",
                        help="share of voice+language identities held out for validation")
    parser.add_argument("--val-voices", nargs="+", default=[], metavar="SYNTH:LANG:VOICE",
                        help="also hold out these voice identities, e.g. festival:it:pc")
    parser.add_argument("--fps", type=float, default=30.0, help="target frame rate (default 30)")


def run(args: argparse.Namespace) -> int:
    """Generate the dataset described by parsed `args` (dataset.json last); returns 0."""
    out = Path(args.out)
    _check(args, out)
    config = SynthConfig(str(out), args.seed, args.fps, args.kind, tuple(args.languages),
                         args.split, tuple(dict.fromkeys(args.synthesisers)),
                         tuple(args.val_voices))
    head = None
    if args.kind == "vertices":
        from training.assets.ict_head import load_head
        head = load_head().skin()
    target_seconds = args.minutes * 60.0
    entries, seconds, index = [], 0.0, 0
    started = time.perf_counter()
    worker = partial(_make_take, config=config, head=head)
    context = multiprocessing.get_context("fork")
    with context.Pool(max(1, args.jobs), maxtasksperchild=1) as pool, \
            tqdm(total=target_seconds, desc="a2f synth",
                 bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s of audio [{elapsed}<{remaining}]") as bar:
        while seconds < target_seconds:
            batch = range(index, index + 4 * max(1, args.jobs))
            index = batch.stop
            for entry, take_seconds in pool.imap(worker, batch):
                if seconds >= target_seconds:  # past the prefix: drop, keeping seed-determinism
                    for key in ("audio", "targets"):
                        (out / entry[key]).unlink()
                    continue
                entries.append(entry)
                seconds += take_seconds
                bar.update(min(take_seconds, target_seconds - bar.n))
    wall = time.perf_counter() - started
    write_dataset_json(
        out, fps=args.fps, kind=args.kind, takes=entries,
        channel_names=list(ARKIT_NAMES) if args.kind == "weights" else None,
        template=head.vertices if head else None, lip_vertices=head.lip_vertices if head else None,
        extra_info=head.lip_split() if head else None,
        provenance={"source": f"a2f synth ({' and '.join(config.synthesisers)} speech, "
                              "rule-based teacher face)",
                    "licence": "CC0-1.0", "seed": args.seed, "languages": list(args.languages),
                    "synthesisers": list(config.synthesisers),
                    "val_fraction": args.split, "val_voices": list(args.val_voices),
                    "minutes": round(seconds / 60, 3),
                    "mesh": "training/assets/ict_head.npz, skin" if head else None})
    print(f"wrote {len(entries)} takes, {seconds / 60:.1f} min of audio in {wall:.0f} s "
          f"({seconds / max(wall, 1e-9):.0f}x real time) to {out}", file=sys.stderr)
    return 0


def _make_take(index: int, config: SynthConfig, head) -> tuple:
    """make_take, naming the take in any error: a take depends on (seed, index) alone, so
    `make_take(index, config)` reproduces the failure by itself."""
    try:
        return make_take(index, config, head)
    except Exception as e:
        e.add_note(f"while making take {index} of seed {config.seed} "
                   f"(training.synth.generate.make_take({index}, ...) reproduces it)")
        raise


def _spoken() -> list:
    """Every language some speech source speaks."""
    return sorted({lang for languages in SYNTHESISERS.values() for lang in languages})


def _check(args, out: Path) -> None:
    unknown = sorted(set(args.languages) - set(_spoken()))
    if unknown:
        raise A2FError(f"no speech for language(s) {', '.join(unknown)}; "
                       f"choose from {' '.join(_spoken())}")
    for name in dict.fromkeys(args.synthesisers):
        if not set(SYNTHESISERS[name]) & set(args.languages):
            raise A2FError(f"{name} speaks only {' '.join(SYNTHESISERS[name])}; add one of them "
                           "to --languages or leave it out of --synthesisers")
    for key in args.val_voices:
        parts = key.split(":")
        if len(parts) != 3 or parts[1] not in SYNTHESISERS.get(parts[0], ()):
            raise A2FError(f"--val-voices {key!r}: write SYNTHESISER:LANGUAGE:VOICE as in a take's "
                           "meta (festival:it:pc, espeak-ng:de:de+m3)")
    if not 0 < args.minutes <= MAX_MINUTES:
        raise A2FError(f"--minutes must be a number above 0 and at most {MAX_MINUTES}, "
                       f"got {args.minutes}")
    check_fps(args.fps, "--fps")
    if not 0 <= args.split < 1:
        raise A2FError(f"--split must be in [0, 1), got {args.split}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise A2FError(f"{out} exists and is not an empty folder; choose a new --out")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="a2f synth", description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        run(parser.parse_args(argv))
    except A2FError as e:
        print(f"a2f synth: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
