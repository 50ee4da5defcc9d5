"""The claims registry: what the clinic's posts assert and how PubMed is searched for each.

``data/claims.yaml`` is edited by hand, so loading it is strict: unknown keys, duplicate ids,
missing fields, a quote that is not in its post, an unknown topic, or a PubMed query with
unbalanced quotes or brackets all fail with a `ClaimsError` naming the file, the claim and the
field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from .content import Span, find_quote, read_post
from .errors import ParseError
from .schema import CLAIMS

ClaimId = Annotated[str, StringConstraints(pattern=r"^[A-Z]+[0-9]+$")]
PartId = Annotated[str, StringConstraints(pattern=r"^[A-Z]+[0-9]+[a-z]$")]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_PMID = re.compile(r"^[0-9]{1,9}$")

# PubMed field tags a query may use (lower-cased); see the PubMed help "Search field descriptions".
FIELD_TAGS = frozenset(
    {
        "mesh",
        "mh",
        "mesh terms",
        "majr",
        "mesh major topic",
        "mesh:noexp",
        "mh:noexp",
        "majr:noexp",
        "sh",
        "subheading",
        "tiab",
        "title/abstract",
        "ti",
        "title",
        "ab",
        "abstract",
        "tw",
        "text word",
        "pt",
        "publication type",
        "nm",
        "supplementary concept",
        "la",
        "language",
        "dp",
        "pdat",
        "au",
        "author",
        "ta",
        "journal",
        "all",
        "all fields",
        "pmid",
        "uid",
        "sb",
        "filter",
    }
)
_PROXIMITY_TAG = re.compile(r"^(tiab|ti|ab):~\d+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicQuery(_Strict):
    """A general-literature search for one topic."""

    label: NonEmpty
    query: NonEmpty


class Source(_Strict):
    """Attribution of a post the claims come from."""

    file: NonEmpty
    title: NonEmpty
    publisher: str = ""
    url: str = ""


class Part(_Strict):
    """One separately checkable assertion of a compound claim, and the studies that bear on it.

    ``evidence`` lists PMIDs of the claim's own links (their stances are the curators' for the
    claim); a study of the claim not listed under any part bears on every part. ``gap`` says, in
    words a clinician can read aloud, what is missing when no direct study confirms the part
    ("no study confirms the 20-40 minute session length"); it is content, not evidence.
    """

    id: PartId
    statement: NonEmpty
    evidence: list[str] = []
    gap: str = ""
    tested_question: str = ""

    @field_validator("evidence", mode="before")
    @classmethod
    def _pmids_as_text(cls, value: Any) -> Any:
        """YAML reads an unquoted PMID as a number; PMIDs are text everywhere else."""
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value


class Claim(_Strict):
    """One checkable claim of a post."""

    id: ClaimId
    statement: NonEmpty
    quote: NonEmpty
    topics: list[NonEmpty] = Field(min_length=1)
    query: NonEmpty
    content: NonEmpty
    # What a study would have to test to answer the claim directly, e.g. "TMS for
    # antidepressant-induced emotional blunting"; the why says "No study has tested ..." with it.
    tested_question: str = ""
    parts: list[Part] = []


class _RegistryFile(_Strict):
    sources: list[Source] = []
    topics: dict[str, TopicQuery] = Field(min_length=1)
    claims: list[Claim] = Field(min_length=1)


@dataclass(frozen=True)
class Registry:
    """A validated registry: claims in file order, topic queries, and each quote's span."""

    path: Path
    content_dir: Path
    claims: tuple[Claim, ...]
    topics: dict[str, TopicQuery]
    sources: tuple[Source, ...] = ()
    spans: dict[str, Span] = field(default_factory=dict)

    @property
    def claim_ids(self) -> set[str]:
        return {c.id for c in self.claims}

    def claim(self, claim_id: str) -> Claim:
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise KeyError(claim_id)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a registry file; ``claim`` is an id, ``#n`` (1-based) or None."""

    claim: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"claim {self.claim}, " if self.claim else ""
        return f"{where}field {self.field!r}: {self.reason}"


