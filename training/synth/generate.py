"""One synthetic take, end to end: draw every random choice from (seed, index), speak, build the
teacher face, augment the audio and write the files. Take i depends on nothing but (seed, i), so
any number of worker processes produce the same dataset."""

import zlib
from dataclasses import dataclass

import numpy as np

from a2f_core.arkit import ARKIT_NAMES
from a2f_core.audio import SAMPLE_RATE
from training.dataset import frame_count, write_take
from . import augment, text
from .emotion_style import EMOTIONS, apply_style, strength_curve
from .recorded import RECORDED_VOICES, Recordings
from .speech import FESTIVAL_VOICES, SILENCE, Espeak, Festival, Flite
from .teacher import TeacherStyle, face_weights

# espeak-ng variants with draw weights: croak and whisper sparingly, they are rare in real data
ESPEAK_VARIANTS = {**{f"m{i}": 1.0 for i in range(1, 8)}, **{f"f{i}": 1.0 for i in range(1, 6)},
                   "klatt": 0.6, "klatt2": 0.6, "klatt3": 0.6, "klatt4": 0.6, "Annie": 0.6,
                   "Andy": 0.6, "steph": 0.6, "edward": 0.6, "robert": 0.6, "croak": 0.2,
                   "whisper": 0.15}
FLITE_SHARE = 0.35   # of speech takes, when English is among the languages
FESTIVAL_SHARE = 0.35  # of speech takes, when festival is asked for and speaks a language asked for
RECORDED_SHARE = 0.35  # of speech takes, when recordings are asked for in a language asked for
SYNTHESISERS = {"espeak-ng": text.LANGUAGES, "flite": ("en",), "festival": tuple(FESTIVAL_VOICES),
                "recorded": tuple(RECORDED_VOICES)}
DEFAULT_SYNTHESISERS = ("espeak-ng", "flite")  # festival and recorded are opt-in: the default
                                               # sets predate them
DEFAULT_LANGUAGES = ("de", "en", "es", "fr", "it", "nl", "pt")  # cs and fi are opt-in, likewise
REST_SHARE = 0.05    # silence or breath takes that map to the resting face
EMOTION_WEIGHTS = {"neutral": 0.3, **{e: 0.7 / (len(EMOTIONS) - 1) for e in EMOTIONS[1:]}}


@dataclass(frozen=True)
class SynthConfig:
    """What `a2f synth` was asked for; identical configs give identical datasets."""
    out: str
    seed: int = 0
    fps: float = 30.0
    kind: str = "weights"           # 'weights' (ARKit-52) or 'vertices' (demo head's skin)
    languages: tuple = DEFAULT_LANGUAGES
    val_fraction: float = 0.1       # share of voice+language identities held out
    synthesisers: tuple = DEFAULT_SYNTHESISERS  # among SYNTHESISERS
    val_voices: tuple = ()          # identities held out besides the drawn ones


def split_for(voice_key: str, config: SynthConfig) -> str:
    """'val' for a seed-dependent `val_fraction` of voice identities ('espeak-ng:de:de+m3') and
    for those named in `val_voices`."""
    u = np.random.default_rng([config.seed, zlib.crc32(voice_key.encode())]).random()
    return "val" if u < config.val_fraction or voice_key in config.val_voices else "train"


_ENGINES = {}


def _engine(name: str):
    """This process's engine (the C libraries are process-global, so one of each per worker)."""
    if name not in _ENGINES:
        _ENGINES[name] = {"espeak-ng": Espeak, "flite": Flite, "festival": Festival,
                          "recorded": Recordings}[name]()
    return _ENGINES[name]


def _words(rng: np.random.Generator, language: str) -> str:
    """One or two sentences, or nonsense words (every syllable, not just the common ones)."""
    if rng.random() < 0.7:
        pool = text.sentences(language)
        return " ".join(str(pool[i]) for i in rng.choice(len(pool), int(rng.integers(1, 3)),
                                                         replace=False))
    return text.syllable_string(language, rng, int(rng.integers(3, 9)))


