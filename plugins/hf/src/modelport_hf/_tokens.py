"""Token text and bytes for logprobs, and stop-sequence cuts: pure functions, no torch.

A vocabulary entry is stored in one of two spellings. Byte-level BPE (GPT-2, Llama 3, Qwen)
writes each byte as a printable character; SentencePiece-style vocabularies (Llama 2, Mistral)
write a leading space as `▁` and bytes outside the vocabulary as `<0xNN>`.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["find_stop", "token_bytes", "token_text"]

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_SPIECE_SPACE = "\u2581"


@lru_cache(maxsize=1)
def _byte_level_decoder() -> dict[str, int]:
    """The inverse of byte-level BPE's byte-to-character table."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\xa1"), ord("\xac") + 1),
        *range(ord("\xae"), ord("\xff") + 1),
    ]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def token_bytes(piece: str, byte_level: bool) -> bytes:
    """The bytes a vocabulary entry `piece` stands for.

    Args:
        piece: The token as the vocabulary spells it (`convert_ids_to_tokens`).
        byte_level: The tokenizer is byte-level BPE (its decoder is `ByteLevel`).
    """
    if byte_level:
        table = _byte_level_decoder()
        if all(c in table for c in piece):
            return bytes(table[c] for c in piece)
        return piece.encode("utf-8")  # an added token, stored as plain text
    match = _BYTE_TOKEN.fullmatch(piece)
    if match:
        return bytes([int(match.group(1), 16)])
    return piece.replace(_SPIECE_SPACE, " ").encode("utf-8")


def token_text(data: bytes) -> str:
    """A token's bytes as text; a token holding part of a character shows U+FFFD for it."""
    return data.decode("utf-8", errors="replace")


def find_stop(text: str, stop_seqs: tuple[str, ...]) -> int | None:
    """Where the earliest stop sequence begins in `text`, or None when none occurs."""
    found = [i for s in stop_seqs if (i := text.find(s)) >= 0]
    return min(found) if found else None
