"""Per-claim verdicts that cannot over-claim: grade, direction, certainty, score and a why.

The rubric (levels, weights, rules, certainty) lives in ``evidence/rubric.yaml``; this module
applies it. Only curator-confirmed stances count: a machine suggestion is reported, and a
suggested contradiction flags the claim for review, but it never moves the grade. Directness is
data on each link (``direct``, ``indirect_because``); designs indirect by nature stay indirect. A
claim split into parts (``data/claims.yaml``) is graded part by part and takes its weakest part's
verdict. Retracted studies never count; a claim whose curator-supporting study is retracted is
flagged. The plain-language why is written by `evidence.why` from the same facts.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import certainty as cert
from . import why
from .cells import as_text
from .facts import fact_rows
from .levels import CERTAINTIES, GRADES, Rubric, load_rubric
from .schema import RECORD_FACTS, VERDICTS
from .store import rows_of

if TYPE_CHECKING:
    from .claims import Claim, Registry

COUNTED = ("supports", "contradicts", "mixed")
MAX_DECIDING = 6
# Weakest first: the order in which a compound claim takes its weakest part's grade.
GRADE_STRENGTH = {
    g: i
    for i, g in enumerate(
        (
            "Contradicted",
            "Contested",
            "No evidence found",
            "Limited",
            "Supported",
            "Well supported",
        )
    )
}
assert set(GRADE_STRENGTH) == set(GRADES)


@dataclass(frozen=True)
class DecidingStudy:
    """One counted (curator-confirmed, not retracted) study and what it weighs for a claim."""

    pmid: str
    design: str
    level: int  # from the design, before the indirectness downgrade
    stance: str
    stance_origin: str
    direct: bool  # the link says direct and the design is not indirect by nature
    indirect_because: str  # "" when direct
    sample_size: int | None
    year: int | None
    retracted: bool
    effective_level: int  # one level lower (higher number) when indirect
    weight: float
    reading: str = ""  # the curator's reading of the study for this claim (note, 1st paragraph)

    @property
    def indirect(self) -> bool:
        return not self.direct


@dataclass(frozen=True)
class Assessment:
    """The verdict on one body of studies: a whole claim, or one part of a compound claim."""

    grade: str
    rule: str
    score: int
    direction: str
    certainty: str
    certainty_reasons: tuple[str, ...]
    tested: bool  # a counted study tests the claim directly
    confirmed: bool  # ... and supports it
    best_direct_design: str | None
    deciding: tuple[DecidingStudy, ...]
    studies: tuple[DecidingStudy, ...]  # every counted study


@dataclass(frozen=True)
class PartVerdict:
    """One part of a compound claim, graded on the studies that bear on it."""

    part_id: str
    statement: str
    gap: str
    assessment: Assessment
    plain: tuple[str, ...]

    @property
    def grade(self) -> str:
        return self.assessment.grade

    @property
    def direction(self) -> str:
        return self.assessment.direction

    @property
    def certainty(self) -> str:
        return self.assessment.certainty

    @property
    def deciding(self) -> tuple[DecidingStudy, ...]:
        return self.assessment.deciding


@dataclass(frozen=True)
class Verdict:
    claim_id: str
    grade: str
    score: int
    rule: str
    rule_text: str
    deciding: tuple[DecidingStudy, ...]
    counts: dict[str, int]  # curator-confirmed stances, plus "unassessed"
    n_unassessed: int
    cites_retracted: tuple[str, ...]
    why: str  # the plain-language lines, then the details, as one text
    plain: tuple[str, ...] = ()  # one or two sentences a clinician can read to a patient
    details: tuple[str, ...] = ()
    direction: str = "none"
    certainty: str = "very low"
    certainty_reasons: tuple[str, ...] = ()
    best_direct_design: str | None = None
    needs_review: bool = False  # a machine suggestion says a study contradicts the claim
    suggested: dict[str, int] = field(default_factory=dict)  # stance -> suggestions to review
    parts: tuple[PartVerdict, ...] = ()
    basis: str = ""  # `grading_basis`: what else the verdict was graded on

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.plain + self.details


@dataclass(frozen=True)
class _Facts:
    """What the rules look at, summed over one body of counted studies."""

    support: float
    contra: float
    best_support: float  # best effective level among "supports" (inf when none)
    best_contra: float
    n_supports: int
    n_contradicts: int
    n_mixed: int
    direct_support_levels: tuple[int, ...]


# --- Record facts from tags (`evidence.facts`) ------------------------------------------------


def facts_of(rows: pd.DataFrame, rubric: Rubric) -> dict[str, dict[str, Any]]:
    """pmid -> design, level, indirect (by nature) and why, sample_size, year, retracted, from
    ``record_facts`` rows (the rubric decides levels and which designs are indirect)."""
    facts: dict[str, dict[str, Any]] = {}
    for row in rows.itertuples(index=False):
        f: dict[str, Any] = {
            "year": None if row.pub_year is None or pd.isna(row.pub_year) else int(row.pub_year),
            "retracted": bool(row.retracted) if not pd.isna(row.retracted) else False,
        }
        if isinstance(row.design, str):
            f["design"] = row.design
        if isinstance(row.sample_size, str):
            with contextlib.suppress(ValueError):
                f["sample_size"] = int(row.sample_size.replace(",", ""))
        if isinstance(row.indirect, str):
            f["indirect_reason"] = row.indirect
        facts[str(row.pmid)] = f
    for f in facts.values():
        f.setdefault("design", "other")
        f.setdefault("year", None)
        f.setdefault("retracted", False)
        f.setdefault("sample_size", None)
        f["level"] = rubric.level(f["design"])
        reason = rubric.indirect_reasons.get(f["design"]) or f.get("indirect_reason")
        f["indirect"] = f["design"] in rubric.indirect_designs or "indirect_reason" in f
        f["indirect_reason"] = reason or ""
    return facts


def record_facts(
    records: pd.DataFrame, tags: pd.DataFrame, rubric: Rubric
) -> dict[str, dict[str, Any]]:
    """pmid -> design, level, indirect (by nature) and why, sample_size, year, retracted."""
    return facts_of(fact_rows(records, tags), rubric)


def linked_facts(tables: Mapping[str, pd.DataFrame], pmids: Iterable[str]) -> pd.DataFrame:
    """``record_facts`` rows of some PMIDs from a store's tables (only their ranges read); a
    record stored without them (written around `pipeline.apply_batch`) from its record and tags."""
    wanted = set(pmids)
    stored = rows_of(tables, "record_facts", wanted) if "record_facts" in tables else None
    found = set(stored["pmid"]) if stored is not None else set()
    missing = wanted - found
    if not missing:
        return stored if stored is not None else RECORD_FACTS.empty()
    derived = fact_rows(
        rows_of(tables, "records", missing, ["pmid", "pub_year", "retracted"]),
        rows_of(tables, "tags", missing),
    )
    return pd.concat([f for f in (stored, derived) if f is not None and len(f)] or [derived])


# --- One body of studies -----------------------------------------------------------------------


def _flag(value: Any, default: bool) -> bool:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return default
    return bool(value)


def _reading(note: Any) -> str:
    """The curator's own reading: a note's first paragraph (a curated note's findings follow
    it); an editor's later note (``curator_note``) is read before the curated one."""
    return as_text(note).strip().split("\n\n", 1)[0].strip()


