"""The clinic's post with its references, and the claims an editor must fix before publishing.

A numbered citation follows each sentence whose claim is Supported or Well supported; it cites
that claim's deciding studies that support it (curator-confirmed, never retracted), numbered in
order of first citation as AMA and Vancouver both number references. Every other claim the post
makes is listed for rewording or review with the reason: a grade that does not back the sentence
as written (Contested, Contradicted, Limited, No evidence found), a machine-suggested
contradiction awaiting a curator, a retracted supporting study, or a quote no longer in the post.

Claims belong to a post by ``content_file``; a post no claim names (a draft given by path) is
matched against every claim's quote, so a draft reusing the clinic's sentences is cited too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd
import yaml
from markdown_it import MarkdownIt

from .cells import as_text
from .citations import cite, markdown_escape, stored_records, style_id
from .content import Post, find_quote
from .printable import esc, evidence_as_of, html_page
from .reference import Reference
from .verdict import Verdict

CITABLE = ("Supported", "Well supported")
ADVICE = {
    "Contradicted": "the evidence points against it: remove it or rewrite it",
    "Contested": "the studies disagree: reword it to say so, or remove it",
    "Limited": "the evidence is thin: soften the wording",
    "No evidence found": "no curator-confirmed study bears on it: remove it or find a source",
}
_MARK = re.compile("\ue000(\\d+)\ue001")  # a citation's place in the text while rendering HTML
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Citation:
    """Reference numbers shown at one place in the post's text (``at`` is a raw offset)."""

    at: int
    numbers: tuple[int, ...]
    claim_ids: tuple[str, ...]


@dataclass(frozen=True)
class ReviewItem:
    """A claim to reword or review, and why."""

    claim_id: str
    grade: str
    direction: str
    certainty: str
    quote: str
    reasons: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class CitedPost:
    post: Post
    title: str
    style: str  # "ama" or "vancouver"
    citations: tuple[Citation, ...]
    references: tuple[Reference, ...]  # reference n is references[n - 1]
    review: tuple[ReviewItem, ...]
    as_of: str


def post_title(post: Post) -> str:
    """The front matter's ``title``, else the first "# " heading, else the file name."""
    front = post.text[: post.body_start]
    if front:
        try:
            meta = yaml.safe_load(front.strip().strip("-"))
        except yaml.YAMLError:
            meta = None
        if isinstance(meta, dict) and as_text(meta.get("title")).strip():
            return as_text(meta["title"]).strip()
    heading = _HEADING.search(post.text, post.body_start)
    return heading.group(1) if heading else post.name


def supporting_pmids(v: Verdict) -> list[str]:
    """The deciding studies (of the claim and its parts) that support it, strongest first."""
    out: list[str] = []
    for d in [*v.deciding, *(d for p in v.parts for d in p.deciding)]:
        if d.stance == "supports" and not d.retracted and d.pmid not in out:
            out.append(d.pmid)
    return out


def review_reasons(v: Verdict | None, found: bool) -> list[str]:
    """Why a claim needs rewording or review; empty when its sentence can be cited as it is."""
    reasons = []
    if v is None:
        reasons.append("no verdict: the claim is not in the store yet")
    else:
        if v.grade in ADVICE:
            reasons.append(ADVICE[v.grade])
        if v.needs_review:
            reasons.append("a machine-suggested contradiction awaits a curator's review")
        if v.cites_retracted:
            reasons.append(
                f"a study cited for it was retracted (PMID {', '.join(v.cites_retracted)})"
            )
    if not found:
        reasons.append("its sentence was not found in this post: update the quote in claims.yaml")
    return reasons


