"""A refresh that does not over-report: re-checks reach NCBI, big topics arrive whole.

Real loopback E-utilities server, real Parquet store, the real `evidence refresh` entry point.
"""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
from lxml import etree

from evidence.cli import main
from evidence.store import Store
from tests.fake_eutils import (
    FakeEutils,
    PubMedIndex,
    articles_from,
    curated_articles,
    synthetic_hits,
)

FIXTURE_PMID = "27797938"  # a real record of the efetch fixtures (pubmed4.xml)
ENV = {
    "EVIDENCE_EMAIL": "tests@example.org",
    "EVIDENCE_API_KEY": "test-key",
    "EVIDENCE_BACKOFF_FACTOR": "0.01",
    "EVIDENCE_BACKOFF_MAX": "0.05",
    "EVIDENCE_MAX_RETRIES": "1",
}


def refresh(data_dir, *args: str) -> int:
    return main(["refresh", "--data-dir", str(data_dir), *args])


def latest_report(data_dir) -> dict:
    path = sorted((data_dir / "reports").glob("refresh-*.json"))[-1]
    return json.loads(path.read_text())


def a_week_passes(data_dir) -> None:
    """Every record was last checked eight days ago (the clock moves, the data stays)."""

    def change(snap):
        records = snap["records"]
        records["last_checked"] = records["last_checked"] - pd.Timedelta(days=8)
        return {"records": records}

    Store.open(data_dir / "store").update(change, actor="test: a week passes")


def retract(article: etree._Element) -> etree._Element:
    """The article as PubMed shows it once retracted: publication type and RetractionIn notice."""
    article = copy.deepcopy(article)
    citation = article.find("MedlineCitation")
    types = citation.find("Article/PublicationTypeList")
    etree.SubElement(types, "PublicationType", UI="D016441").text = "Retracted Publication"
    notices = citation.find("CommentsCorrectionsList")
    if notices is None:
        notices = etree.SubElement(citation, "CommentsCorrectionsList")
    notice = etree.SubElement(notices, "CommentsCorrections", RefType="RetractionIn")
    etree.SubElement(notice, "RefSource").text = "SYNTHETIC retraction notice for a test"
    etree.SubElement(notice, "PMID", Version="1").text = "99999999"
    return article


def test_second_week__recheck_reaches_ncbi_and_flags_the_retraction(
    data_dir, eutils_dir, monkeypatch
):
    with FakeEutils() as server:
        index = PubMedIndex(articles_from(sorted(eutils_dir.glob("pubmed*.xml")))).install(server)
        index.also_serves = curated_articles(data_dir / "corpus" / "curated_evidence.jsonl")
        for key, value in {**ENV, "EVIDENCE_BASE_URL": server.base_url}.items():
            monkeypatch.setenv(key, value)
        (data_dir / "mine.csv").write_text(
            f"pmid,claim,stance,note\n{FIXTURE_PMID},C03,supports,SYNTHETIC curator note\n"
        )
        assert main(["build-default", "--data-dir", str(data_dir)]) == 0
        assert main(["import", str(data_dir / "mine.csv"), "--data-dir", str(data_dir)]) == 0

        # Week 1: every linked record is fetched (and its answer cached for weeks).
        assert refresh(data_dir, "--claims", "C03") == 0
        week1 = latest_report(data_dir)
        linked = week1["recheck_due"]
        assert linked >= 20 and week1["rechecked"] == linked and week1["missing_pmids"] == []
        assert (
            not Store.open(data_dir / "store")
            .snapshot()["records"]
            .set_index("pmid")
            .at[FIXTURE_PMID, "retracted"]
        )

        # Between the weeks PubMed retracts the paper; the cached answer still says otherwise.
        index.articles[FIXTURE_PMID] = retract(index.articles[FIXTURE_PMID])
        a_week_passes(data_dir)
        calls = len(server.log)
        assert refresh(data_dir, "--claims", "C03") == 0
        week2 = latest_report(data_dir)
        efetched = [
            pmid
            for call in server.log[calls:]
            if call.utility == "efetch"
            for pmid in call.params.get("id", "").split(",")
        ]
        assert FIXTURE_PMID in efetched  # the re-check went to the server, not the cache
        assert week2["rechecked"] == week2["recheck_due"] == linked
        assert (
            0
            < week2["recheck_requests"]
            == len([c for c in server.log[calls:] if c.utility == "efetch"])
        )
        snap = Store.open(data_dir / "store").snapshot()
        assert snap["records"].set_index("pmid").at[FIXTURE_PMID, "retracted"]
        alert = next(a for a in week2["alerts"] if a["pmid"] == FIXTURE_PMID)
        assert "RETRACTED" in alert["what"] and alert["claims"] == ["C03"]
        md = (data_dir / "reports" / f"refresh-{week2['run_id']}.md").read_text()
        assert f"re-checks of linked records: {linked} of {linked} due answered by NCBI" in md
        assert f"PMID {FIXTURE_PMID} (C03): RETRACTED" in md

        # Checked this week: an immediate re-run re-checks nothing.
        calls = len(server.log)
        assert refresh(data_dir, "--claims", "C03") == 0
        assert "efetch" not in {c.utility for c in server.log[calls:]}
        assert latest_report(data_dir)["recheck_due"] == 0


def synthetic_article(pmid: str) -> etree._Element:
    """A bare, clearly made-up article: enough for a record row, nothing a claim matches."""
    article = etree.Element("PubmedArticle")
    citation = etree.SubElement(article, "MedlineCitation", Status="Publisher", Owner="NLM")
    etree.SubElement(citation, "PMID", Version="1").text = pmid
    art = etree.SubElement(citation, "Article", PubModel="Print")
    journal = etree.SubElement(art, "Journal")
    issue = etree.SubElement(journal, "JournalIssue", CitedMedium="Print")
    etree.SubElement(etree.SubElement(issue, "PubDate"), "Year").text = "2005"
    etree.SubElement(journal, "Title").text = "SYNTHETIC Journal"
    etree.SubElement(art, "ArticleTitle").text = f"SYNTHETIC record {pmid}"
    return article


@pytest.mark.slow
def test_a_topic_of_25000_hits_past_the_cap__every_pmid_reaches_the_store(data_dir, monkeypatch):
    hits = synthetic_hits(25_000)
    with FakeEutils() as server:
        index = PubMedIndex({p: synthetic_article(p) for p, _ in hits}).install(server)
        index.also_serves = curated_articles(data_dir / "corpus" / "curated_evidence.jsonl")
        from evidence.claims import load_claims
        from evidence.refresh import plan_queries

        for name, term in plan_queries(load_claims(data_dir / "claims.yaml"), ()):
            if name == "topic:ssri":
                index.add_search(term, hits)
        for key, value in {
            **ENV,
            "EVIDENCE_BASE_URL": server.base_url,
            "EVIDENCE_BATCH_SIZE": "5000",
        }.items():
            monkeypatch.setenv(key, value)
        assert refresh(data_dir) == 0
        report = latest_report(data_dir)
    ssri = next(q for q in report["queries"] if q["name"] == "topic:ssri")
    assert ssri["count"] == 25_000 and len(ssri["new_pmids"]) == 25_000
    assert ssri["min_requests"] == 3 and ssri["requests"] <= 3 * ssri["min_requests"] + 8
    stored = set(Store.open(data_dir / "store").snapshot().key_frame("records", ["pmid"])["pmid"])
    assert {p for p, _ in hits} <= stored
    assert report["status"] == "success" and report["missing_pmids"] == []