def directness(link: Mapping[str, Any], fact: Mapping[str, Any]) -> tuple[bool, str]:
    """(direct, why not) of a linked study: the link's judgement, and the design's nature.

    A design indirect by nature (preclinical, healthy volunteers) stays indirect whatever the
    link says; an unjudged link (no value) counts as direct.
    """
    link_direct = _flag(link.get("direct"), True)
    reasons = [] if link_direct else [as_text(link.get("indirect_because")).strip()]
    if fact.get("indirect"):
        reasons.append(str(fact.get("indirect_reason", "")))
    direct = link_direct and not fact.get("indirect")
    return direct, "" if direct else "; ".join(dict.fromkeys(r for r in reasons if r))


def _study(
    link: Mapping[str, Any], fact: Mapping[str, Any], rubric: Rubric, as_of_year: int
) -> DecidingStudy:
    direct, because = directness(link, fact)
    level = int(fact["level"])
    effective = min(rubric.max_level, level + rubric.downgrade_indirect * (not direct))
    year = fact["year"]
    weight = (
        rubric.level_weights[level]
        * (1.0 if direct else rubric.indirect_weight)
        * rubric.sample_size_factor(fact["sample_size"])
        * rubric.recency_factor(None if year is None else max(0, as_of_year - year))
    )
    return DecidingStudy(
        pmid=str(link["pmid"]),
        design=str(fact["design"]),
        level=level,
        stance=str(link["stance"]),
        stance_origin=str(link["stance_origin"]),
        direct=direct,
        indirect_because=because,
        sample_size=fact["sample_size"],
        year=year,
        retracted=bool(fact["retracted"]),
        effective_level=effective,
        weight=round(weight, 4),
        reading=_reading(link.get("curator_note")) or _reading(link.get("note")),
    )


