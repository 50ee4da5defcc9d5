"""Stance suggestions fill unassessed links only, are named as suggested, and never churn."""

from __future__ import annotations

import pandas as pd

from evidence.pipeline import suggest_unassessed
from evidence.records import records_frame
from evidence.schema import CLAIMS, LINKS
from evidence.stance import STANCE_LABELS

NOW = pd.Timestamp("2026-11-26T12:00:00Z")


def _record(pmid: str, abstract: str) -> dict:
    return {
        "pmid": pmid,
        "title": "SYNTHETIC test record",
        "abstract": abstract,
        "source": "efetch",
    }


def _link(claim: str, pmid: str, stance: str, origin: str, note: str | None = None) -> dict:
    return {
        "claim_id": claim,
        "pmid": pmid,
        "relevance": 0.5,
        "stance": stance,
        "stance_origin": origin,
        "stance_confidence": float("nan"),
        "stance_evidence": None,
        "note": note,
        "curator_note": None,
        "direct": True,
        "indirect_because": "",
        "in_latest_query": True,
        "first_linked_run": "r1",
        "updated_at": pd.Timestamp("2026-11-01T00:00:00Z"),
        "updated_by": "relevance",
    }


def _fixtures():
    records = records_frame(
        [
            _record(
                "90000001",
                "SYNTHETIC. We randomised 120 patients. CONCLUSIONS: Theta burst stimulation did "
                "not improve emotional blunting compared with sham.",
            ),
            _record("90000002", ""),
            _record("90000003", "SYNTHETIC. Theta burst stimulation improved emotional blunting."),
        ]
    )
    claims = CLAIMS.conform(
        pd.DataFrame(
            [
                {
                    "claim_id": "C12",
                    "statement": "Theta burst stimulation improves emotional blunting.",
                    "quote": "q",
                    "topics": ["tms"],
                    "query": "x",
                    "content_file": "post.md",
                    "quote_start": 0,
                    "quote_end": 1,
                }
            ]
        )
    )
    links = LINKS.conform(
        pd.DataFrame(
            [
                _link("C12", "90000001", "unassessed", "unassessed"),
                _link("C12", "90000002", "unassessed", "unassessed"),  # no abstract: left alone
                _link("C12", "90000003", "contradicts", "curator", "SYNTHETIC curator note"),
            ]
        )
    )
    return links, records, claims


def test_unassessed_links_get_a_suggestion_with_its_sentence():
    links, records, claims = _fixtures()
    out = suggest_unassessed(links, records, claims, NOW).set_index("pmid")
    first = out.loc["90000001"]
    assert first["stance_origin"] == "suggested"
    assert first["stance"] in STANCE_LABELS  # which one is the suggester's job (test_stance.py)
    assert 0 <= first["stance_confidence"] <= 1
    abstract = records.set_index("pmid").at["90000001", "abstract"]
    assert all(s in abstract for s in first["stance_evidence"].split(" … "))
    assert first["updated_by"].startswith("suggester")
    assert out.loc["90000002", "stance_origin"] == "unassessed"


def test_a_curator_stance_is_never_replaced():
    links, records, claims = _fixtures()
    out = suggest_unassessed(links, records, claims, NOW).set_index("pmid")
    curated = out.loc["90000003"]
    assert (curated["stance"], curated["stance_origin"]) == ("contradicts", "curator")
    assert curated["note"] == "SYNTHETIC curator note"


def test_rerunning_does_not_churn():
    links, records, claims = _fixtures()
    once = suggest_unassessed(links, records, claims, NOW)
    twice = suggest_unassessed(once, records, claims, NOW + pd.Timedelta(days=7))
    pd.testing.assert_frame_equal(once, twice)
