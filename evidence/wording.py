"""Wording check for editors: is a claim's sentence worded more strongly than its evidence?

An editor reading "Most people begin to notice changes within a few weeks" beside a Contradicted
verdict needs to see, sentence by sentence, where the post says more than the studies show, and
what it could say instead. Every decision is a transparent rule from ``wording.yaml`` (cue
phrases and the allowed-strength table below), not a model: the 17 labelled sentences of the
clinic's post are far too few to train or validate one, and an editor must see why a sentence
was flagged.

Strongest wording allowed, by grade and certainty (as shipped; the clinic edits the YAML):

==============================  ===========  =========  =========  =========
grade                           high         moderate   low        very low
==============================  ===========  =========  =========  =========
Well supported, Supported       established  general    hedged     qualified
Limited, Contested              hedged       hedged     hedged     qualified
Contradicted, No evidence found qualified    qualified  qualified  qualified
==============================  ===========  =========  =========  =========

(established = a plain statement; general = "most", "many", "typically"; hedged = "may", "can",
"some studies suggest"; qualified = says the evidence is untested, mixed, very uncertain or
against.) A sentence citing research ("research suggests", "evidence based") is also flagged
when no direct study supports the claim, unless it says so itself.

Suggested wording comes only from templates filled with the claim's own statement, gap and
tested question (``data/claims.yaml``) and the verdict's deciding studies (design, size, year,
PMID, the curator's reading), so it adds no fact or number that is in neither the claim nor the
evidence; a suggestion, checked in its turn, is never flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import why
from .claims import Claim, Registry, load_claims
from .content import Post, Span, find_quote, read_post
from .errors import ConfigError, ParseError
from .extraction import sentences as post_sentences
from .levels import CERTAINTIES, GRADES
from .stance_rules import split_sentences
from .verdict import COUNTED, DecidingStudy, Verdict

__all__ = [
    "STRENGTHS",
    "UnitCheck",
    "WordingCheck",
    "WordingRules",
    "check_claim",
    "check_data_dir",
    "check_post",
    "format_checks",
    "load_rules",
    "wording_of",
]

# Weakest first. "qualified" wording says what the evidence does or does not show.
STRENGTHS = ("qualified", "hedged", "general", "established")
Strength = Literal["qualified", "hedged", "general", "established"]
# The first strength (in this order) whose cue a sentence holds is its strength: a qualifier
# ("but the evidence is mixed") governs the whole sentence, and a strong cue outranks a hedge.
CUE_ORDER: tuple[Strength, ...] = ("qualified", "established", "general", "hedged")
DEFAULT_RULES_FILE = "wording.yaml"
MAX_CITED = 3  # PMIDs cited per side in a suggestion; the claim page lists them all

_CITATION = re.compile(r"\(\s*PMIDs?\b[^)]*\)", re.I)  # "(PMID 1, 2)" carries no wording
_WORD = re.compile(r"[A-Za-z]{2,}")
_TOKEN = re.compile(r"[a-z0-9]+")
# Function words left out when matching a sentence to a claim's statement.
_STOPWORDS = frozenset(
    str.split(
        "a an the of and or in on at to for from by with as is are was were be been being it its "
        "this that these those they them their you your we our he she his her can could may "
        "might will would should do does did has have had not no than then so such into about "
        "over under also only very if but when which who what how there here after before each"
    )
)


# --- the rules (wording.yaml) ------------------------------------------------------------------


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed: dict[str, dict[str, Strength]]
    cues: dict[Strength, list[str]]
    not_hedges: list[str] = []
    research: list[str] = Field(min_length=1)
    back_reference: list[str] = []
    similar_sentence: float = Field(gt=0, le=1)


@dataclass(frozen=True)
class WordingRules:
    """The validated ``wording.yaml``: allowed strengths and compiled cue phrases."""

    allowed: dict[str, dict[str, str]]  # grade -> certainty -> strongest strength allowed
    cues: dict[str, tuple[tuple[str, re.Pattern[str]], ...]]  # strength -> (phrase, pattern)
    not_hedges: tuple[re.Pattern[str], ...]
    research: tuple[tuple[str, re.Pattern[str]], ...]
    back_reference: frozenset[str]
    similar_sentence: float

    def allows(self, grade: str, certainty: str) -> str:
        """The strongest wording a grade and certainty allow (unknown ones allow the least)."""
        return self.allowed.get(grade, {}).get(certainty, STRENGTHS[0])


def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A cue phrase as a regex: whole words, hyphen = space, ``word*`` a prefix, ``*`` a gap.

    Raises ValueError naming what is wrong, so a bad phrase in the YAML is caught at load time.
    """
    words = phrase.lower().split()
    if not words or words[0] == "*" or words[-1] == "*":
        raise ValueError(f"{phrase!r}: a phrase must start and end with a word")
    pattern = ""
    for i, word in enumerate(words):
        if word == "*":
            pattern += r"(?:[\s-]+[\w'’]+){0,4}"
            continue
        stem = word.removesuffix("*")
        if not re.fullmatch(r"[a-z0-9'’]+(?:-[a-z0-9'’]+)*", stem):
            raise ValueError(f"{phrase!r}: {word!r} is not a word (letters, digits, - and ')")
        body = r"[\s-]+".join(re.escape(part) for part in stem.split("-"))
        body += r"[\w'’]*" if word.endswith("*") else ""
        pattern += (r"[\s-]+" if i else "") + body
    return re.compile(r"(?<![\w'’-])" + pattern + r"(?![\w'’])", re.IGNORECASE)