def _facts(studies: Sequence[DecidingStudy], rubric: Rubric) -> _Facts:
    share = rubric.mixed_share
    sup = [s for s in studies if s.stance == "supports"]
    con = [s for s in studies if s.stance == "contradicts"]
    mix = [s for s in studies if s.stance == "mixed"]
    mixed_w = sum(s.weight for s in mix) * share
    return _Facts(
        support=sum(s.weight for s in sup) + mixed_w,
        contra=sum(s.weight for s in con) + mixed_w,
        best_support=min((s.effective_level for s in sup), default=math.inf),
        best_contra=min((s.effective_level for s in con), default=math.inf),
        n_supports=len(sup),
        n_contradicts=len(con),
        n_mixed=len(mix),
        direct_support_levels=tuple(s.level for s in sup if s.direct),
    )


def decide(f: _Facts, rubric: Rubric) -> str:
    """The id of the first rule (in rubric order) whose condition holds."""
    t = rubric.thresholds
    if f.n_supports + f.n_contradicts + f.n_mixed == 0:
        return "no_evidence"
    if f.n_contradicts and f.best_contra < f.best_support and f.contra >= f.support:
        return "contradicted"
    if f.n_contradicts and (f.best_contra <= f.best_support or f.contra >= f.support):
        return "contested"
    levels = f.direct_support_levels
    strong = any(lv <= t["well_supported_level"] for lv in levels) or (
        sum(lv <= t["well_supported_pair_level"] for lv in levels) >= 2
    )
    if (
        strong
        and f.support >= t["well_supported_min_weight"]
        and f.contra <= t["well_supported_max_contra_ratio"] * f.support
    ):
        return "well_supported"
    if (
        any(lv <= t["supported_level"] for lv in levels)
        and f.support >= t["supported_min_ratio"] * f.contra
    ):
        return "supported"
    return "limited"


def score(grade: str, f: _Facts, rubric: Rubric) -> int:
    """Band of the grade, placed inside by balance (support share) times strength."""
    low, high = rubric.bands[grade]
    total = f.support + f.contra
    if total <= 0:
        return low
    balance = f.support / total
    strength = min(1.0, total / rubric.full_strength)
    return int(round(low + (high - low) * balance * strength))


def _rank(s: DecidingStudy) -> tuple[int, float, str]:
    return (s.effective_level, -s.weight, s.pmid)


def _pick_deciding(studies: Sequence[DecidingStudy]) -> tuple[DecidingStudy, ...]:
    ranked = sorted(studies, key=_rank)
    picked = ranked[:MAX_DECIDING]
    for stance in COUNTED:  # keep the best study of every side in view
        best = next((s for s in ranked if s.stance == stance), None)
        if best is not None and best not in picked:
            picked = [*picked[: MAX_DECIDING - 1], best]
    return tuple(sorted(picked, key=_rank))


