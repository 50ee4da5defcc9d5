"""Direction and certainty of a claim's evidence, GRADE-style, beside the rubric's grade.

The grade says how well a claim is supported; a clinician also needs to know which way the
evidence points and how far to trust it. Both are computed from the same curator-confirmed
studies as the grade, with the rules of section 6 of ``rubric.yaml``: certainty starts from the
best study that directly tests the claim and is rated down for indirectness, inconsistency and
imprecision, as GRADE does (risk of bias and publication bias are not recorded, so not rated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .levels import CERTAINTIES, DIRECTIONS, Rubric

__all__ = ["CERTAINTIES", "DIRECTIONS", "Certainty", "direction", "rate", "sort_key"]

# Phrases for the reasons a certainty is not higher; the why reads them aloud.
UNTESTED = "no study tests the claim itself"
INCONSISTENT = "the studies point different ways"
SINGLE = "it rests on a single study"
ONLY_ONE_TEST = "only one of the studies tests the claim directly"
NO_SIZES = "none of the studies reports how many people took part"
OBSERVATIONAL = "the best studies are not randomized trials in patients"
OBSERVATIONAL_ONE = "it is not a randomized trial in patients"
WEAK_DESIGNS = "the best evidence is reviews, case reports or reports of other kinds"
WEAK_DESIGN_ONE = "it is a review, a case report or a report of another kind"


class Rated(Protocol):
    """What certainty needs of a counted study (`verdict.DecidingStudy` has it)."""

    design: str
    level: int
    stance: str
    direct: bool
    sample_size: int | None
    weight: float


@dataclass(frozen=True)
class Certainty:
    """A certainty level, the plain reasons it is not higher, and what tests the claim."""

    level: str
    reasons: tuple[str, ...]
    tested: bool  # some counted study tests the claim directly
    best_direct_design: str | None  # the design of the best such study


def direction(rule: str, support: float, contra: float, rubric: Rubric) -> str:
    """Which way the counted evidence points; follows the grade so the two never disagree."""
    fixed = {
        "no_evidence": "none",
        "contradicted": "contradicts",
        "contested": "mixed",
        "well_supported": "supports",
        "supported": "supports",
    }
    if rule in fixed:
        return fixed[rule]
    ratio = rubric.thresholds["supported_min_ratio"]
    return "supports" if support > 0 and support >= ratio * contra else "mixed"


def _start(design: str, rubric: Rubric) -> int:
    return CERTAINTIES.index(rubric.certainty.start.get(design, "very low"))


def _sides(studies: Sequence[Rated], share: float) -> tuple[float, float]:
    mixed = sum(s.weight for s in studies if s.stance == "mixed") * share
    support = sum(s.weight for s in studies if s.stance == "supports") + mixed
    contra = sum(s.weight for s in studies if s.stance == "contradicts") + mixed
    return support, contra


def rate(studies: Sequence[Rated], rubric: Rubric) -> Certainty:
    """The certainty of a body of counted, curator-confirmed studies (rubric section 6)."""
    rules = rubric.certainty
    if not studies:
        return Certainty("very low", ("no curator-confirmed study to rate",), False, None)
    tests = [s for s in studies if s.direct and s.level <= rules.test_max_level]
    rated = tests or list(studies)
    best = min(rated, key=lambda s: (_start(s.design, rubric), s.level))
    start = _start(best.design, rubric)
    down = 0
    reasons: list[str] = []
    if not tests:
        down += rules.indirectness
        reasons.append(UNTESTED)
    if start == CERTAINTIES.index("low"):
        reasons.append(OBSERVATIONAL if len(rated) > 1 else OBSERVATIONAL_ONE)
    elif start == CERTAINTIES.index("very low"):
        reasons.append(WEAK_DESIGNS if len(rated) > 1 else WEAK_DESIGN_ONE)
    support, contra = _sides(rated, rubric.mixed_share)
    stronger = max(support, contra)
    if (
        len(rated) >= 2
        and stronger > 0
        and min(support, contra) >= rules.inconsistency_ratio * stronger
    ):
        down += rules.inconsistency
        reasons.append(INCONSISTENT)
    known = sum(s.sample_size for s in rated if s.sample_size is not None)
    pooled = any(s.design in rules.pooled_designs for s in rated)
    if len(rated) == 1:
        down += rules.imprecision
        reasons.append(SINGLE if len(studies) == 1 else ONLY_ONE_TEST)
    elif known < rules.imprecision_min_participants and not pooled:
        down += rules.imprecision
        reasons.append(
            f"the studies are small ({known:,} participants in all)" if known else NO_SIZES
        )
    level = CERTAINTIES[min(len(CERTAINTIES) - 1, start + down)]
    direct_best = min(tests, key=lambda s: (_start(s.design, rubric), s.level)) if tests else None
    return Certainty(
        level,
        tuple(reasons),
        bool(tests),
        direct_best.design if direct_best else None,
    )


def sort_key(
    certainty: str, best_direct_design: str | None, direction_: str, rubric: Rubric
) -> tuple[int, int, int]:
    """Order claims by certainty, then by direct randomized/pooled evidence, then direction.

    Certainty comes first, so a claim without any direct test (never above "low") cannot rank
    above one with a direct randomized or pooled study (never below "low"); at "low" the
    second key breaks the tie the same way.
    """
    trial = best_direct_design is not None and _start(best_direct_design, rubric) == 0
    tested = best_direct_design is not None
    return (CERTAINTIES.index(certainty), -(2 * trial + tested), DIRECTIONS.index(direction_))