def _speak(rng: np.random.Generator, config: SynthConfig):
    """A random voice saying random text; returns (Speech, text).

    Draws nothing for festival or recordings unless they are asked for, so the sets made without
    them are take for take what they were before they existed."""
    others = [name for name in config.synthesisers if name not in ("festival", "recorded")
              and set(SYNTHESISERS[name]) & set(config.languages)]
    recorded_languages = [lang for lang in config.languages if lang in RECORDED_VOICES]
    if "recorded" in config.synthesisers and recorded_languages and (
            not others or rng.random() < RECORDED_SHARE):
        language = str(rng.choice(recorded_languages))
        voice = str(rng.choice(list(RECORDED_VOICES[language])))
        return _engine("recorded").speak(language, voice, rng)
    festival_languages = [lang for lang in config.languages if lang in FESTIVAL_VOICES]
    if "festival" in config.synthesisers and festival_languages and (
            not others or rng.random() < FESTIVAL_SHARE):
        language = str(rng.choice(festival_languages))
        words = _words(rng, language)
        speech = _engine("festival").synth(words, language,
                                           str(rng.choice(list(FESTIVAL_VOICES[language]))),
                                           rng.uniform(0.8, 1.3))
        return speech, words
    use_flite = "flite" in others and ("espeak-ng" not in others or rng.random() < FLITE_SHARE)
    language = "en" if use_flite else str(rng.choice(
        [lang for lang in config.languages if lang in SYNTHESISERS["espeak-ng"]]))
    words = _words(rng, language)
    if use_flite:
        speech = _engine("flite").synth(words, str(rng.choice(["slt", "rms", "awb", "kal16", "kal"],
                                                              p=[0.3, 0.3, 0.2, 0.12, 0.08])),
                                        rng.uniform(0.8, 1.35), rng.uniform(80, 220),
                                        rng.uniform(5, 35))
    else:
        names = list(ESPEAK_VARIANTS)
        p = np.array([ESPEAK_VARIANTS[n] for n in names])
        speech = _engine("espeak-ng").synth(words, language, str(rng.choice(names, p=p / p.sum())),
                                            int(rng.uniform(110, 260)), int(rng.uniform(20, 85)),
                                            int(rng.uniform(15, 95)))
    return speech, words


def _pad(samples: np.ndarray, phonemes: list, lead_s: float, trail_s: float):
    """Surround speech with silence, shifting phoneme times to match."""
    lead, trail = int(lead_s * SAMPLE_RATE), int(trail_s * SAMPLE_RATE)
    out = np.concatenate([np.zeros(lead, np.float32), samples, np.zeros(trail, np.float32)])
    shift = lead / SAMPLE_RATE
    shifted = [[0.0, round(shift, 4), SILENCE]] if lead else []
    shifted += [[round(s + shift, 4), round(e + shift, 4), p] for s, e, p in phonemes]
    shifted.append([shifted[-1][1], round(len(out) / SAMPLE_RATE, 4), SILENCE])
    return out, _merge_silences(shifted)


def _merge_silences(phonemes: list) -> list:
    out = []
    for seg in phonemes:
        if out and seg[2] == SILENCE == out[-1][2]:
            out[-1][1] = seg[1]
        elif seg[1] > seg[0]:
            out.append(list(seg))
    return out


def make_take(index: int, config: SynthConfig, head=None) -> tuple:
    """Synthesise and write take `index`; returns (dataset.json entry, seconds of audio).

    head: for vertex datasets, the head whose pose the ARKit weights drive (the demo head's skin,
    training.assets.ict_head); None for weights.
    """
    rng = np.random.default_rng([config.seed, index])
    emotion = str(rng.choice(list(EMOTION_WEIGHTS), p=list(EMOTION_WEIGHTS.values())))
    meta = {"emotion": emotion}
    if rng.random() < REST_SHARE:
        seconds = rng.uniform(1.0, 4.0)
        breath = rng.random() < 0.6
        clean = (augment.breath(seconds, rng) if breath
                 else np.zeros(int(seconds * SAMPLE_RATE), np.float32))
        frames = frame_count(len(clean), config.fps)
        style = TeacherStyle.draw(emotion, rng)
        weights = np.zeros((frames, len(ARKIT_NAMES)), np.float32)
        weights = np.clip(apply_style(weights, emotion,
                                      strength_curve(frames, config.fps, style.strength, rng)),
                          0, 1)
        meta.update(voice=None, language=None, synthesiser=None, text="",
                    phonemes=[[0.0, round(len(clean) / SAMPLE_RATE, 4), SILENCE]],
                    split="val" if rng.random() < config.val_fraction else "train",
                    content="breath" if breath else "silence")
        room_tone = augment.coloured_noise(len(clean), rng, rng.uniform(0, 2))
        audio = clean + room_tone * 10 ** (rng.uniform(-80, -45) / 20)  # -80 dB: nearly digital 0
    else:
        speech, words = _speak(rng, config)
        clean, phonemes = _pad(speech.samples, speech.phonemes, rng.uniform(0.1, 0.8),
                               rng.uniform(0.2, 0.8))
        speed = 1.0
        if rng.random() < 0.5:
            speed = float(rng.uniform(0.88, 1.12))
            clean, phonemes = augment.speed_perturb(clean, phonemes, speed)
        frames = frame_count(len(clean), config.fps)
        style = TeacherStyle.draw(emotion, rng)
        weights = face_weights(phonemes, speech.alphabet, clean, frames, config.fps, style, rng)
        audio, effects = augment.random_chain(clean, rng)
        key = f"{speech.synthesiser}:{speech.language}:{speech.voice}"
        meta.update(voice=speech.voice, language=speech.language, synthesiser=speech.synthesiser,
                    text=words, phonemes=phonemes, phoneme_alphabet=speech.alphabet,
                    split=split_for(key, config), speed=round(speed, 4), augment=effects,
                    content="speech")
    meta["style_strength"] = round(float(style.strength), 3)
    targets = weights if head is None else head.pose(weights, ARKIT_NAMES)
    entry = write_take(config.out, f"take{index:05d}", audio, targets, meta)
    return entry, len(audio) / SAMPLE_RATE
