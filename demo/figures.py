"""The demo's two PNGs (matplotlib, main venv): the baked curves over time and a contact sheet.

Both read what the Blender half wrote (curves.npz, moments.json, frames/), so they show the
bake as Blender holds it, not a separate inference.
"""

import math

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import soundfile  # noqa: E402

# (label, channels averaged): the mouth's main shapes, the smile emotions move, the brows.
PLOTTED = (("jawOpen", ("jawOpen",)), ("mouthClose", ("mouthClose",)),
           ("mouthFunnel", ("mouthFunnel",)), ("mouthPucker", ("mouthPucker",)),
           ("mouthSmile L/R", ("mouthSmileLeft", "mouthSmileRight")),
           ("browInnerUp", ("browInnerUp",)))
COLOURS = ("0.35", "tab:orange")


def curves(curves_npz, wav, moments: list, path):
    """Waveform on top, then one panel per PLOTTED group: each emotion's bake over time."""
    data = np.load(curves_npz)
    names, emotions, weights = list(data["names"]), list(data["emotions"]), data["weights"]
    seconds = (data["frames"] - data["frames"][0]) / float(data["fps"])
    groups = [(label, [names.index(c) for c in channels if c in names]) for label, channels in PLOTTED]
    groups = [(label, columns) for label, columns in groups if columns]
    fig, axes = plt.subplots(len(groups) + 1, 1, sharex=True, figsize=(11, 1.3 * (len(groups) + 1)),
                             constrained_layout=True)
    samples, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    axes[0].plot(np.arange(len(samples)) / rate, samples.mean(axis=1), lw=0.3, color="0.3")
    axes[0].set_ylabel("audio", rotation=0, ha="right")
    axes[0].set_yticks([])
    for ax, (label, columns) in zip(axes[1:], groups):
        for emotion, values, colour in zip(emotions, weights, COLOURS):
            ax.plot(seconds, values[:, columns].mean(axis=1), color=colour, lw=1.2, label=emotion)
        ax.set_ylabel(label, rotation=0, ha="right")
        ax.grid(alpha=0.3)
    for ax in axes:
        for moment in moments:
            ax.axvline(moment["seconds"], color="tab:blue", ls=":", lw=0.8)
    axes[1].legend(loc="upper right", ncol=len(emotions), fontsize="small")
    axes[-1].set_xlabel("seconds (dotted: contact-sheet frames)")
    axes[0].set_title("Baked shape-key values, " + " vs ".join(emotions))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def contact_sheet(moments: list, frames_dir, emotions, path, columns=3):
    """The rendered moments in a grid, each titled with its time, frame and what it shows."""
    rows = math.ceil(len(moments) / columns)
    images = [plt.imread(frames_dir / f"frame_{m['frame']:04d}.png") for m in moments]
    height, width = images[0].shape[:2]
    scale = 640 / width  # fast-mode thumbnails are drawn as large as full-size frames
    fig, axes = plt.subplots(rows, columns, squeeze=False, constrained_layout=True,
                             figsize=(columns * width * scale / 100, rows * (height * scale + 40) / 100))
    for ax in axes.flat:
        ax.axis("off")
    for ax, moment, image in zip(axes.flat, moments, images):
        ax.imshow(image)
        ax.set_title(f"t = {moment['seconds']:.2f} s (frame {moment['frame']}): {moment['label']}",
                     fontsize="medium")
    fig.suptitle(f"{emotions[0]} (left) vs {emotions[1]} (right), same instant", fontsize="large")
    fig.savefig(path, dpi=100)
    plt.close(fig)
