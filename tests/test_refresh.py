"""The refresh job end to end: real loopback E-utilities server, real Parquet store in tmp."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
from filelock import FileLock
from lxml import etree

from evidence.claims import load_claims
from evidence.cli import main
from evidence.refresh import plan_queries
from evidence.store import Store
from tests.fake_eutils import FakeEutils, PubMedIndex, articles_from, curated_articles

CURATED_FIXTURE_PMID = "27797938"  # a real fixture record (pubmed4.xml) given a curated link


@pytest.fixture
def world(data_dir, eutils_dir, monkeypatch):
    """The fake PubMed: every fixture article found by the topic queries, two by claim C03."""
    with FakeEutils() as server:
        index = PubMedIndex(articles_from(sorted(eutils_dir.glob("pubmed*.xml")))).install(server)
        index.also_serves = curated_articles(data_dir / "corpus" / "curated_evidence.jsonl")
        plan = plan_queries(load_claims(data_dir / "claims.yaml"), ())
        pmids = sorted(index.articles)
        for name, term in plan:
            if name.startswith("topic:"):
                index.add_search(term, [(p, "2020/01/01") for p in pmids])
            elif name == "claim:C03":
                index.add_search(term, [(p, "2020/01/01") for p in pmids[:2]])
        for key, value in {
            "EVIDENCE_BASE_URL": server.base_url,
            "EVIDENCE_EMAIL": "tests@example.org",
            "EVIDENCE_API_KEY": "test-key",  # 10 requests/s keeps the suite quick
            "EVIDENCE_BACKOFF_FACTOR": "0.01",
            "EVIDENCE_BACKOFF_MAX": "0.05",
            "EVIDENCE_MAX_RETRIES": "2",
        }.items():
            monkeypatch.setenv(key, value)
        yield server, index, plan


def tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    snap = Store.open(data_dir / "store").snapshot()
    return {name: snap[name] for name in snap}


def refresh(data_dir: Path, *args: str) -> int:
    return main(["refresh", "--data-dir", str(data_dir), *args])


def latest_report(data_dir: Path) -> dict:
    path = sorted((data_dir / "reports").glob("refresh-*.json"))[-1]
    return json.loads(path.read_text())


def test_first_run_fills_the_store_and_reports(world, data_dir):
    server, index, plan = world
    assert refresh(data_dir) == 0
    t = tables(data_dir)
    assert set(index.articles) <= set(t["records"]["pmid"])
    assert t["records"]["pmid"].is_unique
    assert len(t["records"]) == 67 + len(index.articles)
    assert len(server.calls("esearch")) == len(plan)
    runs = t["runs"]
    assert runs.iloc[-1]["status"] == "success" and runs.iloc[-1]["network_requests"] > 0
    fetched = t["records"].set_index("pmid").loc[sorted(index.articles)]
    assert (fetched["source"] == "efetch").all() and fetched["last_checked"].notna().all()
    report = latest_report(data_dir)
    assert report["status"] == "success" and report["new_records"] == len(index.articles)
    assert report["network_requests"] == len(server.log)
    md = (data_dir / "reports" / f"refresh-{report['run_id']}.md").read_text()
    assert "| topic:tms |" in md and "network requests:" in md


def test_immediate_rerun__one_esearch_per_query_no_efetch_only_runs_and_verdicts_change(
    world, data_dir
):
    server, index, plan = world
    assert refresh(data_dir) == 0
    before = tables(data_dir)
    calls = len(server.log)
    assert refresh(data_dir) == 0
    new_calls = server.log[calls:]
    assert sorted(c.utility for c in new_calls) == ["esearch"] * len(plan)
    assert all(c.params["datetype"] == "edat" and c.params["mindate"] for c in new_calls)
    after = tables(data_dir)
    for name in before:
        if name in ("runs", "verdicts"):
            assert len(after[name]) > len(before[name])
        else:
            pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def test_changed_record_is_detected_and_curated_link_survives(world, data_dir, monkeypatch):
    server, index, _ = world
    curated = data_dir / "mine.csv"
    curated.write_text(
        "pmid,claim,stance,note\n"
        f"{CURATED_FIXTURE_PMID},C03,supports,SYNTHETIC curator note for a test\n"
    )
    assert main(["import", str(curated), "--data-dir", str(data_dir)]) == 0
    assert refresh(data_dir) == 0
    t = tables(data_dir)
    rec = t["records"].set_index("pmid").loc[CURATED_FIXTURE_PMID]
    assert rec["abstract"].startswith("OBJECTIVE:") and len(rec["mesh"]) > 0  # filled in
    assert rec["origin"] == "curated"
    link = t["links"].set_index(["claim_id", "pmid"]).loc[("C03", CURATED_FIXTURE_PMID)]
    assert (link["stance"], link["stance_origin"]) == ("supports", "curator")
    assert "SYNTHETIC curator note" in link["note"]

    # PubMed now says the paper was retracted: the weekly re-check must catch it.
    article = copy.deepcopy(index.articles[CURATED_FIXTURE_PMID])
    citation = article.find("MedlineCitation")
    cc_list = citation.find("CommentsCorrectionsList")
    notice = etree.SubElement(cc_list, "CommentsCorrections", RefType="RetractionIn")
    etree.SubElement(notice, "RefSource").text = "SYNTHETIC retraction notice"
    etree.SubElement(notice, "PMID").text = "99999999"
    index.articles[CURATED_FIXTURE_PMID] = article
    monkeypatch.setenv("EVIDENCE_RECHECK_DAYS", "0.000001")
    assert refresh(data_dir) == 0
    t = tables(data_dir)
    assert t["records"].set_index("pmid").at[CURATED_FIXTURE_PMID, "retracted"]
    change = t["record_changes"]
    change = change[
        change["pmid"].eq(CURATED_FIXTURE_PMID) & change["fields"].map(lambda f: "retracted" in f)
    ]
    assert len(change) == 1
    report = latest_report(data_dir)
    alert = next(a for a in report["alerts"] if a["pmid"] == CURATED_FIXTURE_PMID)
    assert "RETRACTED" in alert["what"] and alert["claims"] == ["C03"]
    md = (data_dir / "reports" / f"refresh-{report['run_id']}.md").read_text()
    assert f"PMID {CURATED_FIXTURE_PMID} (C03): RETRACTED" in md


def test_ncbi_faults_mid_run__exit_1_and_store_unchanged(world, data_dir, capsys):
    from tests.fake_eutils import Fault

    server, _, _ = world
    assert main(["build-default", "--data-dir", str(data_dir)]) == 0
    before = tables(data_dir)
    version = Store.open(data_dir / "store").version
    server.faults.extend(Fault(503, utility="efetch") for _ in range(10))
    assert refresh(data_dir) == 1
    assert "gave up after 3 attempts" in capsys.readouterr().err
    assert Store.open(data_dir / "store").version == version
    after = tables(data_dir)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    assert latest_report(data_dir)["status"] == "failed"


def test_bad_config__exit_2_naming_the_setting(world, data_dir, monkeypatch, capsys):
    monkeypatch.setenv("EVIDENCE_BATCH_SIZE", "0")
    assert refresh(data_dir) == 2
    assert "batch_size" in capsys.readouterr().err
    monkeypatch.delenv("EVIDENCE_BATCH_SIZE")
    assert refresh(data_dir, "--claims", "C03,C99") == 2
    assert "C99" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        refresh(data_dir, "--since", "last tuesday")
    assert usage.value.code == 2


def test_second_run_while_one_holds_the_lock_exits_at_once(world, data_dir, capsys):
    server, _, _ = world
    with FileLock(str(data_dir / "refresh.lock")):
        assert refresh(data_dir) == 1
    assert "another refresh is running" in capsys.readouterr().err
    assert server.log == []


def test_dry_run_writes_nothing_but_the_report(world, data_dir):
    assert main(["build-default", "--data-dir", str(data_dir)]) == 0
    before = tables(data_dir)
    assert refresh(data_dir, "--dry-run") == 0
    after = tables(data_dir)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    report = latest_report(data_dir)
    assert report["status"] == "dry-run" and report["new_records"] > 0


def test_offline_refresh_names_every_request_it_could_not_answer(world, data_dir):
    server, _, plan = world
    assert refresh(data_dir, "--claims", "C03") == 0
    assert refresh(data_dir, "--offline", "--claims", "C03", "--since", "2026-01-01") == 1
    report = latest_report(data_dir)
    assert report["status"] == "failed" and len(report["offline_misses"]) == 1
    assert "mindate=2026%2F01%2F01" in report["offline_misses"][0]
