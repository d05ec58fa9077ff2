"""A tiny, learnable dataset written in the native layout, for smoke runs and tests in seconds.

Audio is a sequence of synthetic "phonemes" (harmonic vowels with distinct formants, a low
nasal hum for /m/, and noisy silence). Each has a mouth pose, so the mapping audio -> face is
learnable in a few hundred steps; takes labelled 'happy' add a smile the audio cannot explain,
which only the learned emotion vectors can account for. Phoneme timings are stored like the
synthesiser's, so bilabial and silence metrics work on it.
"""

import json

import numpy as np

from training.dataset import frame_count, write_dataset_json, write_take

SAMPLE_RATE = 16000
CHANNELS = ["jawOpen", "mouthClose", "mouthFunnel", "mouthSmileLeft"]
# symbol -> (formant centres Hz, harmonic amplitude, mouth pose over CHANNELS)
PHONEMES = {
    "a": ((750, 1250), 0.30, (0.7, 0.0, 0.0, 0.0)),
    "u": ((300, 800), 0.25, (0.2, 0.0, 0.6, 0.0)),
    "m": ((250,), 0.08, (0.05, 0.6, 0.0, 0.0)),
    "_": ((), 0.0, (0.0, 0.0, 0.0, 0.0)),
}
SMILE = np.array([0.0, 0.0, 0.0, 0.5], np.float32)
# Toy vertex mesh: 2 upper-lip, 2 lower-lip and 2 corner vertices.
TEMPLATE = np.array([[-.3, .1, 0], [.3, .1, 0], [-.3, -.1, 0], [.3, -.1, 0], [-1, 0, 0],
                     [1, 0, 0]], np.float32)


def write_toy_dataset(root, kind="weights", takes=6, seconds=3.0, fps=30.0, val_takes=1, seed=0):
    """Write `takes` takes (the last `val_takes` in 'val', every other one labelled 'happy')."""
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(takes):
        emotion = "happy" if i % 2 else "neutral"
        audio, weights, phonemes = _take(rng, seconds, fps, emotion == "happy")
        targets = weights if kind == "weights" else TEMPLATE + _offsets(weights)
        split = "val" if i >= takes - val_takes else "train"
        entries.append(write_take(root, f"toy{i:02d}", audio, targets, {
            "voice": "toy", "language": "xx", "emotion": emotion, "phonemes": phonemes,
            "synthesiser": "toy", "split": split}))
    provenance = {"source": "training.toy_dataset", "licence": "CC0-1.0"}
    if kind == "weights":
        return write_dataset_json(root, fps=fps, kind=kind, takes=entries,
                                  channel_names=CHANNELS, provenance=provenance)
    path = write_dataset_json(root, fps=fps, kind=kind, takes=entries, template=TEMPLATE,
                              lip_vertices=np.arange(4), provenance=provenance)
    info = json.loads(path.read_text())  # optional lip groups used by the bilabial metric
    info.update(upper_lip_vertices=[0, 1], lower_lip_vertices=[2, 3])
    path.write_text(json.dumps(info, indent=1))
    return path


def _take(rng, seconds, fps, happy):
    n = int(seconds * SAMPLE_RATE)
    audio = (rng.standard_normal(n) * 0.002).astype(np.float32)  # noise floor: silence is noisy
    frames = frame_count(n, fps)
    weights = np.zeros((frames, len(CHANNELS)), np.float32)
    phonemes, t = [], 0.0
    symbols = list(PHONEMES)
    while t < seconds:
        symbol = "_" if t == 0.0 else symbols[rng.integers(len(symbols))]
        end = min(seconds, t + rng.uniform(0.12, 0.35))
        formants, amplitude, pose = PHONEMES[symbol]
        a, b = int(t * SAMPLE_RATE), int(end * SAMPLE_RATE)
        audio[a:b] += _voice(b - a, formants, amplitude, rng.uniform(100, 160))
        weights[int(np.ceil(t * fps)):int(np.ceil(end * fps))] = pose
        phonemes.append([round(t, 4), round(end, 4), symbol])
        t = end
    kernel = np.ones(3, np.float32) / 3  # mouths move smoothly between poses
    weights = np.stack([np.convolve(w, kernel, mode="same") for w in weights.T], axis=1)
    if happy:
        weights = weights + SMILE
    return audio, weights.astype(np.float32), phonemes


def _voice(n, formants, amplitude, f0):
    """Harmonics of f0 shaped by Gaussian formant peaks, with 10 ms fades."""
    if not formants:
        return np.zeros(n, np.float32)
    t = np.arange(n) / SAMPLE_RATE
    harmonics = np.arange(f0, 4000, f0)
    gains = sum(np.exp(-0.5 * ((harmonics - f) / 120.0) ** 2) for f in formants)
    signal = (gains[:, None] * np.sin(2 * np.pi * harmonics[:, None] * t)).sum(0)
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / 160.0)
    return (amplitude * signal / max(gains.sum(), 1e-9) * fade).astype(np.float32)


def _offsets(weights):
    """(T, V, 3) vertex offsets: the jaw lowers the lower lip, closing presses the lips together,
    funnel pushes the lips forward, smile pulls the corners out and up."""
    jaw, close, funnel, smile = weights.T
    offsets = np.zeros((len(weights), len(TEMPLATE), 3), np.float32)
    offsets[:, 2:4, 1] = (-0.6 * jaw + 0.1 * close)[:, None]
    offsets[:, 0:2, 1] = (-0.08 * close)[:, None]
    offsets[:, 0:4, 2] = (0.3 * funnel)[:, None]
    offsets[:, 4, 0], offsets[:, 5, 0] = -0.3 * smile, 0.3 * smile
    offsets[:, 4:6, 1] = (0.2 * smile)[:, None]
    return offsets
