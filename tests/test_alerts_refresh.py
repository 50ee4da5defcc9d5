"""Alerts from the scheduled refresh, end to end: the real `evidence refresh` against a loopback
E-utilities server, a real Parquet store, an SMTP server (STARTTLS + AUTH) and a webhook."""

from __future__ import annotations

import json

import pandas as pd

from evidence.alert_ledger import ledger_path
from evidence.cli import main
from evidence.store import Store
from tests.alert_servers import SMTP_PASSWORD, WEBHOOK_SECRET, SmtpServer, WebhookServer, free_port
from tests.fake_eutils import FakeEutils, PubMedIndex, articles_from, curated_articles
from tests.test_refresh_completeness import (
    ENV,
    FIXTURE_PMID,
    a_week_passes,
    latest_report,
    refresh,
    retract,
)

CURATOR = "curator@example.org"
RETRACTED_LINE = f"Retracted: PMID {FIXTURE_PMID}, cited for C03"


def plain(received) -> str:
    return received.message.get_body(("plain",)).get_content()


def setup(data_dir, server, smtp, hook, monkeypatch, eutils_dir) -> PubMedIndex:
    index = PubMedIndex(articles_from(sorted(eutils_dir.glob("pubmed*.xml")))).install(server)
    index.also_serves = curated_articles(data_dir / "corpus" / "curated_evidence.jsonl")
    env = {
        **ENV,
        "EVIDENCE_BASE_URL": server.base_url,
        "EVIDENCE_DASHBOARD_URL": "https://dash.example.org",
        **smtp.env([CURATOR]),
        **hook.env(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (data_dir / "mine.csv").write_text(
        f"pmid,claim,stance,note\n{FIXTURE_PMID},C03,supports,SYNTHETIC curator note\n"
    )
    assert main(["build-default", "--data-dir", str(data_dir)]) == 0
    assert main(["import", str(data_dir / "mine.csv"), "--data-dir", str(data_dir)]) == 0
    return index


def test_a_retraction_alerts_exactly_once_and_a_failed_webhook_gets_it_next_run(
    data_dir, eutils_dir, monkeypatch, tmp_path, capsys
):
    with FakeEutils() as server, SmtpServer(tmp_path) as smtp, WebhookServer() as hook:
        index = setup(data_dir, server, smtp, hook, monkeypatch, eutils_dir)
        assert refresh(data_dir, "--claims", "C03") == 0  # week 1: not retracted yet
        assert not any(RETRACTED_LINE in plain(m) for m in smtp.received)

        index.articles[FIXTURE_PMID] = retract(index.articles[FIXTURE_PMID])
        a_week_passes(data_dir)
        hook.down = True  # the clinic's receiver is broken this week
        capsys.readouterr()
        assert refresh(data_dir, "--claims", "C03") == 0  # the refresh itself succeeds
        week2 = latest_report(data_dir)
        err = capsys.readouterr().err
        assert "evidence: alert not delivered: webhook: failed (webhook answered HTTP 503" in err
        [webhook] = [d for d in week2["alert_deliveries"] if d["target"] == "webhook"]
        assert webhook["pending"] >= 1 and webhook["error"]
        md = (data_dir / "reports" / f"refresh-{week2['run_id']}.md").read_text()
        assert "## Alerts delivered" in md and f"e-mail to {CURATOR}: sent" in md
        mail = next(m for m in smtp.received if RETRACTED_LINE in plain(m))
        assert "SYNTHETIC retraction" not in plain(mail)  # the notice's PMID, not its source
        assert "PubMed notice(s): PMID 99999999." in plain(mail)
        assert f"https://pubmed.ncbi.nlm.nih.gov/{FIXTURE_PMID}/" in plain(mail)
        assert "https://dash.example.org/claim?claim=C03" in plain(mail)

        hook.down = False
        assert refresh(data_dir, "--claims", "C03") == 0  # an immediate re-run
        assert refresh(data_dir, "--claims", "C03") == 0  # and another
        final_err = capsys.readouterr().err

    mails = [m for m in smtp.received if RETRACTED_LINE in plain(m)]
    assert len(mails) == 1
    hooked = [
        item
        for h in hook.accepted
        for item in h.body["items"]
        if item["key"] == f"retracted:{FIXTURE_PMID}"
    ]
    assert len(hooked) == 1 and hooked[0]["claim_ids"] == ["C03"]
    assert all(h.signature_ok for h in hook.requests)
    ledger = json.loads(ledger_path(data_dir).read_text())
    assert all(not t["pending"] for t in ledger["targets"].values())
    assert "alert not delivered" not in final_err
    written = "".join(p.read_text() for p in (data_dir / "reports").iterdir())
    written += ledger_path(data_dir).read_text() + err + final_err
    assert SMTP_PASSWORD not in written and WEBHOOK_SECRET not in written


def test_a_failed_refresh_alerts_and_says_how_long_since_the_last_success(
    data_dir, eutils_dir, monkeypatch, tmp_path, capsys
):
    with FakeEutils() as server, SmtpServer(tmp_path) as smtp, WebhookServer() as hook:
        setup(data_dir, server, smtp, hook, monkeypatch, eutils_dir)
        assert refresh(data_dir, "--claims", "C03") == 0

        def a_month_ago(snap):
            runs = snap["runs"]
            runs["started_at"] = runs["started_at"] - pd.Timedelta(days=30)
            return {"runs": runs}

        Store.open(data_dir / "store").update(a_month_ago, actor="test: a month passes")
        sent_before = len(smtp.received)
        monkeypatch.setenv("EVIDENCE_BASE_URL", f"http://127.0.0.1:{free_port()}/")  # NCBI down
        assert refresh(data_dir, "--claims", "C03") == 1
        assert refresh(data_dir, "--claims", "C03") == 1  # still down next time

    failed = [plain(m) for m in smtp.received[sent_before:]]
    assert len(failed) == 2
    first, second = failed
    assert first.index("* Refresh failed: run ") < first.index(
        "* No successful refresh for 30 days"
    )
    assert "Connection refused" in first  # the run's own one-line reason
    assert "* Refresh failed: run " in second and "No successful refresh" not in second  # once
    kinds = [[i["kind"] for i in h.body["items"]] for h in hook.accepted[-2:]]
    assert kinds == [["run_failed", "no_recent_success"], ["run_failed"]]
    assert "api_key=***" in first and "test-key" not in first  # the NCBI key stays masked
    report = latest_report(data_dir)
    assert report["status"] == "failed"
    assert sorted(d["target"] for d in report["alert_deliveries"]) == [
        f"email:{CURATOR}",
        "webhook",
    ]
    assert all(d["error"] == "" for d in report["alert_deliveries"])
    assert "alert not delivered" not in capsys.readouterr().err
