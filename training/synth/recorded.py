"""Real speech as one more speech source: festival's unit-selection voices ship the recordings
they were built from, each with its phone labels, so a take can be a person's own utterance
instead of a synthesised one. The teacher and the augmentation treat it as any other speech."""

from pathlib import Path

import numpy as np

from a2f_core.audio import SAMPLE_RATE, load_audio
from a2f_core.errors import A2FError

from .speech import Speech, _festival_symbol, _segments_from_ends

VOICE_ROOT = Path("/usr/share/festival/voices")
# language -> voice -> folder under VOICE_ROOT holding wav/NAME.wav and lab/NAME.lab
RECORDED_VOICES = {"ru": {"nsh": "russian/msu_ru_nsh_clunits"}}  # Debian festvox-ru: 620 takes


class Recordings:
    """The recorded utterances of RECORDED_VOICES, listed once per process."""

    def __init__(self):
        self._names = {}

    def names(self, language: str, voice: str) -> list:
        """Sorted utterance names of a voice (its wav files that have labels)."""
        if (language, voice) not in self._names:
            folder = VOICE_ROOT / RECORDED_VOICES[language][voice]
            names = sorted(p.stem for p in (folder / "wav").glob("*.wav")
                           if (folder / "lab" / f"{p.stem}.lab").is_file())
            if not names:
                raise A2FError(f"no labelled recordings in {folder}; install the voice's Debian "
                               "package (festvox-ru: make apt)")
            self._names[language, voice] = names
        return self._names[language, voice]

    def speak(self, language: str, voice: str, rng: np.random.Generator) -> tuple:
        """A random recording of the voice: (Speech, its name in place of the text)."""
        names = self.names(language, voice)
        name = names[int(rng.integers(len(names)))]
        folder = VOICE_ROOT / RECORDED_VOICES[language][voice]
        samples = load_audio(folder / "wav" / f"{name}.wav")
        ends = [(float(end), _festival_symbol(phone, language))
                for end, phone in read_festival_lab(folder / "lab" / f"{name}.lab")]
        phonemes = _segments_from_ends(ends, len(samples) / SAMPLE_RATE)
        return Speech(samples, phonemes, "ipa", "recorded", voice, language), name


def read_festival_lab(path) -> list:
    """[(end_s, phone)] of a festival label file: a header up to '#', then 'end_s 125 phone'."""
    lines = Path(path).read_text(encoding="latin-1").splitlines()
    body = lines[lines.index("#") + 1:] if "#" in lines else lines
    return [(fields[0], fields[2]) for fields in (line.split() for line in body) if len(fields) >= 3]
