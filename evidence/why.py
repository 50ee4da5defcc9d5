"""The "why" of a verdict in words a clinician can read to a patient, then the details.

Everything here is built from data: the counted studies' stances, designs, sample sizes, years and
directness (with the curator's `indirect_because`), the curator's own reading of a study, and the
claim's parts, tested question and gap texts from ``data/claims.yaml``. The first lines carry no
rule ids or weights; the details name the deciding studies, what a level means, thin evidence,
gaps and what is waiting for a curator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .levels import Rubric

if TYPE_CHECKING:
    from .verdict import Assessment, DecidingStudy, PartVerdict

# Designs as words: (singular, plural).
NOUNS = {
    "meta-analysis": ("meta-analysis", "meta-analyses"),
    "systematic review": ("systematic review", "systematic reviews"),
    "guideline": ("clinical guideline", "clinical guidelines"),
    "randomized controlled trial": ("randomized controlled trial", "randomized controlled trials"),
    "non-randomized trial": ("non-randomized trial", "non-randomized trials"),
    "cohort": ("cohort study", "cohort studies"),
    "case-control": ("case-control study", "case-control studies"),
    "cross-sectional": ("cross-sectional survey", "cross-sectional surveys"),
    "case series": ("case series", "case series"),
    "case report": ("case report", "case reports"),
    "qualitative": ("qualitative study", "qualitative studies"),
    "narrative review": ("narrative review", "narrative reviews"),
    "preclinical": ("preclinical study", "preclinical studies"),
    "healthy-volunteer experiment": (
        "experiment in healthy volunteers",
        "experiments in healthy volunteers",
    ),
    "other": ("report of another kind", "reports of other kinds"),
}
_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_WORDS += ("eleven", "twelve")
_STANCE_VERB = {  # (one study, several studies)
    "supports": ("supports it", "support it"),
    "contradicts": ("points against it", "point against it"),
    "mixed": ("gives mixed results", "give mixed results"),
}
_EVIDENCE_VERB = {"supports": "supports it", "contradicts": "points against it"}
_SUGGESTED = {"supports": "support", "contradicts": "a contradiction", "mixed": "mixed results"}


def number(n: int) -> str:
    return _WORDS[n] if 0 <= n < len(_WORDS) else f"{n:,}"


def studies(n: int, what: str = "study") -> str:
    """ "one study", "two studies", "three indirect studies"."""
    plural = what[:-1] + "ies" if what.endswith("study") else what + "s"
    return f"{number(n)} {what if n == 1 else plural}"


def noun(design: str, n: int = 1) -> str:
    one, many = NOUNS.get(design, (design, design + "s"))
    return one if n == 1 else many


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeio" else "a"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(text: str) -> str:
    text = _cap(text.strip())
    return text if text.endswith((".", "!", "?", "”")) else text + "."


def _join(items: Sequence[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def study_phrase(s: DecidingStudy) -> str:
    """ "a randomized controlled trial of 127 participants (2007)", indirect ones saying why."""
    n = noun(s.design)
    text = f"{_article(n)} {n}"
    if s.sample_size:
        text += f" of {s.sample_size:,} participants"
    if s.year:
        text += f" ({s.year})"
    if not s.direct:
        text += f", indirect ({s.indirect_because})" if s.indirect_because else ", indirect"
    return text


def _strongest(group: Sequence[DecidingStudy]) -> DecidingStudy:
    return min(group, key=lambda s: (s.effective_level, -s.weight, s.pmid))


def _side(group: Sequence[DecidingStudy], stance: str, with_strongest: bool) -> str:
    """ "five studies support it (three of them indirect), the strongest direct one ..."."""
    one, many = _STANCE_VERB[stance]
    n, direct = len(group), [s for s in group if s.direct]
    text = f"{studies(n)} {one if n == 1 else many}"
    if n > 1 and len(direct) < n:
        text += f" ({number(n - len(direct))} of them indirect)" if direct else " (all indirect)"
    if with_strongest and n > 1:
        label = "the strongest direct one" if direct and len(direct) < n else "the strongest"
        text += f", {label} {study_phrase(_strongest(direct or group))}"
    elif with_strongest:
        text += f": {study_phrase(group[0])}"
    return text


def _closest(body: Sequence[DecidingStudy]) -> str:
    """What the evidence is when nothing tests the claim: indirect studies and their reasons."""
    indirect = [s for s in body if not s.direct]
    pieces = []
    if indirect:
        reasons = list(dict.fromkeys(s.indirect_because for s in indirect if s.indirect_because))
        text = studies(len(indirect), "indirect study")
        pieces.append(text + (f" ({'; '.join(reasons)})" if reasons else ""))
    by_design: dict[str, int] = {}
    for s in body:
        if s.direct:
            by_design[s.design] = by_design.get(s.design, 0) + 1
    for design, n in by_design.items():
        word = noun(design, n)
        pieces.append(f"{_article(word)} {word}" if n == 1 else f"{number(n)} {word}")
    return _join(pieces)


def certainty_sentence(a: Assessment) -> str:
    reasons = _join(a.certainty_reasons)
    return _sentence(
        f"certainty of this evidence is {a.certainty}" + (f": {reasons}" if reasons else "")
    )


def _tested_summary(a: Assessment) -> str:
    by = {
        st: [s for s in a.studies if s.stance == st] for st in ("supports", "contradicts", "mixed")
    }
    order = {
        "supports": ("supports", "contradicts", "mixed"),
        "contradicts": ("contradicts", "supports", "mixed"),
    }.get(a.direction, ("supports", "contradicts", "mixed"))
    clauses = [
        _side(by[st], st, st != "mixed" or not (by["supports"] or by["contradicts"]))
        for st in order
        if by[st]
    ]
    text = "; ".join(clauses)
    if a.direction == "mixed" and by["supports"] and by["contradicts"]:
        text = "the studies disagree: " + text
    return _sentence(text)


def assessment_plain(a: Assessment, *, question: str = "", gap: str = "") -> tuple[str, ...]:
    """One or two sentences: what is (not) known, then the evidence or how sure it is."""
    lead = ""
    if gap and not a.confirmed:
        lead = _sentence(gap)
    elif a.studies and not a.tested:
        lead = _sentence(f"no study has tested {question.strip() or 'this claim directly'}")
    if not a.studies:
        return (lead or "No curator-confirmed study supports or contradicts this yet.",)
    if not a.tested:
        verb = _EVIDENCE_VERB.get(a.direction, "is mixed")
        body = f"The closest evidence — {_closest(a.studies)} — {verb}."
    elif len(a.studies) == 1:
        s = a.studies[0]
        verb = _STANCE_VERB[s.stance][0]
        body = f"It rests on a single study, {study_phrase(s)}, which {verb}"
        body = _sentence(body + (f"; the curator's reading: “{s.reading}”" if s.reading else ""))
    else:
        body = _tested_summary(a)
    lines = [x for x in (lead, body) if x]
    if len(lines) < 2:
        lines.append(certainty_sentence(a))
    return tuple(lines)


def _grade_phrase(grade: str, certainty: str) -> str:
    if grade == "No evidence found":
        return "has no curator-confirmed evidence"
    return f"is {grade} ({certainty} certainty)"


def _others(parts: Sequence[PartVerdict], weakest: PartVerdict) -> str:
    rest = [p for p in parts if p is not weakest]
    said = [(f"“{p.statement.rstrip('.')}”", _grade_phrase(p.grade, p.certainty)) for p in rest]
    if len(said) == 1:
        return _sentence(f"the other part, {said[0][0]}, {said[0][1]}")
    return _sentence("the other parts: " + "; ".join(f"{q} {g}" for q, g in said))


def levels_legend(rubric: Rubric) -> str:
    """What a level means, from the rubric (shown once beside the deciding studies)."""
    by_level: dict[int, list[str]] = {}
    for design, level in rubric.levels.items():
        by_level.setdefault(level, []).append(noun(design, 2))
    parts = [f"{lv} {_join(by_level[lv])}" for lv in sorted(by_level)]
    return (
        f"Evidence levels run from 1 (strongest) to {rubric.max_level}: "
        + "; ".join(parts)
        + ". A study that is indirect for the claim counts one level lower and half as much."
    )


def deciding_line(s: DecidingStudy, rubric: Rubric) -> str:
    facts = [f"{noun(s.design)} (level {s.level} of {rubric.max_level})"]
    if s.sample_size:
        facts.append(f"{s.sample_size:,} participants")
    if s.year:
        facts.append(str(s.year))
    facts.append(
        "direct"
        if s.direct
        else "indirect" + (f": {s.indirect_because}" if s.indirect_because else "")
    )
    facts.append(s.stance)
    if s.stance_origin != "curator":
        facts.append(f"stance by {s.stance_origin}")
    return f"PMID {s.pmid}: " + ", ".join(facts) + "."


def verdict_lines(
    main: Assessment,
    parts: Sequence[PartVerdict],
    rubric: Rubric,
    *,
    question: str,
    counts: Mapping[str, int],
    suggested: Mapping[str, int],
    suggested_contra: Sequence[str],
    excluded: Sequence[str],
    cites_retracted: Sequence[str],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(plain lines, details) for a whole claim; ``main`` is its (weakest part's) assessment."""
    weakest = next((p for p in parts if p.assessment is main), None)
    if weakest is not None:
        plain: tuple[str, ...] = (*weakest.plain, _others(parts, weakest))
    else:
        plain = assessment_plain(main, question=question)
    details: list[str] = []
    reasons = _join(main.certainty_reasons)
    details.append(
        f"Direction: {main.direction}; certainty of the evidence: {main.certainty}"
        + (f" ({reasons})." if reasons else ".")
    )
    for p in parts:
        details.append(
            f"Part {p.part_id} — {p.statement.rstrip('.')}: {p.grade}, direction {p.direction}, "
            f"{p.certainty} certainty. " + " ".join(p.plain)
        )
    if main.deciding:
        which = f" of part {weakest.part_id}" if weakest is not None else ""
        details.append(f"Deciding studies{which}:")
        details.extend(deciding_line(s, rubric) for s in main.deciding)
    if len(main.studies) == 1:
        details.append("Thin evidence: the verdict rests on a single study.")
    elif main.studies and all(not s.direct for s in main.studies):
        details.append("Thin evidence: every counted study is indirect for this claim.")
    if counts.get("background"):
        n = counts["background"]
        verbs = "gives context but does not" if n == 1 else "give context but do not"
        details.append(f"{_cap(studies(n, 'background study'))} {verbs} count.")
    n_sugg = sum(suggested.values())
    if n_sugg:
        ways = _join(
            [
                f"{number(n)} suggesting {_SUGGESTED.get(st, st)}"
                for st, n in sorted(suggested.items())
            ]
        )
        details.append(
            f"{_cap(studies(n_sugg, 'machine-suggested study'))} await review ({ways}); "
            "they do not count until a curator confirms them."
        )
    if suggested_contra:
        details.append(
            "Needs review: the machine suggests that PMID "
            + ", ".join(suggested_contra)
            + " contradicts this claim."
        )
    if counts.get("unassessed"):
        n = counts["unassessed"]
        verb = "is" if n == 1 else "are"
        details.append(
            f"{_cap(studies(n, 'relevant study'))} found by search {verb} not yet assessed."
        )
    if excluded:
        details.append(f"Retracted, not counted: PMID {', '.join(excluded)}.")
    if cites_retracted:
        details.append(f"Warning: the claim relies on retracted PMID {', '.join(cites_retracted)}.")
    return tuple(plain), tuple(details)
