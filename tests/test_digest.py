"""The alert digest from synthetic tables: what is in it, in which order, with which keys."""

from __future__ import annotations

import pandas as pd

from evidence.digest import AlertItem, build_digest
from evidence.digest_render import render_html, render_text, subject, webhook_body
from evidence.levels import load_rubric

NOW = pd.Timestamp("2026-11-26T12:00:00Z")
T0 = pd.Timestamp("2026-11-19T12:00:00Z")


def verdict(run_id, claim_id, at, grade, certainty, rule, n_supports, n_contradicts=0):
    return {
        "run_id": run_id,
        "claim_id": claim_id,
        "computed_at": at,
        "grade": grade,
        "score": 0,
        "rule": rule,
        "direction": "supports",
        "certainty": certainty,
        "needs_review": False,
        "n_supports": n_supports,
        "n_contradicts": n_contradicts,
        "n_mixed": 0,
        "n_background": 0,
        "n_unassessed": 0,
        "basis": "",
    }


def link(claim_id, pmid, stance, origin, run, evidence=""):
    return {
        "claim_id": claim_id,
        "pmid": pmid,
        "stance": stance,
        "stance_origin": origin,
        "stance_evidence": evidence,
        "first_linked_run": run,
    }


VERDICTS = pd.DataFrame(
    [
        verdict("R1", "C01", T0, "Supported", "moderate", "supported", 2),
        verdict("R1", "C02", T0, "Supported", "moderate", "supported", 2),
        verdict("R1", "C03", T0, "Limited", "low", "limited", 1),
        verdict("R2", "C01", NOW, "Limited", "low", "limited", 1),  # grade dropped
        verdict("R2", "C02", NOW, "Supported", "low", "supported", 2),  # certainty only
        verdict("R2", "C03", NOW, "Limited", "low", "limited", 1),  # unchanged
    ]
)
LINKS = pd.DataFrame(
    [
        link("C01", "90000001", "supports", "curator", "R1"),
        link("C02", "90000002", "contradicts", "suggested", "R1", "SYNTHETIC: no effect was seen"),
        link("C02", "90000003", "contradicts", "curator", "R1"),  # confirmed: not awaiting
        link("C03", "90000004", "unassessed", "unassessed", "R2"),
        link("C03", "90000005", "supports", "suggested", "R2"),
        link("C03", "90000006", "irrelevant", "suggested", "R2"),  # not a candidate
        link("C01", "90000007", "supports", "curator", "R2"),  # a curator's own: not awaiting
    ]
)
RUNS = pd.DataFrame(
    {
        "run_id": ["R0", "R1"],
        "started_at": [T0 - pd.Timedelta(days=30), T0],
        "status": ["success", "success"],
        "mode": ["incremental", "incremental"],
    }
)
RETRACTION = {
    "pmid": "90000001",
    "claims": ["C01"],
    "what": "RETRACTED",
    "kinds": ["retracted"],
    "notices": ["90000099"],
    "title": "SYNTHETIC trial",
}


def digest(status="success", alerts=(), runs=RUNS, now=NOW, **report):
    return build_digest(
        {"run_id": "R2", "status": status, "alerts": list(alerts), **report},
        links=LINKS,
        verdicts=VERDICTS,
        runs=runs,
        rubric=load_rubric(),
        now=now,
        stale_days=21,
    )


def test_items_most_urgent_first_with_before_after_and_why():
    d = digest(alerts=[RETRACTION])
    assert [i.kind for i in d.items] == [
        "retracted",
        "verdict_changed",
        "certainty_changed",
        "suggested_contradiction",
        "new_candidates",
    ]
    retracted, dropped, certainty, contra, new = d.items
    assert retracted.key == "retracted:90000001" and retracted.claim_ids == ("C01",)
    assert "PMID 90000099" in retracted.detail
    assert (dropped.claim_ids, dropped.before, dropped.after) == (("C01",), "Supported", "Limited")
    assert dropped.title == "C01: Supported -> Limited"
    assert "supporting studies 2 -> 1" in dropped.detail
    assert load_rubric().rule("limited").description in dropped.detail
    assert (certainty.before, certainty.after) == ("Moderate", "Low")
    assert (contra.claim_ids, contra.pmids) == (("C02",), ("90000002",))
    assert "no effect was seen" in contra.detail
    assert (new.claim_ids, new.pmids) == (("C03",), ("90000004", "90000005"))


