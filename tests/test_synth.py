"""`a2f synth` on real espeak-ng / flite / festival audio: timing, the teacher's face rules,
determinism."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from a2f_core.arkit import ARKIT_NAMES
from a2f_core.audio import SAMPLE_RATE
from a2f_core.checkpoint import load_checkpoint
from a2f_core.errors import A2FError
from training import metrics
from training.assets.ict_head import load_head
from training.dataset import frame_count, load_dataset
from training.synth import cli
from training.synth.demo_head import load_demo_head
from training.synth.emotion_style import STYLES
from training.synth.recorded import Recordings
from training.synth.speech import SILENCE, Espeak, Festival, Flite
from training.synth.teacher import TeacherStyle, face_weights
from training.synth.visemes import _IPA, phoneme_visemes

pytestmark = pytest.mark.slow  # trains or synthesises datasets

FPS = 30.0
J = {n: i for i, n in enumerate(ARKIT_NAMES)}
SENTENCE = "Bob bought a big map of Bombay. Papa made more maple bread."
# festival's voices read their own languages
FESTIVAL_SENTENCES = {"en": SENTENCE,
                      "cs": "Pan Novák pobíhá po parku se psem. Pět ptáčků sedělo u mostu.",
                      "fi": "Pappi puhui pitkään kappelissa. Poika potkaisi palloa pihalla."}
ENGINES = ["espeak", "flite", "festival:en:ked", "festival:cs:dita", "festival:cs:machac",
           "festival:fi:lj", "festival:fi:mv", "recorded:ru:nsh"]


@pytest.fixture(scope="module")
def espeak():
    return Espeak()


@pytest.fixture(scope="module")
def flite():
    return Flite()


def _speak(engine, request):
    """SENTENCE from one voice of espeak-ng and flite, a festival voice in its own language, or
    one of a recorded voice's own utterances."""
    if engine.startswith("recorded:"):
        _, language, voice = engine.split(":")
        return Recordings().speak(language, voice, np.random.default_rng(5))[0]
    if engine.startswith("festival:"):
        _, language, voice = engine.split(":")
        return Festival().synth(FESTIVAL_SENTENCES[language], language, voice)
    if engine == "flite":
        return request.getfixturevalue("flite").synth(SENTENCE, "slt")
    return request.getfixturevalue("espeak").synth(SENTENCE, "en", "m3")


def _args(out, **options):
    """`a2f synth --out OUT` with its defaults, then `options`."""
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--out", str(out)])
    vars(args).update(options)
    return args


def _synth(tmp_path_factory, name, **options):
    args = _args(tmp_path_factory.mktemp(name) / "ds", **{
        "minutes": 1.0, "seed": 7, "jobs": 2, "split": 0.5, "fps": FPS, **options})
    cli.run(args)
    return args.out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return _synth(tmp_path_factory, "a")


def _energy_db(samples, times):
    half = int(0.01 * SAMPLE_RATE)
    idx = np.clip((np.asarray(times) * SAMPLE_RATE).astype(int), half, len(samples) - half)
    return np.array([10 * np.log10(np.mean(samples[i - half:i + half] ** 2) + 1e-10) for i in idx])


def _vowel_track(phonemes, alphabet, times):
    vowels = {"aa", "E", "@", "I", "O", "U", "Yu"}
    track = np.zeros(len(times))
    for s, e, sym in phonemes:
        if sym != SILENCE and vowels & set(phoneme_visemes(sym, alphabet)):
            track[(times >= s) & (times < e)] = 1.0
    return track


@pytest.mark.parametrize("engine", ENGINES)
def test_phoneme_events_align_with_audio_energy(engine, request):
    speech = _speak(engine, request)
    assert speech.phonemes[0][0] == 0 and speech.phonemes[-1][1] == pytest.approx(
        len(speech.samples) / SAMPLE_RATE, abs=1e-3)
    times = np.arange(0.0, len(speech.samples) / SAMPLE_RATE, 0.005)
    db = _energy_db(speech.samples, times)
    vowels = _vowel_track(speech.phonemes, speech.alphabet, times)
    silent = np.zeros(len(times), bool)
    for s, e, sym in speech.phonemes:
        silent |= (sym == SILENCE) & (times > s + 0.03) & (times < e - 0.03)
    assert silent.any() and db[vowels > 0].mean() > db[silent].mean() + 25
    # shifting the phoneme timeline by more than a few frames must make the agreement worse
    lags = np.arange(-30, 31)  # x 5 ms
    score = [np.corrcoef(np.roll(vowels, k), db)[0, 1] for k in lags]
    assert abs(lags[int(np.argmax(score))] * 5) <= 30


