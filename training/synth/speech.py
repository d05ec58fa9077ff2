"""Text -> speech audio plus timed phonemes, from espeak-ng (many languages), flite (English) and
festival's diphone voices (English, Italian).

espeak-ng and flite are driven in-process through ctypes: a subprocess per take would cost more
than their synthesis, and only their C APIs report phoneme timing. Each process owns one engine of
each kind (the C libraries keep global state), so `multiprocessing` workers call `Espeak()` /
`Flite()` once and reuse them. festival has no C API; it runs as a program and writes its
segment timings to a file.
"""

import ctypes
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# libsndfile must be loaded before the flite voices: loading them first breaks soundfile's writer.
import soundfile  # noqa: F401  pylint: disable=unused-import

from a2f_core.audio import SAMPLE_RATE, resample
from a2f_core.errors import A2FError

SILENCE = "_"  # phoneme symbol for pauses, in every alphabet


@dataclass
class Speech:
    """Synthesised speech: (N,) float32 samples at 16 kHz and phonemes covering all of it."""
    samples: np.ndarray
    phonemes: list     # [start_s, end_s, symbol], contiguous from 0 to the end of the audio
    alphabet: str      # 'ipa' (espeak-ng, festival outside English) or 'arpabet' (flite,
                       # festival in English: CMU lowercase)
    synthesiser: str
    voice: str
    language: str


def _load(name: str) -> ctypes.CDLL:
    try:
        return ctypes.CDLL(name)
    except OSError:
        raise A2FError(f"cannot load {name}; install the Debian packages espeak-ng, "
                       "libespeak-ng1 and flite (make apt)") from None


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """espeak_EVENT from speak_lib.h."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.POINTER(_Event))
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS, _INITIALIZE_PHONEME_IPA, _INITIALIZE_DONT_EXIT = 0x1, 0x2, 0x8000
_EVENT_LIST_TERMINATED, _EVENT_PHONEME = 0, 7
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
_POS_CHARACTER, _CHARS_UTF8 = 1, 1


class Espeak:
    """libespeak-ng.so.1 in synchronous mode, collecting samples and IPA phoneme events."""

    def __init__(self):
        self._lib = _load("libespeak-ng.so.1")
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                           ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                           ctypes.c_void_p, ctypes.c_void_p]
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        self.rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, None, options)
        if self.rate <= 0:
            raise A2FError("espeak-ng failed to initialise; reinstall espeak-ng-data")
        self._chunks, self._events = [], []
        self._callback = _SYNTH_CALLBACK(self._collect)  # kept alive as long as the engine
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, count, events):
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_PHONEME:
                symbol = events[i].id.string.decode("utf-8", "ignore").strip()
                if not symbol.startswith("("):  # '(en)' marks a language switch, not a sound
                    self._events.append((events[i].audio_position / 1000.0, symbol or SILENCE))
            i += 1
        return 0

    def synth(self, text: str, language: str, variant: str, rate_wpm: int = 175,
              pitch: int = 50, pitch_range: int = 50) -> Speech:
        """Speak `text` with voice `language+variant`; rate in words/minute, pitch 0..100."""
        voice = f"{language}+{variant}" if variant else language
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise A2FError(f"espeak-ng has no voice {voice!r}; see `espeak-ng --voices`")
        for parameter, value in ((_RATE, rate_wpm), (_PITCH, pitch), (_RANGE, pitch_range),
                                 (_VOLUME, 100)):
            self._lib.espeak_SetParameter(parameter, int(value), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        self._lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        raw = np.concatenate(self._chunks) if self._chunks else np.zeros(1, np.int16)
        samples = resample(raw.astype(np.float32) / 32768.0, self.rate, SAMPLE_RATE)
        phonemes = _segments_from_starts(self._events, len(samples) / SAMPLE_RATE)
        return Speech(samples, stop_closures_to_stops(phonemes, samples), "ipa", "espeak-ng",
                      voice, language)


class _Wave(ctypes.Structure):
    """cst_wave from flite's cst_wave.h."""
    _fields_ = [("type", ctypes.c_char_p), ("sample_rate", ctypes.c_int),
                ("num_samples", ctypes.c_int), ("num_channels", ctypes.c_int),
                ("samples", ctypes.POINTER(ctypes.c_short))]


