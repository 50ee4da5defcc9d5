"""The claim page's presentation: which claim a link asks for, the evidence table a reader sees,
the evidence pyramid, links to PubMed and to the claim itself (a permalink to share).

Pure functions over `evidence.views.claim_detail`'s frames; the Streamlit page lays them out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from .labels import ORIGINS, count
from .verdict import DecidingStudy
from .views import PUBMED_URL, STANCE_ORDER

CLAIM_ID = re.compile(r"^[A-Z]+[0-9]+$")
# The evidence table's columns, links first so they are on screen without scrolling sideways.
EVIDENCE_TABLE_COLUMNS = [
    "pubmed_url",
    "doi_url",
    "title",
    "year",
    "design",
    "level",
    "n",
    "stance",
    "stance_origin",
    "direct",
    "deciding",
    "retracted",
    "indirect_because",
]
# Shows a PubMed link as its PMID (Streamlit's LinkColumn display_text takes a regex group).
PMID_FROM_URL = r"https://pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/"


@dataclass(frozen=True)
class ClaimChoice:
    """The claim a page shows, and the error to show instead when the link named none."""

    claim_id: str | None
    error: str = ""


def choose_claim(
    asked: str | None, remembered: str | None, claim_ids: Sequence[str]
) -> ClaimChoice:
    """The claim of ``?claim=``; else the one last opened; else the first.

    A link naming a claim the store lacks is an error naming it, never silently another claim.
    """
    if asked:
        if asked in claim_ids:
            return ClaimChoice(asked)
        shown = asked if len(asked) <= 40 else asked[:40] + "…"
        return ClaimChoice(None, f"No claim {shown}: the store has no claim with that id.")
    if remembered in claim_ids:
        return ClaimChoice(remembered)
    return ClaimChoice(claim_ids[0] if claim_ids else None)


def evidence_table(evidence: pd.DataFrame) -> pd.DataFrame:
    """`claim_detail`'s evidence as the table a reader sees: links first, who judged the stance
    in words, a reason only where a study is indirect."""
    out = evidence[EVIDENCE_TABLE_COLUMNS].copy()
    out["stance_origin"] = out["stance_origin"].map(lambda o: ORIGINS.get(o, o))
    return out


def studies_linked(evidence: pd.DataFrame) -> str:
    return f"{count(len(evidence), 'study', 'studies')} linked"


def evidence_pyramid(evidence: pd.DataFrame) -> pd.DataFrame:
    """Studies per evidence level (1 = strongest) and stance, irrelevant links left out; one
    row per (level, stance) present, with the level's label for the chart's axis."""
    shown = evidence[~evidence["stance"].eq("irrelevant") & evidence["level"].notna()]
    if shown.empty:
        return pd.DataFrame({"level": [], "level_label": [], "stance": [], "studies": []})
    counts = shown.groupby(["level", "stance"]).size().rename("studies").reset_index()
    counts["level"] = counts["level"].astype(int)
    counts["level_label"] = "Level " + counts["level"].astype(str)
    counts["_s"] = counts["stance"].map(STANCE_ORDER)
    counts = counts.sort_values(["level", "_s"]).drop(columns="_s").reset_index(drop=True)
    return counts[["level", "level_label", "stance", "studies"]]


def pubmed_link(pmid: str) -> str:
    """A Markdown link to a study on PubMed ("[PMID 123](https://pubmed...)")."""
    return f"[PMID {pmid}]({PUBMED_URL.format(pmid)})" if pmid.isdigit() else f"PMID {pmid}"


_PMID_MENTION = re.compile(r"\bPMID (\d{1,8})\b")


def link_pmids(markdown: str) -> str:
    """Markdown text with every "PMID 123" made a link to that study on PubMed."""
    return _PMID_MENTION.sub(lambda m: pubmed_link(m.group(1)), markdown)


def deciding_links(studies: Sequence[DecidingStudy]) -> str:
    """The deciding studies as Markdown links to PubMed with their stance."""
    return ", ".join(f"{pubmed_link(s.pmid)} ({s.stance})" for s in studies)


def claim_path(claim_id: str) -> str:
    """The claim page's link relative to the app ("./claim?claim=C03"); "#" for a bad id."""
    return f"./claim?claim={claim_id}" if CLAIM_ID.match(claim_id) else "#"


def permalink(page_url: str, claim_id: str) -> str:
    """The absolute address of a claim's page, from the address the reader has open."""
    if not CLAIM_ID.match(claim_id):
        return ""
    parts = urlsplit(page_url or "")
    base = parts.path.rsplit("/", 1)[0] if parts.path else ""
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/claim", f"claim={claim_id}", ""))
