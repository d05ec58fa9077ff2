"""What the voices say: phonetically rich sentences per language (the .txt files here, one
sentence a line, '#' comments) plus random syllable strings that cover consonant-vowel pairs the
sentences miss."""

from functools import lru_cache
from pathlib import Path

import numpy as np

_HERE = Path(__file__).parent

# Spellings that each language's espeak-ng rules read as the intended onset / vowel.
_ONSETS = {
    "en": "b p m f v th s z sh ch j k g t d n l r w y h".split(),
    "de": "b p m f w s sch z k g t d n l r j h pf".split(),
    "fr": "b p m f v s z ch j k g t d n l r".split(),
    "es": "b p m f s ch k g t d n l r ll j".split(),
    "it": "b p m f v s z c g t d n l r gn".split(),
    "pt": "b p m f v s z ch j c g t d n l r nh".split(),
    "nl": "b p m f v s z sch k g t d n l r w j h".split(),
    "cs": "b p m f v s z š ž k g t d n l r ř j h ch c č".split(),
    "fi": "p m v s k t d n l r j h".split(),
}
_VOWELS = {
    "en": "a ee oo o ay i u ow oy".split(),
    "de": "a e i o u ä ö ü au ei".split(),
    "fr": "a é i o ou u eu on an".split(),
    "es": "a e i o u".split(),
    "it": "a e i o u".split(),
    "pt": "a e i o u ão ã".split(),
    "nl": "a e i o oe u eu ij".split(),
    "cs": "a e i o u á é í ó ú ě y".split(),
    "fi": "a e i o u y ä ö aa ee ii uu".split(),
}
LANGUAGES = tuple(sorted(p.stem for p in _HERE.glob("*.txt")))


@lru_cache(maxsize=None)
def sentences(language: str) -> tuple:
    """All sentences for a language code (e.g. 'en')."""
    lines = (_HERE / f"{language}.txt").read_text(encoding="utf-8").splitlines()
    return tuple(s.strip() for s in lines if s.strip() and not s.startswith("#"))


def syllable_string(language: str, rng: np.random.Generator, words: int) -> str:
    """`words` nonsense words of 1-3 open or closed syllables, e.g. 'bapo mi toosh.'"""
    onsets, vowels = _ONSETS[language], _VOWELS[language]
    out = []
    for _ in range(words):
        syllables = [str(rng.choice(onsets)) + str(rng.choice(vowels))
                     for _ in range(int(rng.integers(1, 4)))]
        if rng.random() < 0.3:
            syllables[-1] += str(rng.choice(list("mnstkl")))
        out.append("".join(syllables))
    return " ".join(out) + "."