class _Voice(ctypes.Structure):
    """The leading fields of cst_voice: its name and feature set."""
    _fields_ = [("name", ctypes.c_char_p), ("features", ctypes.c_void_p)]


FLITE_VOICES = ("slt", "rms", "awb", "kal16", "kal")  # CMU US voices packaged by Debian


class Flite:
    """libflite with the CMU US voices; phone timings come from the utterance's Segment relation."""

    def __init__(self):
        lib = _load("libflite.so.1")
        p, s, f = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float
        for name, restype, argtypes in (
                ("flite_synth_text", p, [s, p]), ("utt_wave", ctypes.POINTER(_Wave), [p]),
                ("utt_relation", p, [p, s]), ("relation_head", p, [p]), ("item_next", p, [p]),
                ("item_feat_string", s, [p, s]), ("item_feat_float", f, [p, s]),
                ("delete_utterance", None, [p]), ("flite_feat_set_float", None, [p, s, f])):
            getattr(lib, name).restype = restype
            getattr(lib, name).argtypes = argtypes
        lib.flite_init()
        self._lib, self._voices = lib, {}

    def _voice(self, name: str):
        if name not in self._voices:
            if name not in FLITE_VOICES:
                raise A2FError(f"unknown flite voice {name!r}; use one of {FLITE_VOICES}")
            register = getattr(_load(f"libflite_cmu_us_{name}.so.1"), f"register_cmu_us_{name}")
            register.restype, register.argtypes = ctypes.POINTER(_Voice), [ctypes.c_char_p]
            self._voices[name] = register(None)
        return self._voices[name]

    def synth(self, text: str, voice: str, duration_stretch: float = 1.0,
              f0_mean_hz: float = 110.0, f0_stddev_hz: float = 15.0) -> Speech:
        """Speak English `text`; duration_stretch > 1 is slower speech."""
        v = self._voice(voice)
        for key, value in ((b"duration_stretch", duration_stretch),
                           (b"int_f0_target_mean", f0_mean_hz),
                           (b"int_f0_target_stddev", f0_stddev_hz)):
            self._lib.flite_feat_set_float(v.contents.features, key, value)
        utt = self._lib.flite_synth_text(text.encode("ascii", "ignore"), ctypes.cast(v, ctypes.c_void_p))
        try:
            wave = self._lib.utt_wave(utt).contents
            raw = np.ctypeslib.as_array(wave.samples, shape=(wave.num_samples,)).astype(np.float32)
            samples = resample(raw / 32768.0, wave.sample_rate, SAMPLE_RATE)
            ends = []
            item = self._lib.relation_head(self._lib.utt_relation(utt, b"Segment"))
            while item:
                name = self._lib.item_feat_string(item, b"name").decode()
                ends.append((float(self._lib.item_feat_float(item, b"end")),
                             SILENCE if name == "pau" else name))
                item = self._lib.item_next(item)
        finally:
            self._lib.delete_utterance(utt)
        phonemes = _segments_from_ends(ends, len(samples) / SAMPLE_RATE)
        return Speech(samples, phonemes, "arpabet", "flite", voice, "en")