def cite_post(
    tables: Mapping[str, pd.DataFrame],
    verdicts: Mapping[str, Verdict],
    post: Post,
    style: str = "AMA",
) -> CitedPost:
    """The post's citations, numbered references and review list (pure: nothing is read twice)."""
    sid = style_id(style)
    claims = tables["claims"]
    mine = claims[claims["content_file"].eq(post.name)]
    draft = mine.empty
    found = []
    for c in (claims if draft else mine).to_dict("records"):
        span = find_quote(post.text, as_text(c.get("quote")))
        if span is None and draft:
            continue
        found.append((span, c))
    found.sort(key=lambda t: (t[0] is None, t[0] or (0, 0), as_text(t[1]["claim_id"])))
    wanted = {
        p
        for span, c in found
        if span is not None
        for v in [verdicts.get(as_text(c["claim_id"]))]
        if v is not None and v.grade in CITABLE
        for p in supporting_pmids(v)
    }
    records = stored_records(tables, sorted(wanted))
    stored = {r.pmid: r for r in (Reference.from_row(x) for x in records.to_dict("records"))}
    numbers: dict[str, int] = {}
    at: dict[int, tuple[list[int], list[str]]] = {}
    review = []
    for span, c in found:
        cid = as_text(c["claim_id"])
        v = verdicts.get(cid)
        reasons = review_reasons(v, span is not None)
        if v is not None and span is not None and v.grade in CITABLE:
            cited = [p for p in supporting_pmids(v) if p in stored]
            for p in cited:
                numbers.setdefault(p, len(numbers) + 1)
            if cited:
                nums, ids = at.setdefault(_marker_place(post.text, span[1], sid), ([], []))
                nums += [numbers[p] for p in cited if numbers[p] not in nums]
                ids.append(cid)
        if reasons:
            review.append(
                ReviewItem(
                    claim_id=cid,
                    grade=v.grade if v else "",
                    direction=v.direction if v else "",
                    certainty=v.certainty if v else "",
                    quote=as_text(c.get("quote")),
                    reasons=tuple(reasons),
                    why=" ".join(v.plain) if v else "",
                )
            )
    return CitedPost(
        post=post,
        title=post_title(post),
        style=sid,
        citations=tuple(
            Citation(pos, tuple(sorted(n)), tuple(ids)) for pos, (n, ids) in sorted(at.items())
        ),
        references=tuple(stored[p] for p in numbers),
        review=tuple(review),
        as_of=evidence_as_of(tables),
    )


def _marker_place(text: str, end: int, style: str) -> int:
    """AMA puts the superscript after the sentence's period; Vancouver the bracket before it."""
    if style == "vancouver" and end > 0 and text[end - 1] in ".!?":
        return end - 1
    return end


def number_ranges(numbers: tuple[int, ...]) -> list[tuple[int, int]]:
    """(1, 2, 3, 5) -> [(1, 3), (5, 5)]: three or more in a row are written as a range."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    out: list[tuple[int, int]] = []
    for run in runs:
        if len(run) >= 3:
            out.append((run[0], run[-1]))
        else:
            out += [(n, n) for n in run]
    return out


def _marker(numbers: tuple[int, ...], style: str, link: bool) -> str:
    parts = []
    for a, b in number_ranges(numbers):
        if link:
            first = f'<a href="#ref-{a}">{a}</a>'
            parts.append(first if a == b else f'{first}-<a href="#ref-{b}">{b}</a>')
        else:
            parts.append(str(a) if a == b else f"{a}-{b}")
    joined = ",".join(parts)
    if style == "ama":
        return f'<sup class="cite">{joined}</sup>' if link else f"<sup>{joined}</sup>"
    return f' <span class="cite">[{joined}]</span>' if link else f" [{joined}]"


def _body_with(cp: CitedPost, mark: Callable[[int, Citation], str]) -> str:
    """The post's body (front matter dropped) with ``mark(i, citation)`` at each citation."""
    text = cp.post.text.replace("\ue000", "").replace("\ue001", "")
    start = cp.post.body_start
    out, pos = [], start
    for i, c in enumerate(cp.citations):
        if c.at < start:
            continue
        out += [text[pos : c.at], mark(i, c)]
        pos = c.at
    out.append(text[pos:])
    return "".join(out)


def _is_markdown(post: Post) -> bool:
    return post.path.suffix.lower() in (".md", ".markdown")


# --- Markdown ----------------------------------------------------------------------------------


