"""The DAMSM vocabulary: words of the training captions -> ids, stored with the encoder.

Tokens as AttnGAN makes them (nltk's RegexpTokenizer(r'\\w+') on the lower-cased caption, ASCII
only): runs of letters, digits and underscores. Id 0 is padding ("<end>", AttnGAN's id 0), id 1
is "<unk>" for any word the training captions never used (AttnGAN builds its vocabulary from
train and test captions together, so it never meets an unknown word; we build it from the
training captions only, so test and free text can hold some). A caption longer than
`max_words` (AttnGAN: 18) keeps a random 18 of its words in order while training (AttnGAN's
get_caption) and its first 18 otherwise (deterministic features for evaluation and generation).

A word outside the vocabulary first goes through the synonym table the bag-of-words encoder
uses (bow_synonyms.py: "crimson" -> "red", "chest" -> "breast"), then through its singular or
plural form; only a word none of these reaches is <unk>. `unknown_words` names those, so
that generation can say which words it ignored instead of dropping them silently.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from ..errors import EncoderError
from ..fileio import FileFormatError, atomic_write_text
from ..fileio import read_json as bounded_json
from .bow_synonyms import SYNONYMS

PAD, UNK = "<end>", "<unk>"
VOCAB_FORMAT = "gtgan-damsm-vocab"
MAX_VOCAB_BYTES = 64 << 20  # a vocabulary of a million words fits
_TOKEN = re.compile(r"[A-Za-z0-9_]+")


def read_json(path: Path, what: str):
    """A JSON file of a DAMSM folder, or an EncoderError naming the file."""
    try:
        return bounded_json(path, max_bytes=MAX_VOCAB_BYTES)
    except FileNotFoundError:
        raise EncoderError(f"{path}: {what} not found") from None
    except FileFormatError as exc:
        raise EncoderError(str(exc)) from None


def tokenize(caption: str) -> list[str]:
    return _TOKEN.findall(caption.lower())


def _number_forms(word: str) -> list[str]:
    """The word's plural and singular guesses ("wing" <-> "wings", "leaf" -> "leaves")."""
    out = [word + "s", word + "es"]
    if word.endswith("f"):
        out.append(word[:-1] + "ves")
    if word.endswith("ves"):
        out += [word[:-3] + "f", word[:-1]]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        out.append(word[:-1])
        if word.endswith("es"):
            out.append(word[:-2])
    return out


def fallback_words(word: str) -> list[str]:
    """What an out-of-vocabulary word is tried as, in order: its number forms, then its
    synonym-table word (looked up for the word and its singular) and that word's forms."""
    tries = _number_forms(word)
    for key in [word] + tries:
        canon = SYNONYMS.get(key)
        if canon:
            tries += [canon] + _number_forms(canon)
            break
    return tries


class Vocabulary:
    """words[i] is the word of id i; words[0] = PAD, words[1] = UNK."""

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if words[:2] != [PAD, UNK] or len(set(words)) != len(words):
            raise EncoderError(f"a DAMSM vocabulary starts with {PAD!r}, {UNK!r} and has no repeats")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1) -> "Vocabulary":
        """Every word used at least `min_count` times (AttnGAN: all), alphabetical."""
        counts = Counter(t for c in captions for t in tokenize(c))
        return cls([PAD, UNK] + sorted(w for w, n in counts.items() if n >= min_count))

    def __len__(self) -> int:
        return len(self.words)

    def lookup(self, word: str) -> int:
        """The id of a token, through the synonym fallback; 1 (<unk>) when nothing matches."""
        hit = self.index.get(word)
        if hit is None:
            hit = next((self.index[w] for w in fallback_words(word) if w in self.index), 1)
        return hit

    def unknown_words(self, captions: Iterable[str]) -> list[str]:
        """Words of `captions` still <unk> after the fallback, each once, in order of use."""
        seen: dict[str, None] = {}
        for c in captions:
            for t in tokenize(c):
                if t not in seen and self.lookup(t) == 1:
                    seen[t] = None
        return list(seen)

    def ids(self, caption: str, max_words: int, rng: np.random.Generator | None = None) -> list[int]:
        """Token ids of one caption (at least one: an empty caption is one <unk>)."""
        ids = [self.lookup(t) for t in tokenize(caption)] or [1]
        if len(ids) > max_words:
            if rng is None:
                ids = ids[:max_words]
            else:
                keep = np.sort(rng.choice(len(ids), max_words, replace=False))
                ids = [ids[i] for i in keep]
        return ids

    def batch(self, captions: Sequence[str], max_words: int,
              rngs: Sequence[np.random.Generator] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids (n, T) padded with 0, lengths (n,)) for a list of captions."""
        rows = [self.ids(c, max_words, rngs[i] if rngs is not None else None)
                for i, c in enumerate(captions)]
        width = max((len(r) for r in rows), default=1)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        return ids, torch.tensor([len(r) for r in rows], dtype=torch.long)

    def unknown_share(self, captions: Iterable[str]) -> float:
        toks = [t for c in captions for t in tokenize(c)]
        return sum(self.lookup(t) == 1 for t in toks) / len(toks) if toks else 0.0

    # ------------------------------------------------------------ files
    def to_json(self) -> str:
        return json.dumps({"format": VOCAB_FORMAT, "version": 1, "words": self.words}, indent=0) + "\n"

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json(), durable=True)

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        path = Path(path)
        data = read_json(path, "DAMSM vocabulary")
        if not isinstance(data, dict) or data.get("format") != VOCAB_FORMAT \
                or not isinstance(data.get("words"), list) \
                or not all(isinstance(w, str) for w in data["words"]):
            raise EncoderError(f"{path}: not a gtgan DAMSM vocabulary (format {VOCAB_FORMAT!r} "
                               "with a list of words)")
        try:
            return cls(data["words"])
        except EncoderError as exc:
            raise EncoderError(f"{path}: {exc}") from None
