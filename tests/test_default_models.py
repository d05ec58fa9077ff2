"""The bundled default models: they load, and on synthetic takes they never saw (another seed:
new sentences, prosody and augmentation; and the voices held out of their own training set) they
meet the README's thresholds for bilabial closure, weight MAE and rest in silence, also on a
synthesiser they never heard, in languages they heard and in two they did not (with the README's
lower guards for lip contact there); every named emotion visibly changes the face."""

import subprocess

import numpy as np
import pytest

from a2f_core.arkit import ARKIT_NAMES
from a2f_core.audio import load_audio
from a2f_core.checkpoint import load_checkpoint
from a2f_core.emotions import blend
from a2f_core.infer import Animator
from a2f_core.models import DEFAULT_VERTICES, DEFAULT_WEIGHTS, default_checkpoint
from training.evaluate import evaluate
from training.synth.demo_head import load_demo_head

pytestmark = pytest.mark.slow  # trains or synthesises datasets

EMOTIONS = {"neutral", "happy", "sad", "angry", "surprised"}
# The README's thresholds, on speech the model never heard: new sentences, prosody and
# augmentation of every voice (another synth seed) and the held-out voices of its own training
# set (seed 1's val split). Lips must not buy closure by shutting on every other phoneme too.
# What the model measures on each set: docs/results.md.
MIN_BILABIAL_CLOSURE = 0.90
MAX_CLOSURE_ELSEWHERE_VS_DATA = 1.25
MAX_WEIGHT_MAE = 0.05
MAX_REST_ERROR = 0.05
HELD_OUT = {  # what the model never heard: (minutes, synth seed, val fraction, split to measure)
    "new-sentences": (10, 4242, 0, None),
    "held-out-voices": (30, 1, 0.1, "val"),
}
# On a synthesiser no model heard (festival's diphone voices: one person's recorded speech, cut
# and joined), and in languages no model heard, lip contact generalises worse (docs/results.md):
# these lower guards keep it from losing more; weight error and rest meet the thresholds above.
NEVER_HEARD = {  # festival's languages: (least bilabial closure, most closure elsewhere vs data)
    ("en", "it"): (0.65, 1.5),
    ("cs", "fi"): (0.60, 2.0),
}


@pytest.fixture(scope="module", params=list(HELD_OUT))
def held_out(request, synth_set):
    minutes, seed, val_fraction, split = HELD_OUT[request.param]
    return synth_set(minutes, seed, val_fraction), split


@pytest.fixture(scope="module")
def sentence(tmp_path_factory):
    wav = tmp_path_factory.mktemp("audio") / "line.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav),
                    "Maybe we can move the boat over the bay by Monday."], check=True)
    return load_audio(wav)


def test_weights_model_is_bundled_and_valid():
    ckpt = load_checkpoint(default_checkpoint("weights"))
    assert ckpt.kind == "weights" and ckpt.channel_names == list(ARKIT_NAMES)
    assert ckpt.config.emotion_dim == 16 and EMOTIONS <= set(ckpt.emotions)
    assert not any(k.startswith("training.") for k in ckpt.tensors)
    assert Animator(ckpt).contact.detector is not None  # the lip contact head and its detector
    assert DEFAULT_WEIGHTS.stat().st_size < 8 * 2**20


def test_vertices_model_matches_the_demo_head():
    ckpt = load_checkpoint(DEFAULT_VERTICES)
    head = load_demo_head()
    assert ckpt.kind == "vertices" and ckpt.template.shape == head.vertices.shape
    # training copies the asset's float32 vertices into the checkpoint unchanged
    assert np.array_equal(ckpt.template, head.vertices)


def test_held_out_metrics_meet_the_readme(held_out):
    data, split = held_out
    metrics = evaluate(DEFAULT_WEIGHTS, data, split=split, emotion="labels")
    assert metrics["bilabial_closure"] >= MIN_BILABIAL_CLOSURE, metrics
    assert metrics["closure_elsewhere"] <= (MAX_CLOSURE_ELSEWHERE_VS_DATA
                                            * metrics["closure_elsewhere_target"]), metrics
    assert metrics["weight_mae"] <= MAX_WEIGHT_MAE, metrics
    assert metrics["rest_in_silence"] <= MAX_REST_ERROR, metrics


@pytest.mark.parametrize("languages", list(NEVER_HEARD), ids="+".join)
def test_a_synthesiser_it_never_heard(synth_set, languages):
    data = synth_set(1.5, 4242, 0, "--synthesisers", "festival", "--languages", *languages)
    metrics = evaluate(DEFAULT_WEIGHTS, data, emotion="labels")
    least_closure, most_elsewhere = NEVER_HEARD[languages]
    assert metrics["weight_mae"] <= MAX_WEIGHT_MAE, metrics
    assert metrics["rest_in_silence"] <= MAX_REST_ERROR, metrics
    assert metrics["bilabial_closure"] >= least_closure, metrics
    assert metrics["closure_elsewhere"] <= most_elsewhere * metrics["closure_elsewhere_target"], (
        metrics)


def test_silence_rests_and_speech_moves(sentence):
    ckpt = load_checkpoint(DEFAULT_WEIGHTS)
    animator = Animator(ckpt)
    neutral = ckpt.emotions["neutral"]
    rest = animator.animate(np.zeros(16000 * 2, np.float32), 30, neutral)
    assert np.abs(rest).max() < 0.1
    speech = animator.animate(sentence, 30, neutral)
    jaw = speech[:, ARKIT_NAMES.index("jawOpen")]
    assert jaw.max() > 0.3 and jaw.std() > 0.08


@pytest.mark.parametrize("emotion,channels", [
    ("happy", ("mouthSmileLeft", "mouthSmileRight")),
    ("sad", ("mouthFrownLeft", "mouthFrownRight", "browInnerUp")),
    ("angry", ("browDownLeft", "browDownRight")),
    ("surprised", ("browOuterUpLeft", "browOuterUpRight")),
])
def test_each_emotion_changes_the_face_visibly(sentence, emotion, channels):
    ckpt = load_checkpoint(DEFAULT_WEIGHTS)
    animator = Animator(ckpt)
    columns = [ARKIT_NAMES.index(c) for c in channels]
    neutral = animator.animate(sentence, 30, ckpt.emotions["neutral"])
    styled = animator.animate(sentence, 30, blend(ckpt.emotions, {emotion: 1.0}))
    assert (styled[:, columns] - neutral[:, columns]).mean() > 0.1
    # speech stays readable: the jaw still follows the syllables
    jaw = ARKIT_NAMES.index("jawOpen")
    assert np.corrcoef(styled[:, jaw], neutral[:, jaw])[0, 1] > 0.8
