"""The clinic's posts: reading them, finding each claim's quote, cutting text for colouring.

A post is a Markdown or HTML file in the content folder. Offsets always refer to `Post.text`: the
raw file text for Markdown, the document's text content for HTML (tags carry no claims). Quotes are
matched with whitespace, typographic quotes/dashes and Markdown emphasis normalised, because an
editor copying a sentence rarely reproduces those exactly; the span is still on the raw text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import lxml.html

from .errors import ParseError

POST_SUFFIXES = (".md", ".markdown", ".html", ".htm")

# Characters an editor's copy may spell differently from the post.
_EQUIVALENT = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201f": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
    }
)
_IGNORED = frozenset("*_")  # Markdown emphasis markers
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n---[ \t]*\n", re.DOTALL)

Span = tuple[int, int]


@dataclass(frozen=True)
class Post:
    """One post: its file name (relative to the content folder) and the text offsets refer to."""

    name: str
    path: Path
    text: str

    @property
    def body_start(self) -> int:
        """Offset after a Markdown front-matter block, so a viewer can skip the metadata."""
        match = _FRONT_MATTER.match(self.text)
        return match.end() if match else 0


def list_posts(content_dir: Path) -> list[str]:
    """Post file names in a content folder, sorted; the clinic adds posts by adding files."""
    if not content_dir.is_dir():
        return []
    return sorted(
        p.name for p in content_dir.iterdir() if p.is_file() and p.suffix.lower() in POST_SUFFIXES
    )


def read_post(path: Path) -> Post:
    """Read a Markdown or HTML post; an unreadable or unknown file is a `ParseError` naming it."""
    suffix = path.suffix.lower()
    if suffix not in POST_SUFFIXES:
        raise ParseError(str(path), f"not a post: expected one of {', '.join(POST_SUFFIXES)}")
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ParseError(str(path), f"cannot read post: {e}") from e
    text = html_text(raw) if suffix in (".html", ".htm") else raw
    return Post(name=path.name, path=path, text=text)


def html_text(raw: str) -> str:
    """Visible text of an HTML document, with block elements on their own lines."""
    if not raw.strip():
        return ""
    root = lxml.html.document_fromstring(raw)
    for bad in root.xpath("//script|//style|//head"):
        bad.drop_tree()
    for block in root.xpath("//p|//h1|//h2|//h3|//h4|//h5|//h6|//li|//div|//br|//tr|//blockquote"):
        block.tail = "\n\n" + (block.tail or "")
    text = root.text_content()
    return re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", text).strip() + "\n"


def _normalise(text: str) -> tuple[str, list[int]]:
    """Normalised text plus, for each of its characters, the raw offset it came from."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text.translate(_EQUIVALENT)):
        if ch in _IGNORED:
            continue
        if ch.isspace():
            if not chars or chars[-1] == " ":
                continue
            ch = " "
        chars.append(ch)
        where.append(i)
    return "".join(chars), where


def find_quote(text: str, quote: str) -> Span | None:
    """Raw character span ``(start, end)`` of the first occurrence of a quote, or None."""
    needle, _ = _normalise(quote)
    needle = needle.strip()
    if not needle:
        return None
    hay, where = _normalise(text)
    pos = hay.find(needle)
    if pos < 0:
        return None
    return where[pos], where[pos + len(needle) - 1] + 1


def quote_spans(text: str, quotes: dict[str, str]) -> dict[str, Span | None]:
    """Span of each claim's quote in a post's text, keyed by claim id (None = not found)."""
    return {claim_id: find_quote(text, quote) for claim_id, quote in quotes.items()}


def highlight_segments(
    text: str, spans: Iterable[tuple[int, int, str]] | dict[str, Span | None], start: int = 0
) -> list[tuple[str, str | None]]:
    """Cut ``text[start:]`` into consecutive ``(segment, claim_id | None)`` pieces.

    Joining the segments gives back the text, so a dashboard only maps claim ids to colours.
    Where two quotes overlap, the one starting first keeps the overlap.
    """
    items: Sequence[tuple[int, int, str]]
    if isinstance(spans, dict):
        items = [(s[0], s[1], cid) for cid, s in spans.items() if s is not None]
    else:
        items = list(spans)
    segments: list[tuple[str, str | None]] = []
    pos = start
    for s, e, claim_id in sorted(items, key=lambda t: (t[0], t[1], t[2])):
        s, e = max(s, pos), min(e, len(text))
        if e <= s:
            continue
        if s > pos:
            segments.append((text[pos:s], None))
        segments.append((text[s:e], claim_id))
        pos = e
    if pos < len(text):
        segments.append((text[pos:], None))
    return segments
