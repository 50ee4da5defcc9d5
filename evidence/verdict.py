"""Per-claim verdicts that explain themselves: grade, 0-100 score, the rule that fired, and why.

The rubric (levels, downgrades, weights, rules, score bands) lives in ``evidence/rubric.yaml``;
this module applies it. Only links with a stance count: a curator's stance as is, a machine
suggestion ("suggested") downgraded and down-weighted and named as such in the why. Retracted
studies never count; a claim whose curator-supporting study is retracted is flagged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from .levels import Rubric, load_rubric
from .schema import VERDICTS

COUNTED = ("supports", "contradicts", "mixed")
MAX_DECIDING = 6
# When several tags of one kind disagree for a record, the first origin here wins.
ORIGIN_PRIORITY = ("curator", "publication_type", "mesh", "text_rule", "rubric")


@dataclass(frozen=True)
class DecidingStudy:
    pmid: str
    design: str
    level: int  # from the design, before downgrades
    stance: str
    stance_origin: str
    indirect: bool
    sample_size: int | None
    year: int | None
    retracted: bool
    effective_level: int  # after downgrades for indirectness / suggested stance
    weight: float


@dataclass(frozen=True)
class Verdict:
    claim_id: str
    grade: str
    score: int
    rule: str
    rule_text: str
    deciding: tuple[DecidingStudy, ...]
    counts: dict[str, int]
    n_unassessed: int
    cites_retracted: tuple[str, ...]
    why: str
    reasons: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _Facts:
    """What the rules look at, summed over one claim's counted studies."""

    support: float
    contra: float
    best_support: float  # best effective level among "supports" (inf when none)
    best_contra: float
    n_supports: int
    n_contradicts: int
    n_mixed: int
    direct_curator_support_levels: tuple[int, ...]


# --- Record facts from tags --------------------------------------------------------------------


def _best_tags(tags: pd.DataFrame, kind: str) -> pd.DataFrame:
    """One tag per record for a kind, the highest-priority origin winning."""
    sub = tags[tags["kind"] == kind]
    if sub.empty:
        return sub
    rank = sub["origin"].map({o: i for i, o in enumerate(ORIGIN_PRIORITY)}).fillna(99)
    return sub.assign(_rank=rank).sort_values(["pmid", "_rank"]).drop_duplicates("pmid")


def record_facts(
    records: pd.DataFrame, tags: pd.DataFrame, rubric: Rubric
) -> dict[str, dict[str, Any]]:
    """pmid -> design, level, indirect, sample_size, year, retracted."""
    facts: dict[str, dict[str, Any]] = {}
    n = len(records)
    years = records["pub_year"] if "pub_year" in records.columns else [None] * n
    retracted = records["retracted"] if "retracted" in records.columns else [False] * n
    for pmid, year, retr in zip(records["pmid"].astype(str), years, retracted, strict=True):
        facts[pmid] = {
            "year": None if year is None or pd.isna(year) else int(year),
            "retracted": bool(retr) if retr is not None and not pd.isna(retr) else False,
        }
    designs = _best_tags(tags, "design")
    for pmid, design in zip(designs["pmid"], designs["tag"], strict=True):
        facts.setdefault(pmid, {})["design"] = design
    sizes = _best_tags(tags, "sample_size")
    for pmid, value in zip(sizes["pmid"], sizes["value"], strict=True):
        try:
            facts.setdefault(pmid, {})["sample_size"] = int(str(value).replace(",", ""))
        except ValueError:
            continue
    indirect = tags.loc[tags["kind"] == "indirect", "pmid"]
    for pmid in indirect:
        facts.setdefault(pmid, {})["indirect"] = True
    for f in facts.values():
        f.setdefault("design", "other")
        f.setdefault("year", None)
        f.setdefault("retracted", False)
        f.setdefault("sample_size", None)
        f["level"] = rubric.level(f["design"])
        f["indirect"] = bool(f.get("indirect")) or f["design"] in rubric.indirect_designs
    return facts


# --- One claim ---------------------------------------------------------------------------------


