"""Draft claims from a post: sentences that assert something about a tracked topic.

A proposal is a sentence (split with pysbd) that mentions a topic (or continues the previous
sentence's topic through a leading pronoun: "It", "These"...) and carries an assertion cue: an
assertive verb, a quantity, a comparison or a causal word. Questions and sentences addressed to the
reader ("you", "we") are advice or framing rather than checkable claims and are left out, as
are lead-ins ending in a colon. The
editor trims the draft; recall matters more than precision here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pysbd
import yaml

from .content import Span

# Words that place a sentence in a tracked topic (case-insensitive unless noted in the pattern).
TOPIC_TERMS: dict[str, re.Pattern[str]] = {
    "tms": re.compile(
        r"\b(?:r?TMS|dTMS|iTBS|theta[- ]burst|transcranial magnetic stimulation|"
        r"magnetic (?:pulses|fields?|coil)|brain stimulation|dorsolateral prefrontal cortex|"
        r"DLPFC)\b",
        re.I,
    ),
    "blunting": re.compile(
        r"\b(?:blunt\w*|numb\w*|emotional (?:flat\w*|detach\w*|disconnect\w*|responsiv\w*|"
        r"range|nuance)|flat(?:tened)? affect|anhedoni\w*|emotions?|feelings)\b",
        re.I,
    ),
    "ssri": re.compile(
        r"\b(?:SSRIs?|SNRIs?|antidepressants?|selective serotonin reuptake inhibitors?|"
        r"serotonin|neurotransmitters?|medications?)\b",
        re.I,
    ),
}

CUES: dict[str, re.Pattern[str]] = {
    "quantity": re.compile(
        r"\d|%|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twenty|most|many|several|"
        r"few|half|majority)\b",
        re.I,
    ),
    "comparison": re.compile(
        r"\b(?:more|less|fewer|better|worse|than|compared|versus|especially|different|similar|"
        r"higher|lower|greater)\b",
        re.I,
    ),
    "causal": re.compile(
        r"\b(?:caus\w*|because|due to|leads? to|results? in|resulted in|associated with|"
        r"affect(?:s|ed)?|help(?:s|ed)?|improv\w*|reduc\w*|restor\w*|relie\w*|trigger\w*|"
        r"induc\w*|change[sd]?|activat\w*|stimulat\w*|regulat\w*|treat\w*)\b",
        re.I,
    ),
    "assertive verb": re.compile(
        r"\b(?:is|are|was|were|has|have|can|may|will|does|involves?|refers?|approved|cleared|"
        r"recogni[sz]ed|shown|suggests?|works?|offers?|supports?|lasts?|occurs?)\b",
        re.I,
    ),
}

_CARRY = re.compile(r"^(?:it|this|these|they|such|that|those)\b", re.I)
_READER = re.compile(r"\b(?:you|your|yours|we|us|our)\b", re.I)
_HEADING = re.compile(r"^\s*#")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n---[ \t]*\n", re.DOTALL)
_ITEM_START = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+", re.M)
_CLOSED = re.compile(r"[.!?:][\"'\u201d\u2019)\]]*$")
_BLOCK = re.compile(r"\S(?:.*\S)?(?:\n[ \t]*\S(?:.*\S)?)*")


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Proposal:
    """A sentence proposed as a claim, with why: its topics and the assertion cues it carries."""

    start: int
    end: int
    text: str
    topics: tuple[str, ...]
    cues: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    """Proposals against a reference set of quote spans."""

    found: tuple[str, ...]
    missed: tuple[str, ...]
    n_proposals: int
    n_true_proposals: int
    extra: tuple[Proposal, ...] = field(default=())

    @property
    def recall(self) -> float:
        total = len(self.found) + len(self.missed)
        return len(self.found) / total if total else 0.0

    @property
    def precision(self) -> float:
        return self.n_true_proposals / self.n_proposals if self.n_proposals else 0.0


def _units(text: str, start: int) -> Iterator[tuple[int, str]]:
    """Paragraphs and list items (with their offsets) that hold prose; headings are skipped."""
    for block in _BLOCK.finditer(text, start):
        if _HEADING.match(block.group()):
            continue
        unit_start = block.start()
        for item in _ITEM_START.finditer(block.group()):
            if item.start() == 0:
                continue
            yield unit_start, text[unit_start : block.start() + item.start()].rstrip()
            unit_start = block.start() + item.start()
        yield unit_start, text[unit_start : block.end()]


def sentences(text: str) -> Iterator[Sentence]:
    """Sentences of a post's prose with their raw offsets.

    Text is segmented paragraph by paragraph and list item by list item, so a heading or a list
    marker never merges into a sentence; front matter, headings and fragments without closing
    punctuation (HTML headings, labels) are skipped.
    """
    segmenter = pysbd.Segmenter(language="en", clean=False)
    front = _FRONT_MATTER.match(text)
    for offset, chunk in _units(text, front.end() if front else 0):
        mark = _LIST_MARK.match(chunk)
        if mark:
            offset += mark.end()
            chunk = chunk[mark.end() :]
        cursor = 0
        for piece in segmenter.segment(chunk):
            sent = piece.strip()
            if not sent:
                continue
            at = chunk.find(sent, cursor)
            if at < 0:  # pysbd altered the text; skip rather than guess an offset
                continue
            cursor = at + len(sent)
            if _CLOSED.search(sent):
                yield Sentence(offset + at, offset + cursor, sent)


def topics_of(sentence: str) -> tuple[str, ...]:
    return tuple(t for t, pattern in TOPIC_TERMS.items() if pattern.search(sentence))


def cues_of(sentence: str) -> tuple[str, ...]:
    return tuple(c for c, pattern in CUES.items() if pattern.search(sentence))


def propose_claims(text: str) -> list[Proposal]:
    """Sentences of a post worth an editor's look as claims, in reading order."""
    proposals = []
    previous: tuple[str, ...] = ()
    previous_end = -1
    for s in sentences(text):
        topics = topics_of(s.text)
        # A leading pronoun continues the previous sentence of the same paragraph.
        same_paragraph = previous_end >= 0 and "\n\n" not in text[previous_end : s.start]
        if not topics and same_paragraph and _CARRY.match(s.text):
            topics = previous
        previous, previous_end = topics, s.end
        if not topics or s.text.endswith(("?", ":")) or _READER.search(s.text):
            continue
        cues = cues_of(s.text)
        if cues:
            proposals.append(Proposal(s.start, s.end, s.text, topics, cues))
    return proposals