def assess(studies: Sequence[DecidingStudy], rubric: Rubric) -> Assessment:
    """Grade, direction and certainty of one body of counted, curator-confirmed studies."""
    f = _facts(studies, rubric)
    rule_id = decide(f, rubric)
    grade = rubric.rule(rule_id).grade
    rated = cert.rate(studies, rubric)
    test_level = rubric.certainty.test_max_level
    return Assessment(
        grade=grade,
        rule=rule_id,
        score=score(grade, f, rubric),
        direction=cert.direction(rule_id, f.support, f.contra, rubric),
        certainty=rated.level,
        certainty_reasons=rated.reasons,
        tested=rated.tested,
        confirmed=any(
            s.stance == "supports" and s.direct and s.level <= test_level for s in studies
        ),
        best_direct_design=rated.best_direct_design,
        deciding=_pick_deciding(studies),
        studies=tuple(sorted(studies, key=_rank)),
    )


def weakness(a: Assessment) -> tuple[int, int, int]:
    """Sort key, weakest first: grade, then lower certainty, then lower score."""
    return (GRADE_STRENGTH[a.grade], -CERTAINTIES.index(a.certainty), a.score)


# --- One claim ---------------------------------------------------------------------------------


def _parts(
    spec: Claim, studies: Sequence[DecidingStudy], rubric: Rubric
) -> tuple[PartVerdict, ...]:
    """Each part graded on its listed studies plus those of the claim listed under no part."""
    listed = {pmid for part in spec.parts for pmid in part.evidence}
    out = []
    for part in spec.parts:
        own = set(part.evidence)
        body = [s for s in studies if s.pmid in own or s.pmid not in listed]
        a = assess(body, rubric)
        question = part.tested_question or spec.tested_question
        plain = why.assessment_plain(a, question=question, gap=part.gap)
        out.append(PartVerdict(part.id, part.statement, part.gap, a, plain))
    return tuple(out)


