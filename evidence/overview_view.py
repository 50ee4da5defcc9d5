"""The claims overview: every claim's verdict and counts, and the first screen that answers
"which claims are weak, and which need attention?" without reading a number.

Pure functions over a store snapshot and the live verdicts (`evidence.views.current_verdicts`);
the Streamlit page only lays them out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from .cells import as_list
from .certainty import sort_key
from .labels import count, direction
from .levels import load_rubric
from .verdict import COUNTED, GRADE_STRENGTH, Verdict, linked_facts

# A claim's standing on the first screen, most urgent first.
ATTENTION = "Needs attention"
WEAK = "Weak"
SUPPORTED = "Supported"
STANDINGS = (ATTENTION, WEAK, SUPPORTED)
STANDING_COLOURS = {ATTENTION: "#b42318", WEAK: "#9a6700", SUPPORTED: "#1a7f37"}
STANDING_HELP = {
    ATTENTION: "something changed that a curator should look at: a retracted study, a "
    "machine-suggested contradiction, or new evidence not yet reviewed",
    WEAK: "Limited, Contested, Contradicted or No evidence found",
    SUPPORTED: "Supported or Well supported by curator-confirmed direct evidence",
}
SUPPORTED_GRADES = ("Well supported", "Supported")
FIRST_SCREEN_COLUMNS = ["claim_id", "statement", "verdict", "certainty", "standing", "attention"]


def _last_review(tables: Mapping[str, pd.DataFrame]) -> pd.Series:
    """claim_id -> time of the latest curator judgement or audited action on it."""
    links, audit = tables["links"], tables["audit"]
    curator = links[links["stance_origin"].eq("curator")]
    parts = [curator[["claim_id", "updated_at"]].rename(columns={"updated_at": "at"})]
    if len(audit):
        parts.append(audit[["claim_id", "at"]])
    both = (
        pd.concat([p for p in parts if len(p)], ignore_index=True) if any(map(len, parts)) else None
    )
    if both is None:
        return pd.Series(dtype="datetime64[us, UTC]")
    return both.dropna(subset=["claim_id"]).groupby("claim_id")["at"].max()


def overview_table(
    tables: Mapping[str, pd.DataFrame], verdicts: Mapping[str, Verdict]
) -> pd.DataFrame:
    """One row per claim: verdict, direction, certainty, score, counts, newest evidence, flags.

    Sorted by certainty, then by direct randomized or pooled evidence, then direction (see
    `certainty.sort_key`), so a claim that no study tests directly never ranks above one with a
    direct trial; then by grade and score, then the claims file's order.
    """
    claims, links, runs = tables["claims"], tables["links"], tables["runs"]
    records = linked_facts(tables, set(links["pmid"]))[["pmid", "pub_year"]]
    years = records.set_index("pmid")["pub_year"] if len(records) else pd.Series(dtype="Int32")
    run_start = runs.set_index("run_id")["started_at"]
    reviewed = _last_review(tables)
    live = links[~links["stance"].eq("irrelevant")]
    live = live.assign(
        year=live["pmid"].map(years),
        linked_at=pd.to_datetime(live["first_linked_run"].map(run_start), utc=True),
    )
    by_claim = dict(tuple(live.groupby("claim_id"))) if len(live) else {}
    rows = []
    for claim in claims.itertuples(index=False):
        v = verdicts.get(claim.claim_id)
        group = by_claim.get(claim.claim_id, live.iloc[0:0])
        counted = group[group["stance"].isin(COUNTED)]
        newest = counted["year"].dropna()
        last = reviewed.get(claim.claim_id)
        unreviewed = group[~group["stance_origin"].eq("curator")]
        if last is None or pd.isna(last):
            new_since = len(unreviewed)
        else:
            new_since = int((unreviewed["linked_at"] > last).sum())
        levels = [s.level for s in v.deciding] if v else []
        rows.append(
            {
                "claim_id": claim.claim_id,
                "statement": claim.statement,
                "topics": ", ".join(as_list(claim.topics)),
                "content_file": claim.content_file,
                "verdict": v.grade if v else "No evidence found",
                "direction": v.direction if v else "none",
                "certainty": v.certainty if v else "very low",
                "direct_evidence": (v.best_direct_design if v else None) or "none",
                "needs_review": bool(v and v.needs_review),
                "parts": len(v.parts) if v else 0,
                "score": v.score if v else 0,
                "supporting": v.counts["supports"] if v else 0,
                "contradicting": v.counts["contradicts"] if v else 0,
                "mixed": v.counts["mixed"] if v else 0,
                "best_level": min(levels) if levels else pd.NA,
                "newest_evidence": int(newest.max()) if len(newest) else pd.NA,
                "cites_retracted": bool(v and v.cites_retracted),
                "new_since_review": int(new_since),
                "not_assessed": v.n_unassessed if v else 0,
                "awaiting_review": int(group["stance_origin"].eq("suggested").sum()),
            }
        )
    out = pd.DataFrame(rows, columns=OVERVIEW_COLUMNS)
    out["best_level"] = out["best_level"].astype("Int64")
    out["newest_evidence"] = out["newest_evidence"].astype("Int64")
    out["flags"] = [_flags(r) for r in out.itertuples(index=False)]
    rubric = load_rubric()
    keys = [
        sort_key(
            r.certainty,
            None if r.direct_evidence == "none" else r.direct_evidence,
            r.direction,
            rubric,
        )
        for r in out.itertuples(index=False)
    ]
    strength = [-GRADE_STRENGTH[g] for g in out["verdict"]]
    score = [-int(x) for x in out["score"]]
    order = sorted(range(len(out)), key=lambda i: (keys[i], strength[i], score[i], i))
    return out.iloc[order].reset_index(drop=True)


OVERVIEW_COLUMNS = [
    "claim_id",
    "statement",
    "topics",
    "content_file",
    "verdict",
    "direction",
    "certainty",
    "direct_evidence",
    "needs_review",
    "parts",
    "score",
    "supporting",
    "contradicting",
    "mixed",
    "best_level",
    "newest_evidence",
    "cites_retracted",
    "new_since_review",
    "not_assessed",
    "awaiting_review",
]


def _flags(row: Any) -> str:
    flags = []
    if row.needs_review:
        flags.append("needs review: a suggested study contradicts it")
    if row.cites_retracted:
        flags.append("cites a retracted study")
    if row.new_since_review:
        flags.append(f"{row.new_since_review} new since last review")
    if row.not_assessed:
        flags.append(f"{row.not_assessed} relevant not yet assessed")
    if row.awaiting_review:
        flags.append(f"{row.awaiting_review} suggested studies awaiting review (not counted)")
    return "; ".join(flags)


EXPORT_COLUMNS = [
    "claim_id",
    "statement",
    "verdict",
    "direction",
    "certainty",
    "direct_evidence",
    "needs_review",
    "score",
    "supporting",
    "contradicting",
    "mixed",
    "flags",
]


def overview_export(table: pd.DataFrame, verdicts: Mapping[str, Verdict]) -> str:
    """The overview as CSV for sharing: grade, direction and certainty, plus the plain why."""
    out = table[EXPORT_COLUMNS].copy()
    out["why"] = [" ".join(verdicts[c].plain) if c in verdicts else "" for c in out["claim_id"]]
    return out.to_csv(index=False)


def filter_overview(
    table: pd.DataFrame,
    verdicts: Iterable[str] = (),
    topics: Iterable[str] = (),
    content_files: Iterable[str] = (),
) -> pd.DataFrame:
    """Rows matching every given filter (an empty filter lets everything through)."""
    verdicts, topics, content_files = set(verdicts), set(topics), set(content_files)
    keep = pd.Series(True, index=table.index)
    if verdicts:
        keep &= table["verdict"].isin(verdicts)
    if content_files:
        keep &= table["content_file"].isin(content_files)
    if topics:
        keep &= table["topics"].map(lambda t: bool(topics & set(t.split(", "))))
    return table[keep]


def attention(row: Any) -> list[str]:
    """Why a claim needs a curator now, in words ("" parts left out); empty when nothing does."""
    reasons = []
    if row.cites_retracted:
        reasons.append("cites a retracted study")
    if row.needs_review:
        reasons.append("a suggested study contradicts it")
    if row.new_since_review:
        reasons.append(
            f"{count(int(row.new_since_review), 'new study', 'new studies')} since review"
        )
    if row.awaiting_review:
        reasons.append(
            f"{count(int(row.awaiting_review), 'suggested study', 'suggested studies')} to review"
        )
    elif row.not_assessed:
        reasons.append(f"{count(int(row.not_assessed), 'study', 'studies')} not yet assessed")
    return reasons


def standing(row: Any) -> str:
    """Needs attention, Weak or Supported: what a reader of the overview acts on."""
    if attention(row):
        return ATTENTION
    return SUPPORTED if row.verdict in SUPPORTED_GRADES else WEAK


def first_screen(table: pd.DataFrame) -> pd.DataFrame:
    """The overview's first screen: claim, statement, verdict, certainty, standing and why it
    needs attention, in the order a curator works through them.

    Claims that need attention come first, then weak claims, then supported ones; within each,
    from the weakest evidence to the strongest (the reverse of `overview_table`'s order, which
    ranks by certainty, direct randomized evidence, direction, grade and score).
    """
    rows = list(table.itertuples(index=False))
    out = pd.DataFrame(
        {
            "claim_id": table["claim_id"].to_numpy(),
            "statement": table["statement"].to_numpy(),
            "verdict": table["verdict"].to_numpy(),
            "certainty": table["certainty"].to_numpy(),
            "standing": [standing(r) for r in rows],
            "attention": ["; ".join(attention(r)) for r in rows],
        },
        columns=FIRST_SCREEN_COLUMNS,
    )
    rank = out["standing"].map({s: i for i, s in enumerate(STANDINGS)})
    weakest_first = pd.Series(range(len(out), 0, -1), index=out.index)
    order = sorted(out.index, key=lambda i: (rank[i], weakest_first[i]))
    return out.loc[order].reset_index(drop=True)


def standing_counts(screen: pd.DataFrame) -> str:
    """ "2 need attention · 6 weak · 9 supported": the first screen's answer in one line."""
    n = screen["standing"].value_counts()
    parts = [
        f"{int(n.get(ATTENTION, 0))} {'needs' if n.get(ATTENTION, 0) == 1 else 'need'} attention",
        f"{int(n.get(WEAK, 0))} weak",
        f"{int(n.get(SUPPORTED, 0))} supported",
    ]
    return " · ".join(parts) + f" (of {count(len(screen), 'claim')})"


DETAIL_COLUMNS = [
    "claim_link",
    "statement",
    "verdict",
    "direction",
    "certainty",
    "direct_evidence",
    "score",
    "supporting",
    "contradicting",
    "mixed",
    "best_level",
    "newest_evidence",
    "flags",
]


def detail_table(table: pd.DataFrame) -> pd.DataFrame:
    """Every figure of the overview for comparing claims: the claim as a link to its page, and
    "none" said in words."""
    from .claim_view import claim_path

    out = table.assign(claim_link=[claim_path(c) for c in table["claim_id"]])
    out["direct_evidence"] = out["direct_evidence"].replace("none", "no direct study")
    out["direction"] = out["direction"].map(direction)
    return out[DETAIL_COLUMNS]