def draft_yaml(proposals: list[Proposal], content: str, prefix: str = "D") -> str:
    """A draft claims file for an editor: ids, quotes, guessed topics; statement and query to do.

    The draft deliberately fails `load_claims` until an editor writes each claim's query.
    """
    lines = [
        f"# Draft claims proposed from {content} by scripts/extract_claims.py.",
        "# For each claim you keep: give it a stable id, rewrite the statement as the checkable",
        "# claim, correct the topics and write a field-tagged PubMed query. Delete the rest.",
        "claims:",
    ]
    width = max(2, len(str(len(proposals))))
    for i, p in enumerate(proposals, 1):
        entry = {
            "id": f"{prefix}{i:0{width}d}",
            "statement": p.text,
            "quote": p.text,
            "topics": list(p.topics),
            "query": "",
            "content": content,
        }
        lines.append(f"  # cues: {', '.join(p.cues)}")
        dumped = yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, width=100)
        lines.extend("  " + line for line in dumped.splitlines())
    if not proposals:
        lines[-1] = "claims: []"
    return "\n".join(lines) + "\n"


def score(proposals: list[Proposal], spans: Mapping[str, Span]) -> Score:
    """A claim is found when some proposal overlaps its quote span; a proposal is true when it
    overlaps any claim's quote span."""

    def overlaps(p: Proposal, span: Span) -> bool:
        return p.start < span[1] and span[0] < p.end

    found = tuple(c for c, span in spans.items() if any(overlaps(p, span) for p in proposals))
    missed = tuple(c for c in spans if c not in found)
    true = [p for p in proposals if any(overlaps(p, span) for span in spans.values())]
    extra = tuple(p for p in proposals if p not in true)
    return Score(found, missed, len(proposals), len(true), extra)
