"""The evidence brief: one claim's verdict and the studies that decide it, ready to print or send.

A clinician or editor hands this to someone who will not open the dashboard, so it carries the
whole answer: the claim and the sentence of the post it comes from, verdict, direction and
certainty, the plain-language why, each part of a compound claim, and every deciding study with
its full citation and the curator's reading. Everything is read from the snapshot and the
verdicts (`evidence.views.current_verdicts`); nothing is written here that the store does not say.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from . import why
from .cells import as_text
from .citations import Markup, cite, markdown_escape, stored_records, style_id
from .printable import esc, evidence_as_of, html_page
from .reference import Reference
from .verdict import DecidingStudy, Verdict

DISCLAIMER = (
    "A summary of published studies as judged by the clinic's curators, not medical advice."
)


class UnknownClaim(KeyError):
    """A claim id the store has no verdict for."""


@dataclass(frozen=True)
class BriefStudy:
    """A deciding study: its number in the brief, what it weighs, and its citation."""

    number: int
    study: DecidingStudy
    reference: Reference | None  # None when the store has no record for the PMID
    parts: tuple[str, ...]  # the parts it decides ("" when it decides the whole claim)


@dataclass(frozen=True)
class EvidenceBrief:
    claim_id: str
    statement: str
    quote: str
    post: str
    verdict: Verdict
    studies: tuple[BriefStudy, ...]
    style: str  # "ama" or "vancouver"
    as_of: str

    def numbers(self, pmids: list[str]) -> list[int]:
        by_pmid = {s.study.pmid: s.number for s in self.studies}
        return [by_pmid[p] for p in pmids if p in by_pmid]


def build_brief(
    tables: Mapping[str, pd.DataFrame],
    verdicts: Mapping[str, Verdict],
    claim_id: str,
    style: str = "AMA",
) -> EvidenceBrief:
    """The brief of one claim; `UnknownClaim` when the store has no such claim."""
    if claim_id not in verdicts:
        raise UnknownClaim(claim_id)
    verdict = verdicts[claim_id]
    claims = tables["claims"]
    row = claims[claims["claim_id"].eq(claim_id)]
    claim = row.iloc[0].to_dict() if not row.empty else {}
    deciding: dict[str, tuple[DecidingStudy, list[str]]] = {}
    for d in verdict.deciding:
        deciding.setdefault(d.pmid, (d, []))
    for part in verdict.parts:
        for d in part.deciding:
            deciding.setdefault(d.pmid, (d, []))[1].append(part.part_id)
    records = stored_records(tables, list(deciding))
    refs = {r.pmid: r for r in (Reference.from_row(x) for x in records.to_dict("records"))}
    studies = tuple(
        BriefStudy(i, study, refs.get(pmid), tuple(parts))
        for i, (pmid, (study, parts)) in enumerate(deciding.items(), 1)
    )
    return EvidenceBrief(
        claim_id=claim_id,
        statement=as_text(claim.get("statement")),
        quote=as_text(claim.get("quote")),
        post=as_text(claim.get("content_file")),
        verdict=verdict,
        studies=studies,
        style=style_id(style),
        as_of=evidence_as_of(tables),
    )


# --- words shared by both renderings -----------------------------------------------------------


def study_facts(d: DecidingStudy) -> str:
    """ "Randomized controlled trial, 324 participants, 2013; direct; supports the claim." """
    what = [why.noun(d.design).capitalize()]
    if d.sample_size is not None:
        what.append(f"{d.sample_size:,} participants")
    if d.year is not None:
        what.append(str(d.year))
    directness = "direct" if d.direct else f"indirect ({d.indirect_because or 'by design'})"
    stance = {
        "supports": "supports the claim",
        "contradicts": "points against the claim",
        "mixed": "mixed results",
    }.get(d.stance, d.stance)
    origin = "" if d.stance_origin == "curator" else f" ({d.stance_origin})"
    return f"{', '.join(what)}; {directness}; {stance}{origin}."


def counts_line(v: Verdict) -> str:
    c = v.counts
    line = (
        f"{c.get('supports', 0)} supporting, {c.get('contradicts', 0)} contradicting, "
        f"{c.get('mixed', 0)} mixed and {c.get('background', 0)} background studies "
        "confirmed by a curator"
    )
    unassessed = c.get("unassessed", 0)
    return line + (f"; {unassessed} more await a curator." if unassessed else ".")


def certainty_text(v: Verdict) -> str:
    """ "moderate (the studies point different ways)"."""
    reasons = "; ".join(v.certainty_reasons)
    return f"{v.certainty} ({reasons})" if reasons else v.certainty


def flags(v: Verdict) -> list[str]:
    out = []
    if v.needs_review:
        out.append("Needs review: a machine-suggested contradiction awaits a curator.")
    if v.cites_retracted:
        out.append(
            "A supporting study was retracted (PMID "
            f"{', '.join(v.cites_retracted)}); it no longer counts."
        )
    return out


def _citation(s: BriefStudy, style: str, markup: Markup) -> str:
    if s.reference is None:
        text = f"PMID {s.study.pmid} (not in the store)."
        return markdown_escape(text) if markup == "markdown" else esc(text)
    return cite(s.reference, style, markup)


def _numbers(brief: EvidenceBrief, pmids: list[str]) -> str:
    return ", ".join(str(n) for n in brief.numbers(pmids))


# --- Markdown ----------------------------------------------------------------------------------


def to_markdown(brief: EvidenceBrief) -> str:
    v = brief.verdict
    md = markdown_escape
    lines = [f"# Evidence brief {brief.claim_id}: {md(brief.statement)}", ""]
    if brief.quote:
        where = f" ({md(brief.post)})" if brief.post else ""
        lines += [f"In the post{where}:", "", f"> {md(brief.quote)}", ""]
    certainty = certainty_text(v)
    lines += [
        f"- **Verdict:** {v.grade}",
        f"- **Direction of the evidence:** {v.direction}",
        f"- **Certainty of the evidence:** {md(certainty)}",
        f"- **Studies:** {counts_line(v)}",
        "",
    ]
    lines += [f"> **{md(f)}**" for f in flags(v)] + ([""] if flags(v) else [])
    lines += ["## Why", ""]
    for line in v.plain or ("No plain-language summary.",):
        lines += [md(line), ""]
    if v.parts:
        lines += ["## Parts of the claim", ""]
        for p in v.parts:
            lines += [
                f"### {p.part_id}: {md(p.statement)}",
                "",
                f"{p.grade}; direction {p.direction}; {p.certainty} certainty.",
                "",
            ]
            for line in p.plain:
                lines += [md(line), ""]
            numbers = _numbers(brief, [d.pmid for d in p.deciding])
            lines += [f"Deciding studies: {numbers}." if numbers else "No deciding study.", ""]
    lines += ["## Deciding studies", ""]
    if not brief.studies:
        lines += ["No curator-confirmed study decides this claim yet.", ""]
    for s in brief.studies:
        lines.append(f"{s.number}. {_citation(s, brief.style, 'markdown')}")
        facts = study_facts(s.study)
        if s.parts:
            facts += f" Decides part {', '.join(s.parts)}."
        lines.append(f"   - {md(facts)}")
        if s.study.reading:
            lines.append(f"   - Curator's reading: {md(s.study.reading)}")
    lines += ["", "---", "", _footer(brief)]
    return "\n".join(lines) + "\n"


def _footer(brief: EvidenceBrief) -> str:
    style = "AMA" if brief.style == "ama" else "Vancouver (NLM)"
    as_of = f"Evidence as of store {brief.as_of}. " if brief.as_of else ""
    return f"{as_of}References in {style} style. {DISCLAIMER}"


# --- HTML --------------------------------------------------------------------------------------


def to_html(brief: EvidenceBrief) -> str:
    v = brief.verdict
    title = f"Evidence brief {brief.claim_id}"
    out = [f"<h1>{esc(title)}: {esc(brief.statement)}</h1>"]
    if brief.quote:
        where = f" ({esc(brief.post)})" if brief.post else ""
        out.append(f"<p>In the post{where}:</p>\n<blockquote>{esc(brief.quote)}</blockquote>")
    certainty = certainty_text(v)
    out.append(
        '<dl class="verdict">'
        f"<dt>Verdict</dt><dd>{esc(v.grade)}</dd>"
        f"<dt>Direction of the evidence</dt><dd>{esc(v.direction)}</dd>"
        f"<dt>Certainty of the evidence</dt><dd>{esc(certainty)}</dd>"
        f"<dt>Studies</dt><dd>{esc(counts_line(v))}</dd></dl>"
    )
    out += [f'<p class="flag"><strong>{esc(f)}</strong></p>' for f in flags(v)]
    out.append("<h2>Why</h2>")
    out += [f"<p>{esc(p)}</p>" for p in v.plain]
    if v.parts:
        out.append("<h2>Parts of the claim</h2>")
        for p in v.parts:
            out.append(f"<h3>{esc(p.part_id)}: {esc(p.statement)}</h3>")
            out.append(
                f"<p>{esc(p.grade)}; direction {esc(p.direction)}; {esc(p.certainty)} "
                "certainty.</p>"
            )
            out += [f"<p>{esc(x)}</p>" for x in p.plain]
            links = ", ".join(
                f'<a href="#study-{n}">{n}</a>' for n in brief.numbers([d.pmid for d in p.deciding])
            )
            out.append(
                f"<p>Deciding studies: {links}.</p>" if links else "<p>No deciding study.</p>"
            )
    out.append("<h2>Deciding studies</h2>")
    if not brief.studies:
        out.append("<p>No curator-confirmed study decides this claim yet.</p>")
    else:
        out.append('<ol class="studies">')
        for s in brief.studies:
            facts = study_facts(s.study)
            if s.parts:
                facts += f" Decides part {', '.join(s.parts)}."
            reading = f"<br>Curator's reading: {esc(s.study.reading)}" if s.study.reading else ""
            out.append(
                f'<li id="study-{s.number}">{_citation(s, brief.style, "html")}'
                f'<br><span class="study-facts">{esc(facts)}{reading}</span></li>'
            )
        out.append("</ol>")
    out.append(f"<footer><p>{esc(_footer(brief))}</p></footer>")
    return html_page(f"{title}: {brief.statement}", "\n".join(out))


def render_brief(brief: EvidenceBrief, fmt: str = "md") -> str:
    """The brief as "md" (Markdown) or "html" (a print-ready page)."""
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown brief format {fmt!r}; choose md or html")
    return to_markdown(brief) if fmt == "md" else to_html(brief)