def to_markdown(cp: CitedPost) -> str:
    body = _body_with(cp, lambda _i, c: _marker(c.numbers, cp.style, link=False))
    lines = [body.rstrip(), "", "## References", ""]
    if not cp.references:
        lines += ["No claim in this post is supported well enough to cite.", ""]
    for n, ref in enumerate(cp.references, 1):
        lines.append(f"{n}. {cite(ref, cp.style, 'markdown')}")
    lines += ["", "---", "", "## Before publishing: claims to reword or review", ""]
    lines += _review_markdown(cp)
    lines += ["", _footer(cp)]
    return "\n".join(lines) + "\n"


def _review_markdown(cp: CitedPost) -> list[str]:
    if not cp.review:
        return ["None: every claim in this post is cited as supported."]
    md = markdown_escape
    lines = []
    for r in cp.review:
        head = f"**{r.claim_id}**"
        if r.grade:
            head += f" ({r.grade}; direction {r.direction}; {r.certainty} certainty)"
        lines.append(f"- {head}: {md('; '.join(r.reasons))}.")
        lines.append(f"  - Sentence: “{md(r.quote)}”")
        if r.why:
            lines.append(f"  - Why: {md(r.why)}")
    return lines


def _footer(cp: CitedPost) -> str:
    style = "AMA" if cp.style == "ama" else "Vancouver (NLM)"
    as_of = f" Evidence as of store {cp.as_of}." if cp.as_of else ""
    return f"References in {style} style, numbered in order of citation.{as_of}"


# --- HTML --------------------------------------------------------------------------------------


def to_html(cp: CitedPost) -> str:
    marks = {i: _marker(c.numbers, cp.style, link=True) for i, c in enumerate(cp.citations)}
    body = _body_with(cp, lambda i, _c: f"\ue000{i}\ue001")
    if _is_markdown(cp.post):
        # html=False: raw HTML in the post is shown as text; links are checked by markdown-it.
        rendered = MarkdownIt("commonmark", {"html": False}).render(body)
    else:
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
        rendered = "\n".join(f"<p>{esc(p)}</p>" for p in paragraphs)
    rendered = _MARK.sub(lambda m: marks[int(m.group(1))], rendered)
    out = [f"<article>\n{rendered}</article>", "<h2>References</h2>"]
    if cp.references:
        out.append('<ol class="references">')
        out += [
            f'<li id="ref-{n}">{cite(ref, cp.style, "html")}</li>'
            for n, ref in enumerate(cp.references, 1)
        ]
        out.append("</ol>")
    else:
        out.append("<p>No claim in this post is supported well enough to cite.</p>")
    out.append('<section class="editor-notes">')
    out.append("<h2>Before publishing: claims to reword or review</h2>")
    if not cp.review:
        out.append("<p>None: every claim in this post is cited as supported.</p>")
    else:
        out.append("<ul>")
        for r in cp.review:
            head = f"<strong>{esc(r.claim_id)}</strong>"
            if r.grade:
                head += (
                    f" ({esc(r.grade)}; direction {esc(r.direction)}; {esc(r.certainty)} certainty)"
                )
            why = f"<br>Why: {esc(r.why)}" if r.why else ""
            out.append(
                f"<li>{head}: {esc('; '.join(r.reasons))}.<br>Sentence: “{esc(r.quote)}”{why}</li>"
            )
        out.append("</ul>")
    out.append("</section>")
    out.append(f"<footer><p>{esc(_footer(cp))}</p></footer>")
    return html_page(cp.title, "\n".join(out))


def render_post(cp: CitedPost, fmt: str = "md") -> str:
    """The post with references as "md" (Markdown) or "html" (a print-ready page)."""
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown format {fmt!r}; choose md or html")
    return to_markdown(cp) if fmt == "md" else to_html(cp)


def review_table(cp: CitedPost) -> pd.DataFrame:
    """The claims to reword or review as a table (claim, verdict, what to do, sentence)."""
    rows = [
        {
            "claim": r.claim_id,
            "verdict": r.grade,
            "what to do": "; ".join(r.reasons),
            "sentence": r.quote,
        }
        for r in cp.review
    ]
    return pd.DataFrame(rows, columns=["claim", "verdict", "what to do", "sentence"])