@pytest.mark.parametrize("engine", ENGINES)
def test_voiceless_stops_hold_their_closure(engine, request):
    """The silence before a /p t k/ burst belongs to the stop, where the lips and tongue shut."""
    speech = _speak(engine, request)
    db = _energy_db(speech.samples, np.arange(0.0, len(speech.samples) / SAMPLE_RATE, 0.005))
    inside = []
    for previous, stop in zip(speech.phonemes, speech.phonemes[1:]):
        if stop[2].lower() in ("p", "t", "k") and previous[2] != SILENCE:
            lo, hi = int(previous[0] / 0.005), int(stop[1] / 0.005)
            quietest = (lo + int(np.argmin(db[lo:hi]))) * 0.005
            inside.append(stop[0] - 0.005 <= quietest <= stop[1])
    assert len(inside) >= 4 and np.mean(inside) >= 0.75  # a flapped /t/ has no closure


def _teacher(speech, emotion, seed=0):
    rng = np.random.default_rng(seed)
    frames = frame_count(len(speech.samples), FPS)
    return face_weights(speech.phonemes, speech.alphabet, speech.samples, frames, FPS,
                        TeacherStyle.draw(emotion, rng), rng)


def _frames_in(phonemes, predicate):
    """For each phoneme matching predicate(symbol), the middle frame of those inside it
    (before its last 10 ms, where a stop releases)."""
    out = []
    for s, e, sym in phonemes:
        inside = np.arange(np.ceil(s * FPS - 1e-6), np.floor((e - 0.01) * FPS) + 1, dtype=int)
        if predicate(sym) and len(inside):
            out.append(int(inside[len(inside) // 2]))
    return out


@pytest.mark.parametrize("emotion", ["neutral", "surprised"])
def test_bilabials_close_the_lips(espeak, emotion):
    speech = espeak.synth(SENTENCE, "en", "f2")
    w = _teacher(speech, emotion)
    closed = _frames_in(speech.phonemes, lambda s: phoneme_visemes(s, "ipa") == ["PP"])
    open_ = _frames_in(speech.phonemes, lambda s: phoneme_visemes(s, "ipa")[0] in ("aa", "E"))
    assert len(closed) >= 8 and len(open_) >= 4
    gap = w[:, J["jawOpen"]] - w[:, J["mouthClose"]]   # lips meet when mouthClose = jawOpen
    assert np.all(gap[closed] <= 0.1 * w[closed, J["jawOpen"]] + 1e-3)
    # the jaw rises: JAW_RAISE = 0.6 leaves about 0.4 of the opening borrowed from the vowels
    assert np.median(w[closed, J["jawOpen"]]) < 0.45 * np.median(w[open_, J["jawOpen"]])
    assert np.all(w[closed, J["mouthPressLeft"]] > 0.15)
    assert np.median(gap[open_]) > 0.12
    # on the egg head (a fixture with exact lip twins) the same frames bring the lips together
    head = load_demo_head()
    v = head.pose(w, ARKIT_NAMES)
    upper, lower = _lip_twins(head)
    lip_gap_mm = 1000 * np.linalg.norm(v[:, upper] - v[:, lower], axis=2).max(1)
    assert lip_gap_mm[closed].max() < 1.0 and np.median(lip_gap_mm[open_]) > 5


def _lip_twins(head):
    """Indices of upper-lip vertices and their lower-lip twins (same rest position)."""
    rest = head.vertices
    lower = np.arange(len(rest))[np.isin(np.arange(len(rest)), head.lip_vertices)]
    pairs = [(i, j) for j in lower for i in lower
             if i < j and np.allclose(rest[i], rest[j])]
    assert len(pairs) >= 5
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


@pytest.mark.parametrize("emotion", ["neutral", "happy", "sad"])
def test_silence_rests_at_the_emotion_pose(espeak, emotion):
    speech = espeak.synth("Maybe.", "en", "m1")
    pad = np.zeros(SAMPLE_RATE, np.float32)
    speech.samples = np.concatenate([speech.samples, pad])
    end = speech.phonemes[-1][1]
    speech.phonemes[-1][1] = end + 1.0
    if speech.phonemes[-1][2] != SILENCE:
        speech.phonemes.append([end, end + 1.0, SILENCE])
    last_sound = max(e for s, e, sym in speech.phonemes if sym != SILENCE)
    w = _teacher(speech, emotion)
    rest = w[int((last_sound + 0.25) * FPS):]
    offsets = set(STYLES[emotion].offsets)
    moving = [i for i, n in enumerate(ARKIT_NAMES) if n not in offsets]
    assert len(rest) > 10 and np.abs(rest[:, moving]).max() < 0.02
    if offsets:
        assert rest[:, [J[n] for n in offsets]].min() > 0.0
    assert w[:, [J["eyeBlinkLeft"], J["eyeBlinkRight"]]].max() == 0.0


def test_takes_shorter_than_a_second_get_a_face(espeak):
    """The prosody's one-second moving mean must not outgrow a short take."""
    speech = espeak.synth("Ba.", "en", "m1")
    assert len(speech.samples) < 0.9 * SAMPLE_RATE
    w = _teacher(speech, "neutral")
    assert w.shape == (frame_count(len(speech.samples), FPS), 52) and np.isfinite(w).all()
    assert w[:, J["jawOpen"]].max() > 0.1


def test_generated_dataset_validates_and_splits(dataset):
    ds = load_dataset(dataset)
    assert ds.kind == "weights" and ds.channel_names == list(ARKIT_NAMES)
    seconds = sum(len(t.audio()) for t in ds.takes) / SAMPLE_RATE
    assert 60 <= seconds < 80  # the shortest prefix of takes reaching the minute
    for take in ds.takes:
        w = take.targets()
        assert w.min() >= 0 and w.max() <= 1 and take.meta["emotion"] in STYLES
    assert ds.split("val") and ds.split("train")
    train_voices = {(t.meta["synthesiser"], t.meta["language"], t.meta["voice"])
                    for t in ds.split("train")}
    assert not {(t.meta["synthesiser"], t.meta["language"], t.meta["voice"])
                for t in ds.split("val") if t.meta["voice"]} & train_voices


def test_same_seed_same_dataset_whatever_the_jobs(dataset, tmp_path_factory):
    """A minute is about 24 takes, so each worker speaks many in a row: the engines' state from
    one take must not reach the next."""
    again = _synth(tmp_path_factory, "b", jobs=1)
    a, b = (json.loads(open(f"{d}/dataset.json").read()) for d in (dataset, again))
    assert a == b
    for take in a["takes"]:
        for key in ("audio", "targets"):
            assert open(f"{dataset}/{take[key]}", "rb").read() == \
                open(f"{again}/{take[key]}", "rb").read()
    other = _synth(tmp_path_factory, "c", seed=8)
    assert json.loads(open(f"{other}/dataset.json").read())["takes"] != a["takes"]


@pytest.fixture(scope="module")
def longer(tmp_path_factory):
    """The `dataset` fixture's seed, half as many minutes again."""
    return _synth(tmp_path_factory, "longer", minutes=1.5)


def test_more_minutes_with_the_same_seed_extend_the_set(dataset, longer):
    """So a larger run keeps the smaller one's takes and val identities, and compares on them."""
    a, b = (json.loads(open(f"{d}/dataset.json").read())["takes"] for d in (dataset, longer))
    assert len(b) > len(a) and b[:len(a)] == a
    for take in a:
        assert open(f"{dataset}/{take['audio']}", "rb").read() == \
            open(f"{longer}/{take['audio']}", "rb").read()


def test_training_on_a_prefix_of_a_longer_set_is_training_on_the_shorter_set(dataset, longer,
                                                                              tmp_path):
    """So the stages of a curriculum (`a2f train --minutes`) share one synthesised folder."""
    pytest.importorskip("torch")
    from training.train import train
    from training.train_config import load_config
    prefix = load_dataset(longer).first_minutes(1.0)
    assert [t.name for t in prefix.takes] == [t.name for t in load_dataset(dataset).takes]
    config = load_config(Path(__file__).parents[1] / "configs" / "tiny.toml", steps=3)
    alone = train(config, dataset, tmp_path / "alone")
    within = train(config.replace(data_minutes=1.0), longer, tmp_path / "within")
    assert alone.tensors.keys() == within.tensors.keys()
    # the same takes through the same code: bit for bit
    for name, value in alone.tensors.items():
        np.testing.assert_array_equal(within.tensors[name], value, err_msg=name)
    with pytest.raises(A2FError, match=r"holds 1\.\d minutes of takes, fewer than the 2 asked"):
        load_dataset(longer).first_minutes(2.0)


@pytest.fixture(scope="module")
def vertex_dataset(tmp_path_factory):
    return _synth(tmp_path_factory, "v", minutes=0.1, kind="vertices")


def test_vertex_dataset_uses_the_demo_heads_skin(vertex_dataset):
    ds = load_dataset(vertex_dataset)
    skin = load_head().skin()
    # the set stores the skin's float32 vertices unchanged
    assert len(ds.template) == 14062 and np.array_equal(ds.template, skin.vertices)
    assert np.array_equal(ds.lip_vertices, skin.lip_vertices)
    assert ds.info["upper_lip_vertices"] == skin.upper_lip_vertices.tolist()
    speech = next(t for t in ds.takes if t.meta["synthesiser"])
    targets = speech.targets()
    assert targets.shape[1:] == ds.template.shape
    motion = np.abs(targets - ds.template).max(axis=(0, 2))
    assert motion[skin.lower_lip_vertices].max() > 0.002  # the lips move (metres)
    # the teacher's weights through the scanned keys, as a2f synth --kind weights draws them
    gap = metrics.vertex_lip_gap(targets, skin.upper_lip_vertices, skin.lower_lip_vertices)
    assert gap.max() > 0.005 and gap.min() < 0.004


def test_a_vertex_model_trains_on_the_skin_and_is_judged_on_its_lips(vertex_dataset, tmp_path):
    """A smoke run of the vertex path on the scanned topology: train, then a2f eval's closures."""
    pytest.importorskip("torch")
    from training.evaluate import evaluate
    from training.train import train
    from training.train_config import load_config
    config = load_config(Path(__file__).parents[1] / "configs" / "tiny.toml", steps=3)
    train(config, vertex_dataset, tmp_path / "run")
    ckpt = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert ckpt.kind == "vertices" and ckpt.config.output_size == 3 * 14062
    np.testing.assert_array_equal(ckpt.template, load_dataset(vertex_dataset).template)
    result = evaluate(tmp_path / "run" / "last.safetensors", vertex_dataset, split=None)
    assert result["bilabial_phonemes"] > 0 and 0 <= result["bilabial_closure"] <= 1


def test_refuses_a_non_empty_folder(dataset):
    args = _args(dataset, minutes=0.1, languages=["en"], jobs=1)
    with pytest.raises(A2FError, match="not an empty folder"):
        cli.run(args)
    args.languages = ["xx"]
    with pytest.raises(A2FError, match="xx"):
        cli.run(args)


def test_refuses_a_synthesiser_that_speaks_none_of_the_languages_and_a_malformed_voice(tmp_path):
    args = _args(tmp_path / "ds", minutes=0.1, languages=["de"], synthesisers=["flite"])
    with pytest.raises(A2FError, match="flite speaks only en; add one of them to --languages"):
        cli.run(args)
    args = _args(tmp_path / "ds", minutes=0.1, languages=["it"], synthesisers=["festival"],
                 val_voices=["festival:pc"])
    with pytest.raises(A2FError, match="write SYNTHESISER:LANGUAGE:VOICE"):
        cli.run(args)
    assert not (tmp_path / "ds").exists()


def test_a_failing_take_is_named(tmp_path, monkeypatch):
    """A bug that shows in one take of thousands must say which, to be reproduced alone."""
    def fail(index, config, head=None):
        raise ValueError("broken teacher")
    monkeypatch.setattr(cli, "make_take", fail)
    args = _args(tmp_path / "ds", minutes=0.1, languages=["en"], seed=5, jobs=1, split=0.0)
    with pytest.raises(ValueError, match="broken teacher") as failure:
        cli.run(args)
    assert "while making take 0 of seed 5" in failure.value.__notes__[0]


def test_loads_in_the_trainers_loader(dataset):
    torch = pytest.importorskip("torch")
    from a2f_core.config import ModelConfig
    from training.batches import prepare_take
    ds = load_dataset(dataset)
    take = ds.takes[0]
    data = prepare_take(take, ds.fps, ds.kind, ds.template, ModelConfig(), row0=0)
    assert data.targets.shape == (len(take.targets()), 52) and data.targets.dtype == torch.float32
    assert torch.isfinite(data.grid).all()


def test_festival_speaks_its_four_languages_with_timed_phonemes(tmp_path_factory):
    """Diphone voices of recorded speakers, opt-in: every phone reaches a viseme of its own (none
    falls back to the unknown-phone default) and the teacher shuts the lips at each bilabial."""
    out = _synth(tmp_path_factory, "festival", minutes=2.0, synthesisers=["festival"],
                 languages=["en", "it", "cs", "fi", "de"], split=0.0,
                 val_voices=["festival:it:pc", "festival:cs:machac"])
    ds = load_dataset(out)
    speech = [t for t in ds.takes if t.meta["content"] == "speech"]
    assert {t.meta["synthesiser"] for t in speech} == {"festival"}
    assert {t.meta["language"] for t in speech} == {"en", "it", "cs", "fi"}
    assert {t.meta["voice"] for t in ds.split("val") if t.meta["voice"]} == {"pc", "machac"}
    assert {t.meta["voice"] for t in ds.split("train") if t.meta["voice"]} == {
        "ked", "lp", "dita", "krb", "ph", "lj", "mv"}
    assert json.loads(open(f"{out}/dataset.json").read())["provenance"]["synthesisers"] == [
        "festival"]
    for take in speech:
        assert take.meta["phoneme_alphabet"] == ("arpabet" if take.meta["language"] == "en"
                                                 else "ipa")
    assert _shut_bilabials(speech) >= 10


def _shut_bilabials(takes) -> int:
    """Checks that every IPA phone of the takes reaches a viseme of its own and that the teacher
    shuts the lips at each bilabial; returns how many bilabials there were."""
    bilabials = 0
    for take in takes:
        symbols = {sym for _, _, sym in take.meta["phonemes"]} - {SILENCE}
        if take.meta["phoneme_alphabet"] == "ipa":
            assert all(set(sym) <= set(_IPA) for sym in symbols), symbols
        w = take.targets()
        gap = w[:, J["jawOpen"]] - w[:, J["mouthClose"]]
        for frame in _frames_in(take.meta["phonemes"], lambda s: s in ("p", "b", "m")):
            assert gap[frame] <= 0.1 * w[frame, J["jawOpen"]] + 1e-3
            bilabials += 1
    return bilabials


def test_recorded_utterances_are_takes_with_their_own_phone_labels(tmp_path_factory):
    """A person's labelled recordings, opt-in, beside synthesised speech: each Russian phone
    reaches a viseme and the teacher shuts the lips at each bilabial; espeak-ng keeps to its own
    languages."""
    out = _synth(tmp_path_factory, "recorded", minutes=1.0, synthesisers=["espeak-ng", "recorded"],
                 languages=["en", "ru"], split=0.0)
    speech = [t for t in load_dataset(out).takes if t.meta["content"] == "speech"]
    recorded = [t for t in speech if t.meta["synthesiser"] == "recorded"]
    assert recorded and {(t.meta["language"], t.meta["voice"]) for t in recorded} == {("ru", "nsh")}
    assert {t.meta["language"] for t in speech if t.meta["synthesiser"] == "espeak-ng"} == {"en"}
    assert {t.meta["phoneme_alphabet"] for t in recorded} == {"ipa"}
    assert _shut_bilabials(recorded) >= 10