def grading_basis(spec: Claim | None, rubric: Rubric, as_of_year: int) -> str:
    """A fingerprint of what a verdict depends on besides its links, records and tags: the
    rubric, the claim's parts and tested question, and the year recency counts from. A verdict
    whose basis changed is graded again even when none of its evidence changed."""
    text = "\0".join(
        (repr(rubric), spec.model_dump_json() if spec is not None else "", str(as_of_year))
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def grade_claim(
    claim_id: str,
    links: pd.DataFrame,
    facts: Mapping[str, Mapping[str, Any]],
    rubric: Rubric,
    as_of_year: int,
    spec: Claim | None = None,
) -> Verdict:
    """One claim's verdict from its links (already filtered to the claim).

    ``spec`` is the claim as the registry defines it: its parts and the question a direct
    study would test. Without it the claim is graded whole and the why says "this claim".
    """
    counts = dict.fromkeys(("supports", "contradicts", "mixed", "background", "unassessed"), 0)
    suggested: Counter[str] = Counter()
    suggested_contra: list[str] = []
    studies: list[DecidingStudy] = []
    excluded: list[str] = []
    cites_retracted: list[str] = []
    unknown = {"design": "other", "level": rubric.level(None), "indirect": False}
    unknown |= {"indirect_reason": "", "sample_size": None, "year": None, "retracted": False}
    for link in links.to_dict("records"):
        stance, origin = link["stance"], link["stance_origin"]
        if stance == "irrelevant":
            continue
        fact = facts.get(str(link["pmid"]), unknown)
        if fact["retracted"]:
            excluded.append(str(link["pmid"]))
            if stance in ("supports", "mixed") and origin == "curator":
                cites_retracted.append(str(link["pmid"]))
            continue
        if origin == "suggested":
            suggested[stance] += 1
            if stance == "contradicts":
                suggested_contra.append(str(link["pmid"]))
            continue
        if origin == "unassessed" or stance == "unassessed":
            counts["unassessed"] += 1
            continue
        if stance in counts:
            counts[stance] += 1
        if stance in COUNTED:
            studies.append(_study(link, fact, rubric, as_of_year))
    parts = _parts(spec, studies, rubric) if spec is not None and spec.parts else ()
    if parts:
        main = min(parts, key=lambda p: weakness(p.assessment)).assessment
    else:
        main = assess(studies, rubric)
    question = spec.tested_question if spec is not None else ""
    plain, details = why.verdict_lines(
        main,
        parts,
        rubric,
        question=question,
        counts=counts,
        suggested=dict(suggested),
        suggested_contra=tuple(sorted(suggested_contra)),
        excluded=tuple(sorted(excluded)),
        cites_retracted=tuple(sorted(cites_retracted)),
    )
    rule = rubric.rule(main.rule)
    return Verdict(
        claim_id=claim_id,
        grade=main.grade,
        score=main.score,
        rule=main.rule,
        rule_text=rule.description,
        deciding=main.deciding,
        counts=counts,
        n_unassessed=counts["unassessed"],
        cites_retracted=tuple(sorted(cites_retracted)),
        why=" ".join((*plain, *details)),
        plain=plain,
        details=details,
        direction=main.direction,
        certainty=main.certainty,
        certainty_reasons=main.certainty_reasons,
        best_direct_design=main.best_direct_design,
        needs_review=bool(suggested_contra),
        suggested=dict(suggested),
        parts=parts,
        basis=grading_basis(spec, rubric, as_of_year),
    )


def grade_claims(
    claims: pd.DataFrame,
    links: pd.DataFrame,
    records: pd.DataFrame,
    tags: pd.DataFrame,
    rubric: Rubric | None = None,
    *,
    as_of: date | None = None,
    registry: Registry | None = None,
    facts: pd.DataFrame | None = None,
) -> dict[str, Verdict]:
    """claim_id -> Verdict for every claim (claims without links get "No evidence found").

    ``tags`` may hold computed and curator tags together; per record and kind the curator's wins.
    ``as_of`` sets the year recency is counted from (today when not given). ``registry`` gives
    each claim's parts and tested question (``data/claims.yaml``); without it claims are graded
    whole. ``facts`` (``record_facts`` rows, see `linked_facts`) stand for ``records`` and
    ``tags`` when given, so a store's grading reads neither.
    """
    rubric = rubric or load_rubric()
    as_of_year = (as_of or datetime.now(UTC).date()).year
    known = facts_of(facts, rubric) if facts is not None else record_facts(records, tags, rubric)
    by_claim = {c: g for c, g in links.groupby("claim_id", sort=False)} if len(links) else {}
    specs = {c.id: c for c in registry.claims} if registry is not None else {}
    empty = links.iloc[0:0]
    return {
        str(c): grade_claim(
            str(c), by_claim.get(c, empty), known, rubric, as_of_year, specs.get(str(c))
        )
        for c in claims["claim_id"]
    }


def verdicts_frame(
    verdicts: Mapping[str, Verdict], run_id: str, computed_at: datetime
) -> pd.DataFrame:
    """The verdicts as the ``verdicts`` table (one row per claim)."""
    rows = [
        {
            "run_id": run_id,
            "claim_id": v.claim_id,
            "computed_at": pd.Timestamp(computed_at),
            "grade": v.grade,
            "score": v.score,
            "rule": v.rule,
            "direction": v.direction,
            "certainty": v.certainty,
            "needs_review": v.needs_review,
            "n_supports": v.counts["supports"],
            "n_contradicts": v.counts["contradicts"],
            "n_mixed": v.counts["mixed"],
            "n_background": v.counts["background"],
            "n_unassessed": v.n_unassessed,
            "basis": v.basis,
        }
        for v in verdicts.values()
    ]
    if not rows:
        return VERDICTS.empty()
    return VERDICTS.conform(pd.DataFrame(rows, columns=VERDICTS.columns))