def _study(
    link: Mapping[str, Any], fact: Mapping[str, Any], rubric: Rubric, as_of_year: int
) -> DecidingStudy:
    note = link.get("note")
    note_indirect = bool(
        rubric.indirect_note_prefix
        and isinstance(note, str)
        and note.strip().lower().startswith(rubric.indirect_note_prefix)
    )
    indirect = bool(fact["indirect"]) or note_indirect
    suggested = link["stance_origin"] == "suggested"
    level = int(fact["level"])
    effective = min(
        rubric.max_level,
        level + rubric.downgrade_indirect * indirect + rubric.downgrade_suggested * suggested,
    )
    year = fact["year"]
    weight = (
        rubric.level_weights[level]
        * (rubric.indirect_weight if indirect else 1.0)
        * (rubric.suggested_weight if suggested else 1.0)
        * rubric.sample_size_factor(fact["sample_size"])
        * rubric.recency_factor(None if year is None else max(0, as_of_year - year))
    )
    return DecidingStudy(
        pmid=str(link["pmid"]),
        design=str(fact["design"]),
        level=level,
        stance=str(link["stance"]),
        stance_origin=str(link["stance_origin"]),
        indirect=indirect,
        sample_size=fact["sample_size"],
        year=year,
        retracted=bool(fact["retracted"]),
        effective_level=effective,
        weight=round(weight, 4),
    )


def _facts(studies: list[DecidingStudy], rubric: Rubric) -> _Facts:
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
        direct_curator_support_levels=tuple(
            s.level for s in sup if s.stance_origin == "curator" and not s.indirect
        ),
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
    levels = f.direct_curator_support_levels
    strong = any(lv <= t["well_supported_level"] for lv in levels) or (
        sum(lv <= t["well_supported_pair_level"] for lv in levels) >= 2
    )
    if (
        strong
        and f.support >= t["well_supported_min_weight"]
        and f.contra <= t["well_supported_max_contra_ratio"] * f.support
    ):
        return "well_supported"
    if f.best_support <= t["supported_level"] and f.support >= t["supported_min_ratio"] * f.contra:
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


def _plural(n: int, singular: str, plural: str) -> str:
    return f"{n} {singular if n == 1 else plural}"


def _describe(studies: list[DecidingStudy], stance: str) -> str:
    chosen = [s for s in studies if s.stance == stance]
    if not chosen:
        return ""
    best = min(s.effective_level for s in chosen)
    top = [s for s in chosen if s.effective_level == best]
    designs = sorted({s.design for s in top})
    extras = []
    n_sugg = sum(s.stance_origin == "suggested" for s in chosen)
    n_ind = sum(s.indirect for s in chosen)
    if n_ind:
        extras.append(f"{n_ind} indirect")
    if n_sugg:
        extras.append(f"{n_sugg} machine-suggested, not yet reviewed")
    extra = f"; {', '.join(extras)}" if extras else ""
    one = len(chosen) == 1
    verb = {
        "supports": "supports it" if one else "support it",
        "contradicts": "contradicts it" if one else "contradict it",
        "mixed": "gives mixed results" if one else "give mixed results",
    }
    studies_text = _plural(len(chosen), "study", "studies")
    return f"{studies_text} {verb[stance]} (best: {' / '.join(designs)}, level {best}{extra})"


def _lead(rule_id: str, grade: str, f: _Facts) -> str:
    """The first sentence of the why: the rule that fired, with this claim's numbers."""
    bs = "none" if math.isinf(f.best_support) else f"level {int(f.best_support)}"
    bc = "none" if math.isinf(f.best_contra) else f"level {int(f.best_contra)}"
    w = f"supporting weight {f.support:.2f}, contradicting weight {f.contra:.2f}"
    text = {
        "no_evidence": "no counted study supports, contradicts or gives mixed results",
        "contradicted": f"contradicting evidence ({bc}) is better than any support ({bs}); {w}",
        "contested": f"contradicting evidence ({bc}) against support at {bs}; {w}",
        "well_supported": f"direct curator-judged support at {bs}; {w}",
        "supported": f"support at {bs}; {w}",
        "limited": (f"best support at {bs}" if f.n_supports else "mixed results only") + f"; {w}",
    }[rule_id]
    return f"{grade}: {text}."