# Debian's diphone voices: language -> our voice name -> festival's voice
FESTIVAL_VOICES = {
    "en": {"ked": "ked_diphone"},
    "it": {"lp": "lp_diphone", "pc": "pc_diphone"},
    "cs": {"dita": "czech_dita", "krb": "czech_krb", "machac": "czech_machac", "ph": "czech_ph"},
    "fi": {"lj": "suo_fi_lj_diphone", "mv": "hy_fi_mv_diphone"},
}
_FESTIVAL_ENCODING = {"cs": "iso-8859-2"}  # festival reads 8-bit text; Latin-1 elsewhere
# Phone sets (length marks and Italian stress dropped) -> IPA letters the teacher knows
_FESTIVAL_IPA = {
    "it": {"E": "ɛ", "O": "ɔ", "S": "ʃ", "Z": "ʒ", "tS": "tʃ", "dZ": "dʒ", "J": "ɲ", "L": "ʎ",
           "ng": "ŋ", "nf": "ɱ"},
    "cs": {"_": "ʔ", "c": "ts", "c~": "tʃ", "dz~": "dʒ", "ch": "x", "h": "ɦ", "d~": "d",
           "t~": "t", "n~": "ɲ", "n*": "ŋ", "r~": "r", "r~*": "r", "s~": "ʃ", "z~": "ʒ"},
    "fi": {"@": "æ", "7": "ø", "&": "ə", "T": "θ", "D": "ð", "S": "ʃ", "Z": "ʒ", "N": "ŋ",
           "L": "l"},
    # msu_ru: a doubled consonant is the palatalised one; reduced vowels take their full ones
    "ru": {**{c + c: c for c in "pbtdkgfvszhnlrm"}, "g": "ɡ", "gg": "ɡ", "c": "ts", "ch": "tʃ",
           "sh": "ʂ", "sch": "ɕ", "zh": "ʐ", "h": "x", "hh": "x", "ii": "i", "yy": "ɨ", "uu": "u",
           "ee": "e", "oo": "o", "aa": "a", "y": "ɨ", "ae": "ɛ", "ay": "e", "ur": "ʊ"},
}
_FESTIVAL_PAUSES = ("pau", "#", "##")


class Festival:
    """The festival program with its diphone voices.

    A diphone voice concatenates pieces of one person's recorded speech, so its stop closures and
    nasal murmurs are a human's, unlike espeak-ng's formant synthesis or flite's statistical
    voices. Phone timings come from the utterance's Segment relation (`utt.save.segs`).
    """

    def synth(self, text: str, language: str, voice: str,
              duration_stretch: float = 1.0) -> Speech:
        """Speak `text` in `language` with one of FESTIVAL_VOICES[language]."""
        if voice not in FESTIVAL_VOICES.get(language, {}):
            voices = "; ".join(f"{lang}: {' '.join(v)}" for lang, v in FESTIVAL_VOICES.items())
            raise A2FError(f"no festival voice {voice!r} for {language!r}; festival has {voices}")
        quoted = text.replace("\\", " ").replace('"', " ")
        with tempfile.TemporaryDirectory() as tmp:
            wav, segs = Path(tmp, "speech.wav"), Path(tmp, "speech.segs")
            script = (f"(voice_{FESTIVAL_VOICES[language][voice]})\n"
                      f"(Parameter.set 'Duration_Stretch {duration_stretch:.4f})\n"
                      f'(set! utt (Utterance Text "{quoted}"))\n(utt.synth utt)\n'
                      f"(utt.save.wave utt \"{wav}\" 'riff)\n(utt.save.segs utt \"{segs}\")\n")
            encoding = _FESTIVAL_ENCODING.get(language, "latin-1")
            try:
                done = subprocess.run(["festival", "--pipe"], capture_output=True, timeout=300,
                                      input=script.encode(encoding, "ignore"))
            except FileNotFoundError:
                raise A2FError("cannot run festival; install it and its voices (the Debian "
                               "packages festival and festvox-*: make apt)") from None
            lines = segs.read_text().splitlines()[1:] if segs.exists() and wav.exists() else []
            if not lines:  # festival reports errors on stderr but exits with 0
                error = done.stderr.decode("latin-1").strip().splitlines()
                raise A2FError(f"festival ({voice}) could not speak {text!r}: "
                               f"{error[-1] if error else 'no output'}")
            raw, rate = soundfile.read(wav, dtype="float32")
        samples = resample(raw, rate, SAMPLE_RATE)
        ends = [(float(end), _festival_symbol(name, language))
                for end, _, name in (line.split() for line in lines)]
        phonemes = _segments_from_ends(ends, len(samples) / SAMPLE_RATE)
        return Speech(samples, phonemes, "arpabet" if language == "en" else "ipa", "festival",
                      voice, language)