class ClaimsError(ParseError):
    """A claims registry failed to load; lists every problem found, not just the first."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(source, "; ".join(str(p) for p in problems))


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of silently keeping the last."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def check_query(query: str) -> str | None:
    """Why a PubMed query is malformed (unbalanced quotes/brackets, unknown field tag), or None.

    Brackets inside a quoted phrase are text, not syntax, so a tiny scanner is used, not counts.
    """
    closers = {")": "(", "]": "["}
    stack: list[tuple[str, int]] = []
    in_quote: int | None = None
    tag_start = -1
    for i, ch in enumerate(query):
        if in_quote is not None:
            if ch == '"':
                in_quote = None
            continue
        if ch == '"':
            in_quote = i
        elif ch in "([":
            stack.append((ch, i))
            tag_start = i + 1 if ch == "[" else -1
        elif ch in closers:
            if not stack or stack[-1][0] != closers[ch]:
                return f"unbalanced {ch!r} at character {i + 1}"
            opener, _ = stack.pop()
            if opener == "[":
                tag = query[tag_start:i].strip().lower()
                if tag not in FIELD_TAGS and not _PROXIMITY_TAG.match(tag):
                    return f"unknown PubMed field tag [{query[tag_start:i]}] at character {i + 1}"
    if in_quote is not None:
        return f"unbalanced '\"' opened at character {in_quote + 1}"
    if stack:
        opener, at = stack[-1]
        return f"unbalanced {opener!r} opened at character {at + 1}"
    return None


def _claim_label(raw: Any, index: int) -> str:
    try:
        claim_id = raw["claims"][index]["id"]
    except (KeyError, IndexError, TypeError):
        claim_id = None
    return str(claim_id) if isinstance(claim_id, str) and claim_id else f"#{index + 1}"


def _schema_problems(raw: Any, error: ValidationError) -> list[Problem]:
    problems = []
    for e in error.errors():
        loc = e["loc"]
        reason = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        if len(loc) >= 2 and loc[0] == "claims" and isinstance(loc[1], int):
            rest = ".".join(str(p) for p in loc[2:]) or "claims"
            problems.append(Problem(_claim_label(raw, loc[1]), rest, reason))
        else:
            problems.append(Problem(None, ".".join(str(p) for p in loc) or "(file)", reason))
    return problems


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ClaimsError(str(path), [Problem(None, "(file)", f"cannot read: {e}")]) from e
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ClaimsError(str(path), [Problem(None, "(file)", f"{where}{problem}")]) from e


def part_problems(claim: Claim) -> list[Problem]:
    """What is wrong with a claim's parts: ids, duplicates, PMIDs, a part that is the claim."""
    problems: list[Problem] = []
    if len(claim.parts) == 1:
        problems.append(Problem(claim.id, "parts", "a claim split into parts needs at least two"))
    seen: set[str] = set()
    for part in claim.parts:
        where = f"parts.{part.id}"
        if not part.id.startswith(claim.id) or not part.id[len(claim.id) :].isalpha():
            problems.append(
                Problem(
                    claim.id, f"{where}.id", f"{part.id!r} must be {claim.id}a, {claim.id}b, ..."
                )
            )
        if part.id in seen:
            problems.append(Problem(claim.id, where, "duplicate part id"))
        seen.add(part.id)
        pmids: set[str] = set()
        for pmid in part.evidence:
            if not _PMID.match(pmid):
                problems.append(Problem(claim.id, f"{where}.evidence", f"malformed PMID {pmid!r}"))
            elif pmid in pmids:
                problems.append(Problem(claim.id, f"{where}.evidence", f"PMID {pmid} listed twice"))
            pmids.add(pmid)
    return problems


def load_claims(path: Path, content_dir: Path | None = None) -> Registry:
    """Load and validate a claims registry; posts are looked up in ``content_dir``.

    ``content_dir`` defaults to ``content/`` beside the registry file.
    """
    content_dir = content_dir if content_dir is not None else path.parent / "content"
    raw = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ClaimsError(str(path), [Problem(None, "(file)", "expected a mapping at top level")])
    try:
        parsed = _RegistryFile.model_validate(raw)
    except ValidationError as e:
        raise ClaimsError(str(path), _schema_problems(raw, e)) from e

    problems: list[Problem] = []
    for name, topic in parsed.topics.items():
        if reason := check_query(topic.query):
            problems.append(Problem(None, f"topics.{name}.query", reason))
    for source in parsed.sources:
        if not (content_dir / source.file).is_file():
            problems.append(Problem(None, "sources.file", f"{source.file} not in {content_dir}"))

    seen: set[str] = set()
    posts: dict[str, str | None] = {}
    spans: dict[str, Span] = {}
    for claim in parsed.claims:
        if claim.id in seen:
            problems.append(Problem(claim.id, "id", "duplicate id"))
        seen.add(claim.id)
        unknown = [t for t in claim.topics if t not in parsed.topics]
        if unknown:
            known = ", ".join(parsed.topics)
            problems.append(Problem(claim.id, "topics", f"unknown {unknown} (known: {known})"))
        if reason := check_query(claim.query):
            problems.append(Problem(claim.id, "query", reason))
        problems.extend(part_problems(claim))
        if claim.content not in posts:
            post_path = content_dir / claim.content
            try:
                posts[claim.content] = read_post(post_path).text if post_path.is_file() else None
            except ParseError as e:
                problems.append(Problem(claim.id, "content", e.reason))
                posts[claim.content] = None
                continue
        text = posts[claim.content]
        shown = f"{content_dir.name}/{claim.content}"
        if text is None:
            problems.append(Problem(claim.id, "content", f"{shown} does not exist"))
            continue
        span = find_quote(text, claim.quote)
        if span is None:
            problems.append(Problem(claim.id, "quote", f"not found in {shown}"))
        else:
            spans[claim.id] = span
    if problems:
        raise ClaimsError(str(path), problems)
    return Registry(
        path=path,
        content_dir=content_dir,
        claims=tuple(parsed.claims),
        topics=dict(parsed.topics),
        sources=tuple(parsed.sources),
        spans=spans,
    )


def claims_frame(registry: Registry) -> pd.DataFrame:
    """The registry as the ``claims`` table, with each quote's character span in its post."""
    rows = [
        {
            "claim_id": c.id,
            "statement": c.statement,
            "quote": c.quote,
            "topics": list(c.topics),
            "query": c.query,
            "content_file": c.content,
            "quote_start": registry.spans[c.id][0],
            "quote_end": registry.spans[c.id][1],
        }
        for c in registry.claims
    ]
    frame = pd.DataFrame(rows, columns=CLAIMS.columns) if rows else CLAIMS.empty()
    return CLAIMS.conform(frame)