def _compiled(
    phrases: Iterable[str], where: str, source: str
) -> tuple[tuple[str, re.Pattern[str]], ...]:
    out = []
    for phrase in phrases:
        try:
            out.append((phrase, phrase_pattern(phrase)))
        except ValueError as exc:
            raise ParseError(source, f"{where}: {exc}") from None
    return tuple(out)


def rules_from_dict(raw: Any, source: str = "wording rules") -> WordingRules:
    """Validate a parsed ``wording.yaml``; every problem names its field."""
    if not isinstance(raw, dict):
        raise ParseError(source, "expected a mapping at top level")
    try:
        parsed = _RulesFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(file)"
            problems.append(
                f"{where}: {'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            )
        raise ParseError(source, "; ".join(problems)) from None
    if sorted(parsed.allowed) != sorted(GRADES):
        raise ParseError(source, f"allowed: needs exactly the grades {list(GRADES)}")
    for grade, row in parsed.allowed.items():
        if sorted(row) != sorted(CERTAINTIES):
            raise ParseError(source, f"allowed.{grade}: needs exactly {list(CERTAINTIES)}")
        for better, worse in zip(CERTAINTIES, CERTAINTIES[1:], strict=False):  # high -> very low
            if STRENGTHS.index(row[worse]) > STRENGTHS.index(row[better]):
                raise ParseError(
                    source,
                    f"allowed.{grade}: {worse!r} certainty allows {row[worse]!r}, more than "
                    f"{better!r} ({row[better]!r}); a lower certainty may never allow stronger "
                    "wording",
                )
    missing = [s for s in CUE_ORDER if not parsed.cues.get(s)]
    if missing:
        raise ParseError(source, f"cues: needs at least one phrase for {missing}")
    return WordingRules(
        allowed={g: dict(row) for g, row in parsed.allowed.items()},
        cues={s: _compiled(parsed.cues[s], f"cues.{s}", source) for s in CUE_ORDER},
        not_hedges=tuple(p for _, p in _compiled(parsed.not_hedges, "not_hedges", source)),
        research=_compiled(parsed.research, "research", source),
        back_reference=frozenset(w.lower() for w in parsed.back_reference),
        similar_sentence=parsed.similar_sentence,
    )


@lru_cache(maxsize=1)
def _packaged_rules() -> WordingRules:
    text = resources.files("evidence").joinpath(DEFAULT_RULES_FILE).read_text("utf-8")
    return rules_from_dict(yaml.safe_load(text), f"evidence/{DEFAULT_RULES_FILE}")


def load_rules(path: str | Path | None = None) -> WordingRules:
    """Read and validate wording rules; the packaged ``evidence/wording.yaml`` by default."""
    if path is None:
        return _packaged_rules()
    try:
        raw = yaml.safe_load(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ParseError(str(path), f"cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ParseError(str(path), f"not valid YAML: {exc}") from exc
    return rules_from_dict(raw, str(path))


# --- one sentence ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    """How strongly one sentence words what it says, and the words that show it."""

    text: str
    strength: str
    cues: tuple[str, ...]  # the cue words as written in the sentence ("Most", "common")
    research: tuple[str, ...]  # words claiming research backing ("research suggests")


def _hits(text: str, patterns: Iterable[re.Pattern[str]]) -> list[str]:
    """Matched phrases in text order; one inside a longer match ("some" in "in some cases")
    is left out."""
    spans = sorted(
        {m.span() for p in patterns for m in p.finditer(text)}, key=lambda s: (s[0], -s[1])
    )
    kept = [s for s in spans if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in spans)]
    return list(dict.fromkeys(" ".join(text[a:b].split()) for a, b in kept))


def wording_of(sentence: str, rules: WordingRules | None = None) -> Wording:
    """The strength of one sentence: its first cue in `CUE_ORDER`, else a plain statement."""
    rules = rules or load_rules()
    text = _CITATION.sub(" ", sentence)
    for strength in CUE_ORDER:
        scan = text
        if strength == "hedged":
            for pattern in rules.not_hedges:
                scan = pattern.sub(" ", scan)
        hits = _hits(scan, (p for _, p in rules.cues[strength]))
        if hits:
            break
    else:
        strength, hits = "established", []
    research = _hits(text, (p for _, p in rules.research))
    return Wording(sentence, strength, tuple(hits), tuple(research))


def _strongest(strengths: Iterable[str]) -> str:
    return max(strengths, key=STRENGTHS.index, default=STRENGTHS[0])


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer  # PyStemmer, a dependency: "sessions" meets "session", "emotions" "emotional"

    return Stemmer.Stemmer("english")


def stems(text: str) -> frozenset[str]:
    """Stemmed content words, to match a sentence to a statement or find an edited sentence."""
    words = [t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]
    return frozenset(_stemmer().stemWords(words))


def _sentences(text: str) -> list[str]:
    found = [s for s in split_sentences(text) if _WORD.search(s)]
    return found or [text.strip()]


def _drop_premises(sentences: list[str], rules: WordingRules) -> list[str]:
    """Leave out a sentence the next one refers back to ("... . These changes can ...")."""
    kept = []
    for i, sentence in enumerate(sentences):
        following = sentences[i + 1] if i + 1 < len(sentences) else ""
        first = _TOKEN.findall(following.lower())[:1]
        if first and first[0] in rules.back_reference:
            continue
        kept.append(sentence)
    return kept or sentences[-1:]


def _matching(statement: str, sentences: list[str]) -> list[str]:
    """The sentences that word a statement: most shared content words; all when none share."""
    if len(sentences) <= 1:
        return sentences
    want = stems(statement)
    overlap = [len(stems(s) & want) for s in sentences]
    best = max(overlap)
    return (
        sentences
        if best == 0
        else [s for s, n in zip(sentences, overlap, strict=True) if n == best]
    )


# --- the evidence a sentence is held against ---------------------------------------------------


@dataclass(frozen=True)
class _Evidence:
    """What one checkable assertion (a claim, or one part of it) has behind it."""

    unit_id: str
    statement: str
    grade: str
    direction: str
    certainty: str
    tested: bool  # a counted study tests it directly
    confirmed: bool  # ... and supports it
    deciding: tuple[DecidingStudy, ...]
    n_studies: int
    gap: str
    question: str
    is_part: bool


def _evidence(claim: Claim, verdict: Verdict | None) -> list[_Evidence]:
    if verdict is None:  # a claim the store has not graded yet
        return [
            _Evidence(claim.id, claim.statement, "No evidence found", "none", "very low", False,
                      False, (), 0, "", claim.tested_question, False)
        ]  # fmt: skip
    if verdict.parts:
        specs = {p.id: p for p in claim.parts}
        out = []
        for part in verdict.parts:
            a = part.assessment
            spec = specs.get(part.part_id)
            question = (spec.tested_question if spec else "") or claim.tested_question
            out.append(
                _Evidence(part.part_id, part.statement, a.grade, a.direction, a.certainty,
                          a.tested, a.confirmed, a.deciding, len(a.studies), part.gap, question,
                          True)
            )  # fmt: skip
        return out
    n = sum(verdict.counts.get(stance, 0) for stance in COUNTED)
    confirmed = any(d.stance == "supports" and d.direct for d in verdict.deciding)
    return [
        _Evidence(claim.id, claim.statement, verdict.grade, verdict.direction, verdict.certainty,
                  verdict.best_direct_design is not None, confirmed, verdict.deciding, n, "",
                  claim.tested_question, False)
    ]  # fmt: skip


# --- the results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitCheck:
    """One assertion (the claim, or a part of a split claim) against its own verdict."""

    unit_id: str
    statement: str
    sentences: tuple[str, ...]  # the sentence(s) of the post that word it
    strength: str
    cues: tuple[str, ...]
    research: tuple[str, ...]
    grade: str
    direction: str
    certainty: str
    allowed: str
    flagged: bool
    reason: str
    suggestion: str  # wording within the evidence (also for an unflagged part)
    pmids: tuple[str, ...]  # the studies the suggestion cites


@dataclass(frozen=True)
class WordingCheck:
    """One claim of a post: its sentence, how strong its wording is, and whether that is too
    strong for its verdict; with a reason in one line and, when flagged, a suggested rewording
    that cites the PMIDs it leans on."""

    claim_id: str
    post: str
    sentence: str  # as found in the post ("" when not found)
    span: Span | None  # where, in the post's text
    found: str  # "quote", "suggestion" (the suggested wording), "similar", "missing", "text"
    strength: str
    cues: tuple[str, ...]
    grade: str
    direction: str
    certainty: str
    allowed: str
    flagged: bool
    reason: str
    suggestion: str  # "" when not flagged
    pmids: tuple[str, ...]
    units: tuple[UnitCheck, ...]

    @property
    def status(self) -> str:
        return "FLAG" if self.flagged else "ok"

    @property
    def line(self) -> str:
        """ "C16 FLAG stated as the general case ..." / "C07 ok stated as fact, ..."."""
        return f"{self.claim_id} {self.status} {self.reason}"


# --- words -------------------------------------------------------------------------------------

_SAYS = {
    "qualified": "says what the evidence shows",
    "hedged": "worded as a possibility",
    "general": "stated as the general case",
    "established": "stated as fact",
}
_FITS = {
    "qualified": "only wording that says it is untested, mixed, uncertain or against fits",
    "hedged": "at most a possibility fits (“may”, “some studies suggest”)",
    "general": "at most “many” or “probably” fits",
    "established": "a plain statement fits",
}
_CLOSEST = {
    "supports": "the closest evidence supports it",
    "contradicts": "the closest evidence points against it",
    "mixed": "the closest evidence is mixed",
}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _end(text: str) -> str:
    text = _cap(" ".join(text.split()))
    return text if text.endswith((".", "!", "?")) else text + "."


def _quoted(words: Sequence[str]) -> str:
    return " (" + ", ".join(f"“{w}”" for w in words) + ")" if words else ""


def _clause(statement: str) -> str:
    """A statement as a clause after "that": no final stop; "TMS", "SSRIs" keep their capitals."""
    text = " ".join(statement.split()).rstrip(".")
    first = text.split(" ", 1)[0]
    acronym = len(first) > 1 and (first[1].isupper() or first[1].isdigit())
    return text if acronym else text[:1].lower() + text[1:]


def _cite(pmids: Sequence[str]) -> str:
    return f" (PMID {', '.join(pmids)})" if pmids else ""


def _side(e: _Evidence, stance: str) -> list[str]:
    return [d.pmid for d in e.deciding if d.stance == stance][:MAX_CITED]


def _evidence_words(e: _Evidence) -> str:
    if e.n_studies == 0:
        what = "no study confirms it"
    elif not e.tested:
        joint = ", though " if e.direction == "supports" else " and "
        what = (
            "no study has tested it directly" + joint + _CLOSEST.get(e.direction, _CLOSEST["mixed"])
        )
    elif e.direction == "contradicts":
        what = "the evidence points against it"
    elif e.direction == "mixed":
        what = "the evidence is mixed"
    elif e.grade == "Limited":
        what = "the evidence is limited"
    else:
        return f"the evidence is of {e.certainty} certainty ({e.grade})"
    return f"{what} ({e.grade}, {e.certainty} certainty)"


def _template(e: _Evidence, allowed: str, rules: WordingRules) -> tuple[str, tuple[str, ...]]:
    """Wording within the evidence for one assertion, and the PMIDs it cites.

    Filled only from the statement, gap and tested question of the claim and from the deciding
    studies; every template is itself no stronger than ``allowed``.
    """
    s = _clause(e.statement)
    lead = e.gap.strip().rstrip(".") if e.gap.strip() and not e.confirmed else ""
    every = [d.pmid for d in e.deciding][: 2 * MAX_CITED]
    if e.n_studies == 0:
        return _end(lead or f"No study has yet tested {e.question.strip() or 'whether ' + s}"), ()
    if not e.tested:
        untested = lead or f"No study has yet tested {e.question.strip() or 'whether ' + s}"
        cited = {"supports": _side(e, "supports"), "contradicts": _side(e, "contradicts")}.get(
            e.direction, every
        ) or every
        closest = _CLOSEST.get(e.direction, _CLOSEST["mixed"])
        return _end(f"{untested}; {closest}{_cite(cited)}"), tuple(cited)
    best = next((d for d in e.deciding if d.stance == "contradicts"), None)
    if e.direction == "contradicts" and best is not None:
        text = (
            f"The evidence does not show that {s}. {_cap(why.study_phrase(best))} points against it"
        )
        if best.reading:
            text += f": “{best.reading.strip().rstrip('.')}”"
        return _end(text + _cite([best.pmid])), (best.pmid,)
    if e.direction != "supports":
        sup, con = _side(e, "supports"), _side(e, "contradicts")
        if sup and con:
            body = (
                f"some studies suggest that {s}, but others point against it: the evidence is "
                f"mixed (for: PMID {', '.join(sup)}; against: PMID {', '.join(con)})"
            )
            cited = sup + con
        else:  # a gap already says what is unconfirmed; else name the statement
            body = (
                "studies give mixed results"
                if lead
                else f"studies give mixed results on whether {s}"
            )
            body += _cite(every)
            cited = every
        return _end(f"{lead}; {body}" if lead else body), tuple(cited)
    sup = _side(e, "supports")
    limited = f"some studies suggest that {s}, but the evidence is limited{_cite(sup)}"
    body = {
        "established": f"{s}{_cite(sup)}",
        "general": f"studies suggest that {s}{_cite(sup)}",
        "hedged": limited,
    }.get(allowed, f"there is some evidence that {s}, but it is very uncertain{_cite(sup)}")
    said = _strongest(wording_of(x, rules).strength for x in _sentences(body))
    if STRENGTHS.index(said) > STRENGTHS.index(allowed):  # the statement's own words ("most")
        body = limited
    return _end(f"{lead}; {body}" if lead else body), tuple(sup)


# --- checking ----------------------------------------------------------------------------------


def _check_unit(
    e: _Evidence, sentences: list[str], wordings: Mapping[str, Wording], rules: WordingRules
) -> UnitCheck:
    said = [wordings[s] for s in sentences]
    strength = _strongest(w.strength for w in said)
    cues = tuple(dict.fromkeys(c for w in said if w.strength == strength for c in w.cues))
    # Research wording needs a direct study that supports the claim, unless the sentence
    # itself says the evidence is untested, mixed or against ("qualified").
    research = tuple(
        dict.fromkeys(r for w in said if w.strength != "qualified" for r in w.research)
    )
    backed = e.tested and e.direction == "supports"
    allowed = rules.allows(e.grade, e.certainty)
    over = STRENGTHS.index(strength) > STRENGTHS.index(allowed)
    unbacked = bool(research) and not backed
    flagged = over or unbacked
    evidence = _evidence_words(e)
    if flagged:
        said_as = []
        if over:
            plain = " (no hedge)" if strength == "established" and not cues else ""
            said_as.append(f"{_SAYS[strength]}{_quoted(cues) or plain}")
        if unbacked:
            said_as.append(f"cites research{_quoted(research)}")
        scope = f" for “{e.statement.strip().rstrip('.')}”" if e.is_part else ""
        fits = _FITS[allowed] if over else "research wording needs a direct study that supports it"
        reason = f"{_cap(' and '.join(said_as))}, but{scope} {evidence}: {fits}."
    else:
        reason = (
            f"{_cap(_SAYS[strength])}{_quoted(cues)}, within what {e.grade} evidence of "
            f"{e.certainty} certainty allows ({_FITS[allowed].split(' fits')[0]})."
        )
    suggestion, pmids = _template(e, allowed, rules)
    return UnitCheck(
        unit_id=e.unit_id,
        statement=e.statement,
        sentences=tuple(sentences),
        strength=strength,
        cues=cues,
        research=research,
        grade=e.grade,
        direction=e.direction,
        certainty=e.certainty,
        allowed=allowed,
        flagged=flagged,
        reason=reason,
        suggestion=suggestion,
        pmids=pmids,
    )


def _compose(units: Sequence[UnitCheck]) -> tuple[str, tuple[str, ...]]:
    """The claim's suggested wording: each flagged part reworded, the other parts kept.

    A part that passes keeps its own sentence; when it shares the sentence with a flagged part
    it is restated within its evidence instead.
    """
    shared = {s for u in units if u.flagged for s in u.sentences}
    pieces: list[str] = []
    pmids: list[str] = []
    for u in units:
        own = [s for s in u.sentences if s not in shared]
        if u.flagged or not own:
            pieces.append(u.suggestion)
            pmids.extend(u.pmids)
        else:
            pieces.extend(own)
    return " ".join(dict.fromkeys(p.strip() for p in pieces)), tuple(dict.fromkeys(pmids))


def check_claim(
    claim: Claim,
    verdict: Verdict | None,
    text: str | None = None,
    rules: WordingRules | None = None,
) -> WordingCheck:
    """One claim's wording (``text``, by default its quote) against its verdict."""
    rules = rules or load_rules()
    text = claim.quote if text is None else text
    checked = _drop_premises(_sentences(text), rules)
    wordings = {s: wording_of(s, rules) for s in checked}
    units = tuple(
        _check_unit(e, _matching(e.statement, checked), wordings, rules)
        for e in _evidence(claim, verdict)
    )
    flagged = [u for u in units if u.flagged]
    weakest = min(units, key=lambda u: STRENGTHS.index(u.allowed))
    if flagged:
        reason = flagged[0].reason
        if len(flagged) > 1:
            reason += f" Part {', '.join(u.unit_id for u in flagged[1:])} too."
        suggestion, pmids = _compose(units)
    else:
        reason, suggestion, pmids = weakest.reason, "", ()
    strength = _strongest(u.strength for u in units)
    return WordingCheck(
        claim_id=claim.id,
        post=claim.content,
        sentence=" ".join(text.split()),
        span=None,
        found="text",
        strength=strength,
        cues=tuple(dict.fromkeys(c for u in units if u.strength == strength for c in u.cues)),
        grade=verdict.grade if verdict else "No evidence found",
        direction=verdict.direction if verdict else "none",
        certainty=verdict.certainty if verdict else "very low",
        allowed=weakest.allowed,
        flagged=bool(flagged),
        reason=reason,
        suggestion=suggestion,
        pmids=pmids,
        units=units,
    )


# --- a whole post ------------------------------------------------------------------------------


def _similar(
    text: str, targets: Sequence[str], post_sents: Sequence[Any], threshold: float
) -> Span | None:
    """The run of post sentences most like one of ``targets`` (Jaccard of stems), if close."""
    best, span = 0.0, None
    for target in (t for t in targets if t):
        want = stems(target)
        sizes = {1, len(_sentences(target))}
        for k in sizes:
            for i in range(len(post_sents) - k + 1):
                start, end = post_sents[i].start, post_sents[i + k - 1].end
                have = stems(text[start:end])
                score = len(want & have) / len(want | have) if want | have else 0.0
                if score > best:
                    best, span = score, (start, end)
    return span if best >= threshold else None


def _locate(
    post: Post, claim: Claim, original: WordingCheck, rules: WordingRules, cache: dict[str, Any]
) -> tuple[Span | None, str]:
    span = find_quote(post.text, claim.quote)
    if span is not None:
        return span, "quote"
    if original.suggestion:
        span = find_quote(post.text, original.suggestion)
        if span is not None:
            return span, "suggestion"
    if "sentences" not in cache:
        cache["sentences"] = list(post_sentences(post.text))
    targets = (claim.quote, original.suggestion)
    span = _similar(post.text, targets, cache["sentences"], rules.similar_sentence)
    return (span, "similar") if span is not None else (None, "missing")


def _as_verdicts(verdicts: Mapping[str, Any], registry: Registry) -> Mapping[str, Verdict]:
    if all(isinstance(v, Verdict) for v in verdicts.values()):
        return verdicts
    from .views import current_verdicts  # a store snapshot: grade it as the dashboard does

    return current_verdicts(verdicts, registry=registry)


def check_post(
    verdicts: Mapping[str, Any],
    registry: Registry,
    post: Post | Path | str,
    *,
    claims_of: str | None = None,
    rules: WordingRules | None = None,
) -> list[WordingCheck]:
    """Every claim of a post checked for wording stronger than its evidence, in post order.

    ``verdicts`` is claim id -> `Verdict`, or a store snapshot (graded here as the dashboard
    grades it). ``post`` is a `Post`, a file, or the name of a post in the registry's content
    folder; ``claims_of`` names the post whose claims to check when it differs (an edited
    draft saved under another name). Each claim's sentence is found by its quote, else by its
    suggested wording (a pasted suggestion), else by the most similar sentences; a claim whose
    sentence cannot be found is flagged, so a pre-publish check never passes it unseen.
    """
    rules = rules or load_rules()
    graded = _as_verdicts(verdicts, registry)
    if isinstance(post, str):
        post = read_post(registry.content_dir / post)
    elif isinstance(post, Path):
        post = read_post(post)
    name = claims_of or post.name
    cache: dict[str, Any] = {}
    out = []
    for claim in (c for c in registry.claims if c.content == name):
        verdict = graded.get(claim.id)
        original = check_claim(claim, verdict, rules=rules)
        span, found = _locate(post, claim, original, rules, cache)
        if span is None:
            out.append(
                replace(
                    original,
                    post=post.name,
                    sentence="",
                    found="missing",
                    flagged=True,
                    reason=(
                        "Its sentence is not in this post (rewritten beyond recognition or "
                        "removed): check the wording by hand, then update the claim's quote in "
                        "claims.yaml."
                    ),
                )
            )
            continue
        checked = check_claim(claim, verdict, post.text[span[0] : span[1]], rules)
        out.append(replace(checked, post=post.name, span=span, found=found))
    return sorted(out, key=lambda c: c.span[0] if c.span else len(post.text))


def format_checks(post: str, checks: Sequence[WordingCheck]) -> list[str]:
    """The command's lines: a header, then per claim ``C01 FLAG <reason>`` or ``C01 ok ...``;
    a flagged claim adds its sentence and the suggested wording."""
    n = sum(c.flagged for c in checks)
    lines = [f"{post}: {len(checks)} claims, {n} worded more strongly than their evidence"]
    for c in checks:
        lines.append(c.line)
        if c.flagged:
            if c.sentence:
                lines.append(f"    sentence: {c.sentence}")
            if c.suggestion:
                lines.append(f"    suggest:  {c.suggestion}")
    return lines


def check_data_dir(
    data_dir: Path,
    store_dir: Path,
    post: str | None = None,
    *,
    claims_of: str | None = None,
    rules: WordingRules | None = None,
) -> list[tuple[str, list[WordingCheck]]]:
    """(post, checks) for one post (a file, or a name in ``data_dir/content``) or for every
    post with claims: what ``evidence check-wording`` prints. Bad input is a `ConfigError`."""
    from .store import Store
    from .views import current_verdicts

    if not (data_dir / "claims.yaml").is_file():
        raise ConfigError("data_dir", f"no claims registry (claims.yaml) in {data_dir}")
    registry = load_claims(data_dir / "claims.yaml")
    names = list(dict.fromkeys(c.content for c in registry.claims))
    if post is None:
        if claims_of is not None:
            raise ConfigError("post", "--as needs a POST file to check")
        posts = [read_post(registry.content_dir / n) for n in names]
    else:
        path = Path(post)
        if not path.is_file():
            path = registry.content_dir / post
        if not path.is_file():
            raise ConfigError(
                "post", f"{post}: no such file, nor a post of that name in {registry.content_dir}"
            )
        posts = [read_post(path)]
        name = claims_of or posts[0].name
        if name not in names:
            raise ConfigError(
                "post",
                f"no claims are registered for {name!r} (posts with claims: {', '.join(names)}); "
                "to check an edited copy saved under another name, add --as NAME",
            )
    verdicts = current_verdicts(Store.open(store_dir).snapshot(), registry=registry)
    return [
        (p.name, check_post(verdicts, registry, p, claims_of=claims_of, rules=rules)) for p in posts
    ]
