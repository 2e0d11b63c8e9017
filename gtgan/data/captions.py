"""Caption files: one caption per line, UTF-8. Problems are named by file and line."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

_FFFD_RUN = re.compile("\ufffd+")
# Bounds on one caption file, so a hostile or mistaken file costs bounded memory and cache:
MAX_FILE_BYTES = 1 << 20  # CUB's are about 1 kB
MAX_CAPTIONS = 1000  # distinct captions per image (CUB has 10)
MAX_CHARS = 1000  # characters per caption, as TextToImage accepts
_SPACES = re.compile(r"\s+")


def clean_caption(text: str) -> str:
    """Canonical form of a caption line: U+FFFD runs (a broken space in CUB) -> space, NFC,
    collapsed whitespace, stripped. Keys of the char-CNN-RNN lookup use this form too."""
    text = unicodedata.normalize("NFC", _FFFD_RUN.sub(" ", text))
    return _SPACES.sub(" ", text).strip()


class CaptionFileError(DataError):
    """A caption file is missing, unreadable, too short or has empty lines."""


@dataclass
class CaptionFile:
    captions: list[str]
    fffd_lines: int = 0  # lines where U+FFFD runs (a broken space in CUB) became spaces
    empty_lines: int = 0  # empty lines dropped (own folders only)
    duplicate_lines: int = 0  # repeats of an earlier line dropped (own folders only)


def read_caption_file(path: str | Path, need: int | None = None, strict_empty: bool = False,
                      skip_hint: str = "") -> CaptionFile:
    """Read captions, one a line. `need`: exactly that many are used (fewer is an error,
    more are cut, as AttnGAN does). `strict_empty`: an empty line before the last caption is
    an error (CUB: captions are matched to their precomputed vectors by line number)."""
    path = Path(path)
    hint = skip_hint or ("or skip this image with data.skip_missing=true (CLI --skip-missing)")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise CaptionFileError(f"{path}: caption file not found; add it, {hint}") from None
    except OSError as exc:
        raise CaptionFileError(f"{path}: cannot read caption file ({exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CaptionFileError(f"{path} line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                               f"save the file as UTF-8, {hint}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CaptionFileError(f"{path}: larger than {MAX_FILE_BYTES:,} bytes; a caption file holds "
                               f"a few captions of one image, one a line, {hint}")
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    out, seen = CaptionFile([]), set()
    for n, line in enumerate(lines, 1):
        if "\ufffd" in line:
            out.fffd_lines += 1
        if len(line) > MAX_CHARS:
            raise CaptionFileError(f"{path} line {n}: {len(line):,} characters; a caption has at "
                                   f"most {MAX_CHARS:,}: shorten it, {hint}")
        cap = clean_caption(line)
        if not cap:
            if strict_empty:
                raise CaptionFileError(
                    f"{path} line {n} is empty: each line must hold one caption (they are matched "
                    f"to their precomputed vectors by line number); restore the original file, "
                    f"{hint}")
            out.empty_lines += 1
            continue
        if need is None:  # own folders: a repeated line adds nothing but cache rows
            if cap in seen:
                out.duplicate_lines += 1
                continue
            seen.add(cap)
            if len(seen) > MAX_CAPTIONS:
                raise CaptionFileError(f"{path}: more than {MAX_CAPTIONS:,} different captions; "
                                       f"keep the ones that describe this image, {hint}")
        out.captions.append(cap)
    if need is not None:
        if len(out.captions) < need:
            raise CaptionFileError(
                f"{path}: {len(out.captions)} caption line(s), {need} needed (one caption per "
                f"line; the embeddings hold {need} per image); restore the original file, {hint}")
        out.captions = out.captions[:need]
    elif not out.captions:
        raise CaptionFileError(f"{path}: no captions (one caption per line); write at least one, "
                               f"{hint}")
    return out