def _festival_symbol(name: str, language: str) -> str:
    if name in _FESTIVAL_PAUSES:
        return SILENCE
    if language == "en":
        return name
    base = name.rstrip("1:")
    return _FESTIVAL_IPA[language].get(base, base)


VOICELESS_STOPS = ("p", "t", "k")
CLOSURE_BELOW_DB = 30.0  # a stop's closure: quieter than the loud syllables by this much
MAX_CLOSURE_SECONDS = 0.15
MIN_VOWEL_SECONDS = 0.02  # the phoneme before a stop keeps at least this much


def level_db(samples: np.ndarray, window_seconds: float) -> np.ndarray:
    """(N,) power in dB of the window_seconds centred on each sample."""
    width = 2 * int(window_seconds / 2 * SAMPLE_RATE)
    power = np.convolve(np.square(samples, dtype=np.float64), np.ones(width) / width, "same")
    return 10 * np.log10(power + 1e-10)


def stop_closures_to_stops(segments: list, samples: np.ndarray) -> list:
    """Give each voiceless stop its closure (in place; returns segments).

    espeak-ng reports a /p t k/ at its burst and counts the silent closure before it as part of
    the previous phoneme (measured: the closure of /p/ lay inside the /p/ only 23% of the time,
    against 78% for flite). The teacher shuts the lips over a bilabial's interval, so the stop's
    start is moved back over the quiet stretch that ends at the burst.
    """
    rate = 200  # power measured over 10 ms every 5 ms
    db = level_db(samples, 2 / rate)[::SAMPLE_RATE // rate]
    quiet = db < np.percentile(db, 95) - CLOSURE_BELOW_DB
    for previous, stop in zip(segments, segments[1:]):
        if stop[2] not in VOICELESS_STOPS or previous[2] == SILENCE:
            continue
        first = max(previous[0] + MIN_VOWEL_SECONDS, stop[0] - MAX_CLOSURE_SECONDS)
        i = int(round(stop[0] * rate))  # power frame i is centred at i / rate
        while i > 0 and quiet[min(i - 1, len(quiet) - 1)] and (i - 1) / rate >= first:
            i -= 1
        previous[1] = stop[0] = round(min(stop[0], i / rate), 4)
    return segments


def _segments_from_ends(ends: list, seconds: float) -> list:
    """[(end_s, symbol)] in order, the first starting at 0 (a Segment relation) -> segments."""
    starts = [(0.0, ends[0][1])] + [(end, sym) for (end, _), (_, sym) in zip(ends, ends[1:])]
    return _segments_from_starts(starts, seconds)


def _segments_from_starts(starts: list, seconds: float) -> list:
    """[(start_s, symbol)] -> contiguous [start_s, end_s, symbol] from 0 to `seconds`.

    Leading audio before the first event and repeated pauses become single silence segments;
    zero-length events (espeak emits some at word boundaries) are dropped.
    """
    segments = []
    for (start, symbol), nxt in zip(starts, starts[1:] + [(seconds, None)]):
        start, end = min(start, seconds), min(nxt[0], seconds)
        if end <= start:
            continue
        if segments and symbol == SILENCE == segments[-1][2]:
            segments[-1][1] = round(end, 4)
        else:
            segments.append([round(start, 4), round(end, 4), symbol])
    if not segments:
        segments.append([0.0, seconds, SILENCE])
    elif segments[0][2] == SILENCE:
        segments[0][0] = 0.0
    elif segments[0][0] > 0:
        segments.insert(0, [0.0, segments[0][0], SILENCE])
    segments[-1][1] = seconds
    return segments