def _pick_deciding(studies: list[DecidingStudy]) -> tuple[DecidingStudy, ...]:
    ranked = sorted(studies, key=lambda s: (s.effective_level, -s.weight, s.pmid))
    picked = ranked[:MAX_DECIDING]
    for stance in COUNTED:  # keep the best study of every side in view
        best = next((s for s in ranked if s.stance == stance), None)
        if best is not None and best not in picked:
            picked = [*picked[: MAX_DECIDING - 1], best]
    return tuple(sorted(picked, key=lambda s: (s.effective_level, -s.weight, s.pmid)))


def grade_claim(
    claim_id: str,
    links: pd.DataFrame,
    facts: Mapping[str, Mapping[str, Any]],
    rubric: Rubric,
    as_of_year: int,
) -> Verdict:
    """One claim's verdict from its links (already filtered to the claim)."""
    counts = dict.fromkeys(("supports", "contradicts", "mixed", "background", "unassessed"), 0)
    studies: list[DecidingStudy] = []
    excluded: list[str] = []
    cites_retracted: list[str] = []
    unknown = {"design": "other", "level": rubric.level(None), "indirect": False}
    unknown |= {"sample_size": None, "year": None, "retracted": False}
    for link in links.to_dict("records"):
        stance = link["stance"]
        if stance == "irrelevant":
            continue
        fact = facts.get(str(link["pmid"]), unknown)
        if fact["retracted"]:
            excluded.append(str(link["pmid"]))
            if stance in ("supports", "mixed") and link["stance_origin"] == "curator":
                cites_retracted.append(str(link["pmid"]))
            continue
        if stance in counts:
            counts[stance] += 1
        if stance in COUNTED:
            studies.append(_study(link, fact, rubric, as_of_year))
    f = _facts(studies, rubric)
    rule_id = decide(f, rubric)
    rule = rubric.rule(rule_id)
    reasons = [_lead(rule_id, rule.grade, f)]
    found = [_describe(studies, s) for s in COUNTED]
    found = [x for x in found if x]
    if found:
        text = "; ".join(found)
        reasons.append(text[0].upper() + text[1:] + ".")
    if counts["background"]:
        n = counts["background"]
        reasons.append(f"{_plural(n, 'background study', 'background studies')} (not counted).")
    if counts["unassessed"]:
        n = counts["unassessed"]
        reasons.append(f"{_plural(n, 'relevant study', 'relevant studies')} not yet assessed.")
    if excluded:
        reasons.append(f"Retracted, not counted: PMID {', '.join(sorted(excluded))}.")
    if cites_retracted:
        reasons.append(
            f"Warning: the claim relies on retracted PMID {', '.join(sorted(cites_retracted))}."
        )
    return Verdict(
        claim_id=claim_id,
        grade=rule.grade,
        score=score(rule.grade, f, rubric),
        rule=rule_id,
        rule_text=rule.description,
        deciding=_pick_deciding(studies),
        counts=counts,
        n_unassessed=counts["unassessed"],
        cites_retracted=tuple(sorted(cites_retracted)),
        why=" ".join(reasons),
        reasons=tuple(reasons),
    )


def grade_claims(
    claims: pd.DataFrame,
    links: pd.DataFrame,
    records: pd.DataFrame,
    tags: pd.DataFrame,
    rubric: Rubric | None = None,
    *,
    as_of: date | None = None,
) -> dict[str, Verdict]:
    """claim_id -> Verdict for every claim (claims without links get "No evidence found").

    ``tags`` may hold computed and curator tags together; per record and kind the curator's wins.
    ``as_of`` sets the year recency is counted from (today when not given).
    """
    rubric = rubric or load_rubric()
    as_of_year = (as_of or datetime.now(UTC).date()).year
    facts = record_facts(records, tags, rubric)
    by_claim = {c: g for c, g in links.groupby("claim_id", sort=False)} if len(links) else {}
    empty = links.iloc[0:0]
    return {
        str(c): grade_claim(str(c), by_claim.get(c, empty), facts, rubric, as_of_year)
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
            "n_supports": v.counts["supports"],
            "n_contradicts": v.counts["contradicts"],
            "n_mixed": v.counts["mixed"],
            "n_background": v.counts["background"],
            "n_unassessed": v.n_unassessed,
        }
        for v in verdicts.values()
    ]
    if not rows:
        return VERDICTS.empty()
    return VERDICTS.conform(pd.DataFrame(rows, columns=VERDICTS.columns))
