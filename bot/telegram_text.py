"""Telegram's length limits as Telegram counts them: in UTF-16 code units, so an emoji outside
the Basic Multilingual Plane ("📞") counts twice. A text is at most 4 096 units, a caption
1 024. Long texts are split on a paragraph, else a sentence, else a word boundary; only a
text without any is cut hard, and then between code points, so never inside a surrogate
pair. The parts keep every character: joined they are the original text."""

from __future__ import annotations

import re

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

# Where a part may end, best first: after a blank line, after a sentence (or a line), after
# a word.
_BOUNDARIES = (
    re.compile(r"\n\s*\n"),
    re.compile(r"[.!?…](?=\s)\s*|\n"),
    re.compile(r"\s+"),
)


def utf16_len(text: str) -> int:
    """The length Telegram counts: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _fitting(text: str, limit: int) -> int:
    """How many code points of `text` fit in `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _cut(head: str) -> int:
    """Where to end a part inside `head` (the most that fits): after the last boundary of the
    best kind in its second half (a paragraph break early on would only make more messages),
    else after its last word, else all of it."""
    *better, word = _BOUNDARIES
    for boundary in better:
        ends = [m.end() for m in boundary.finditer(head) if m.end() >= len(head) // 2]
        if ends:
            return ends[-1]
    ends = [m.end() for m in word.finditer(head) if m.end() > 0]
    return ends[-1] if ends else len(head)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of at most `limit` UTF-16 units that together are `text` (one part if it fits)."""
    parts: list[str] = []
    while utf16_len(text) > limit:
        head = text[: _fitting(text, limit)]
        cut = _cut(head)
        parts.append(text[:cut])
        text = text[cut:]
    if text or not parts:
        parts.append(text)
    return parts


def truncate(text: str, limit: int, ellipsis: str = " …") -> str:
    """`text` cut to fit `limit` UTF-16 units with `ellipsis`, between code points."""
    if utf16_len(text) <= limit:
        return text
    return text[: _fitting(text, limit - utf16_len(ellipsis))] + ellipsis