def test_keys_name_the_fact_so_a_rebuilt_digest_repeats_them():
    first, again = digest(alerts=[RETRACTION]), digest(alerts=[RETRACTION])
    assert [i.key for i in first.items] == [i.key for i in again.items]
    assert "suggested_contradiction:C02:90000002" in {i.key for i in first.items}


def test_a_quiet_run_has_no_items():
    quiet = build_digest(
        {"run_id": "R1", "status": "success", "alerts": []},
        links=LINKS[LINKS["first_linked_run"].eq("R1") & ~LINKS["stance_origin"].eq("suggested")],
        verdicts=VERDICTS[VERDICTS["run_id"].eq("R1")],
        runs=RUNS,
        now=NOW,
        stale_days=21,
    )
    assert quiet.items == ()


def test_failed_run_and_no_success_for_too_long():
    fresh = digest(status="failed", error="PubMed did not answer", now=T0 + pd.Timedelta(days=3))
    kinds = [i.kind for i in fresh.items]
    assert "run_failed" in kinds and "no_recent_success" not in kinds
    failed = next(i for i in fresh.items if i.kind == "run_failed")
    assert failed.detail == "PubMed did not answer" and failed.key == "run_failed:R2"

    late = digest(status="failed", error="x", now=T0 + pd.Timedelta(days=22))
    stale = next(i for i in late.items if i.kind == "no_recent_success")
    assert f"{stale.label} {stale.title}" == "No successful refresh for 22 days"
    assert stale.key == f"no_recent_success:{T0.isoformat()}"  # once per stale period
    assert [i.kind for i in late.items][-2:] == ["run_failed", "no_recent_success"]


def test_rendered_for_people_and_for_machines():
    d = digest(alerts=[RETRACTION])
    text = render_text(d, d.items, "https://dash.example.org/")
    assert "Retracted: PMID 90000001, cited for C01" in text
    assert "https://pubmed.ncbi.nlm.nih.gov/90000001/" in text
    assert "https://dash.example.org/claim?claim=C01" in text
    assert "Verdict changed: C01: Supported -> Limited" in text
    assert "_" not in text.replace("https://", "")  # no snake_case kinds for people
    html = render_html(d, d.items, "https://dash.example.org")
    assert '<a href="https://dash.example.org/claim?claim=C01">Claim C01</a>' in html
    assert subject(d, d.items).startswith("Evidence tracker: 5 alerts: 1 Retracted, ")
    body = webhook_body(d, d.items, "https://dash.example.org")
    assert body["schema"] == "evidence-alerts" and body["version"] == 1
    first = body["items"][0]
    assert first["kind"] == "retracted" and first["urgency"] == 0
    assert first["pubmed_urls"] == ["https://pubmed.ncbi.nlm.nih.gov/90000001/"]
    assert AlertItem.from_dict(first) == d.items[0]  # a pending item survives the ledger


def test_an_email_lists_at_most_ten_studies_per_alert_the_webhook_all():
    from evidence.digest import Digest

    many = AlertItem(
        key="new_candidates:C03:R2",
        kind="new_candidates",
        title="C03: 25 new candidate studies",
        claim_ids=("C03",),
        pmids=tuple(str(90000100 + n) for n in range(25)),
    )
    d = Digest("R2", "success", NOW.isoformat(), (many,))
    text = render_text(d, d.items, "")
    assert text.count("https://pubmed.ncbi.nlm.nih.gov/") == 10
    assert "and 15 more (see the dashboard)" in text
    assert render_html(d, d.items, "").count("<a href=") == 10
    assert len(webhook_body(d, d.items, "")["items"][0]["pubmed_urls"]) == 25


def test_each_new_erratum_is_its_own_alert_a_concern_one_per_study():
    def alert(errata, kinds):
        return {
            "pmid": "90000001",
            "claims": ["C01", "C02"],
            "kinds": kinds,
            "errata": errata,
            "notices": errata,
        }

    first = digest(alerts=[alert(["90000091"], ["erratum", "expression_of_concern"])])
    second = digest(alerts=[alert(["90000091", "90000092"], ["erratum"])])
    keys = [i.key for i in first.items if i.pmids == ("90000001",)]
    assert keys == ["expression_of_concern:90000001", "erratum:90000001:90000091"]
    assert "erratum:90000001:90000091,90000092" in {i.key for i in second.items}
    concern = first.items[0]
    assert concern.headline == "Expression of concern: PMID 90000001, cited for C01, C02"
