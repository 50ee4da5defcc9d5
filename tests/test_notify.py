"""Alert delivery against real loopback servers: SMTP (STARTTLS + AUTH) and a signed webhook."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from evidence.alert_ledger import ledger_path
from evidence.cli import main
from evidence.digest import AlertItem, Digest
from evidence.errors import ConfigError
from evidence.notify import deliver
from evidence.settings import load_settings
from tests.alert_servers import (
    SMTP_PASSWORD,
    WEBHOOK_SECRET,
    SmtpServer,
    WebhookServer,
    free_port,
)

NOW = pd.Timestamp("2026-11-26T12:00:00Z")
RETRACTED = AlertItem(
    key="retracted:90000001",
    kind="retracted",
    title="PMID 90000001, cited for C03",
    detail="“SYNTHETIC trial”.",
    claim_ids=("C03",),
    pmids=("90000001",),
)
DROPPED = AlertItem(
    key="verdict_changed:C03:R2",
    kind="verdict_changed",
    title="C03: Supported -> Limited",
    claim_ids=("C03",),
    before="Supported",
    after="Limited",
    run_id="R2",
)
FAST = {"EVIDENCE_BACKOFF_FACTOR": "0.01", "EVIDENCE_BACKOFF_MAX": "0.05"}


def digest(*items: AlertItem, run_id: str = "R2") -> Digest:
    return Digest(run_id, "success", NOW.isoformat(), items)


def settings_for(tmp_path, env: dict[str, str]):
    return load_settings(
        {"data_dir": tmp_path / "data", "dashboard_url": "https://dash.example.org"},
        env={**FAST, **env},
    )


def ledger(settings) -> dict:
    return json.loads(ledger_path(settings.data_dir).read_text())


def test_email_over_starttls_with_login_has_text_html_and_links(tmp_path):
    with SmtpServer(tmp_path) as smtp:
        settings = settings_for(tmp_path, smtp.env(["a@example.org", "b@example.org"]))
        results = deliver(settings, digest(DROPPED, RETRACTED))
    assert [(r.target, r.sent, r.error) for r in results] == [
        ("email:a@example.org", 2, ""),
        ("email:b@example.org", 2, ""),
    ]
    assert sorted(r.rcpt for r in smtp.received) == ["a@example.org", "b@example.org"]
    for got in smtp.received:
        assert got.tls and got.authenticated
        msg = got.message
        assert msg["To"] == got.rcpt and msg["From"] == "evidence@example.org"
        assert msg["Subject"].strip() == (  # a long subject is folded; unfolding keeps a space
            "Evidence tracker: 2 alerts: 1 Retracted, 1 Verdict changed (refresh R2)"
        )
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert text.index("Retracted: PMID 90000001") < text.index("C03: Supported -> Limited")
        assert "https://pubmed.ncbi.nlm.nih.gov/90000001/" in text
        assert "https://dash.example.org/claim?claim=C03" in text
        assert '<a href="https://pubmed.ncbi.nlm.nih.gov/90000001/">PMID 90000001</a>' in html
        assert '<a href="https://dash.example.org/claim?claim=C03">Claim C03</a>' in html


def test_one_bad_recipient_does_not_stop_the_others_and_is_retried(tmp_path):
    to = ["a@example.org", "bad@example.org", "c@example.org"]
    with SmtpServer(tmp_path, refuse={"bad@example.org"}) as smtp:
        settings = settings_for(tmp_path, smtp.env(to))
        first = deliver(settings, digest(RETRACTED))
        assert [r.rcpt for r in smtp.received] == ["a@example.org", "c@example.org"]
        bad = next(r for r in first if r.target == "email:bad@example.org")
        assert "550" in bad.error and bad.pending == 1
        assert "kept for the next run" in bad.describe()
        assert list(ledger(settings)["targets"]["email:bad@example.org"]["pending"]) == [
            RETRACTED.key
        ]

        # Next run, nothing new: only the failed recipient is tried again (and fails again).
        second = deliver(settings, digest(run_id="R3"))
        assert [(r.target, r.pending) for r in second] == [("email:bad@example.org", 1)]
        assert len(smtp.received) == 2

        smtp.handler.refuse.clear()  # the mailbox is fixed
        third = deliver(settings, digest(run_id="R4"))
        assert [(r.target, r.sent, r.error) for r in third] == [("email:bad@example.org", 1, "")]
        assert [r.rcpt for r in smtp.received] == to[:1] + to[2:] + ["bad@example.org"]
        assert "Retracted: PMID 90000001" in smtp.received[-1].message["Subject"] + (
            smtp.received[-1].message.get_body(("plain",)).get_content()
        )
        assert deliver(settings, digest(RETRACTED, run_id="R5")) == []  # all delivered once


def test_wrong_password_fails_every_recipient_without_leaking_it(tmp_path):
    with SmtpServer(tmp_path) as smtp:
        env = {**smtp.env(["a@example.org"]), "EVIDENCE_SMTP_PASSWORD": "wrong-" + SMTP_PASSWORD}
        settings = settings_for(tmp_path, env)
        [result] = deliver(settings, digest(RETRACTED))
    assert result.error.startswith("SMTP session refused: 535")
    assert smtp.received == []
    assert SMTP_PASSWORD not in ledger_path(settings.data_dir).read_text()
    assert SMTP_PASSWORD not in repr(settings)


def test_webhook_signed_and_retried_after_server_errors(tmp_path):
    with WebhookServer(fail_first=2) as hook:
        settings = settings_for(tmp_path, hook.env())
        [result] = deliver(settings, digest(DROPPED, RETRACTED))
    assert (result.sent, result.error) == (2, "")
    assert len(hook.requests) == 3 and len(hook.accepted) == 1
    assert all(r.signature_ok for r in hook.requests)
    assert len({r.raw for r in hook.requests}) == 1  # a retry is the same signed request
    got = hook.accepted[0]
    assert got.headers["X-Evidence-Delivery"] == got.body["delivery_id"]
    assert got.body["schema"] == "evidence-alerts" and got.body["version"] == 1
    assert (got.body["run_id"], got.body["test"]) == ("R2", False)
    assert [i["kind"] for i in got.body["items"]] == ["retracted", "verdict_changed"]
    assert got.body["items"][1]["before"] == "Supported"
    assert got.body["items"][0]["claim_urls"] == ["https://dash.example.org/claim?claim=C03"]
    assert WEBHOOK_SECRET.encode() not in got.raw


def test_webhook_with_the_wrong_secret_is_rejected_by_the_receiver(tmp_path):
    with WebhookServer(secret="another-" + WEBHOOK_SECRET) as hook:
        settings = settings_for(tmp_path, hook.env())
        [result] = deliver(settings, digest(RETRACTED))
    assert "HTTP 401" in result.error and hook.accepted == []


def test_webhook_down_keeps_alerts_and_the_next_run_sends_them_once(tmp_path):
    with WebhookServer() as hook:
        hook.down = True
        settings = settings_for(tmp_path, hook.env())
        [failed] = deliver(settings, digest(RETRACTED))
        assert "HTTP 503 (after 4 tries)" in failed.error and failed.pending == 1
        assert len(hook.requests) == 4  # 1 + webhook_retries

        hook.down = False
        [sent] = deliver(settings, digest(DROPPED, run_id="R3"))  # R3 has its own news
        assert (sent.sent, sent.error) == (2, "")
        assert [i["key"] for i in hook.accepted[0].body["items"]] == [RETRACTED.key, DROPPED.key]
        assert deliver(settings, digest(DROPPED, RETRACTED, run_id="R3")) == []
    assert len(hook.accepted) == 1
    assert ledger(settings)["targets"]["webhook"]["pending"] == {}


def test_alert_always_sends_a_quiet_digest(tmp_path):
    with WebhookServer() as hook:
        settings = settings_for(tmp_path, {**hook.env(), "EVIDENCE_ALERT_ALWAYS": "true"})
        [result] = deliver(settings, digest())
        quiet = settings_for(tmp_path, hook.env())
        assert deliver(quiet, digest(run_id="R3")) == []
    assert result.error == "" and len(hook.accepted) == 1
    assert hook.accepted[0].body["items"] == [] and hook.accepted[0].body["text"] == (
        "Nothing changed"
    )


def test_notify_test_through_every_channel_via_the_cli(tmp_path, monkeypatch, capsys):
    with SmtpServer(tmp_path) as smtp, WebhookServer() as hook:
        for key, value in {**FAST, **smtp.env(["a@example.org"]), **hook.env()}.items():
            monkeypatch.setenv(key, value)
        code = main(["notify", "--test", "--data-dir", str(tmp_path / "data")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines() == ["e-mail to a@example.org: sent 1 alert", "webhook: sent 1 alert"]
    [mail] = smtp.received
    assert mail.message["Subject"] == "Evidence tracker: test message"
    assert (
        "* Test message: sent by evidence notify --test"
        in mail.message.get_body(("plain",)).get_content()
    )
    [got] = hook.accepted
    assert got.body["test"] is True and got.body["items"][0]["kind"] == "test"
    assert not ledger_path(tmp_path / "data").exists()  # a test is not an alert to remember
    assert SMTP_PASSWORD not in out + err and WEBHOOK_SECRET not in out + err


def test_notify_test_reports_a_dead_channel_with_exit_1(tmp_path, monkeypatch, capsys):
    with WebhookServer() as hook:
        hook.down = True
        for key, value in {**FAST, **hook.env()}.items():
            monkeypatch.setenv(key, value)
        code = main(["notify", "--test", "--data-dir", str(tmp_path / "data")])
    out, err = capsys.readouterr()
    assert code == 1 and "webhook: failed (webhook answered HTTP 503" in err
    assert WEBHOOK_SECRET not in out + err


def test_notify_without_a_channel_says_how_to_configure_one(tmp_path, capsys):
    assert main(["notify", "--test", "--data-dir", str(tmp_path / "data")]) == 2
    assert "no alert channel configured" in capsys.readouterr().err


def test_alert_secrets_never_in_a_config_file_inside_the_repo(tmp_path):
    from evidence.settings import REPO_DATA_DIR

    inside = REPO_DATA_DIR.parent / "tests" / "_tmp_evidence_secret.toml"
    inside.write_text('webhook_url = "https://x.example.org"\nwebhook_secret = "abc"\n')
    try:
        with pytest.raises(ConfigError, match="webhook_secret.*inside the repository"):
            load_settings({"data_dir": tmp_path}, env={}, config_file=inside)
    finally:
        inside.unlink()
    outside = tmp_path / "evidence.toml"
    outside.write_text('webhook_url = "https://x.example.org"\nwebhook_secret = "abc"\n')
    assert load_settings({"data_dir": tmp_path}, env={}).webhook_secret == "abc"
    with pytest.raises(ConfigError, match="webhook_secret"):
        load_settings({"data_dir": tmp_path}, env={"EVIDENCE_WEBHOOK_SECRET": ""})


def write_report(data_dir, **report) -> None:
    reports = data_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    body = {"run_id": "20261126T120000Z", "status": "success", "alerts": [], **report}
    (reports / f"refresh-{body['run_id']}.json").write_text(json.dumps(body))


SYNTHETIC_ALERT = {
    "pmid": "90000001",
    "claims": ["C03"],
    "what": "RETRACTED",
    "kinds": ["retracted"],
    "notices": [],
    "title": "SYNTHETIC trial",
}


def test_notify_sends_the_latest_runs_digest_once_and_dry_run_only_prints(
    tmp_path, monkeypatch, capsys
):
    data = tmp_path / "data"
    write_report(data, alerts=[SYNTHETIC_ALERT])
    with WebhookServer() as hook:
        for key, value in {**FAST, **hook.env()}.items():
            monkeypatch.setenv(key, value)
        assert main(["notify", "--dry-run", "--data-dir", str(data)]) == 0
        printed = capsys.readouterr().out
        assert "* Retracted: PMID 90000001, cited for C03" in printed and hook.requests == []
        assert main(["notify", "--data-dir", str(data)]) == 0
        assert capsys.readouterr().out == "webhook: sent 1 alert\n"
        assert main(["notify", "--data-dir", str(data)]) == 0  # the same run again
        assert capsys.readouterr().out == "nothing to send\n"
    assert [i["key"] for h in hook.accepted for i in h.body["items"]] == ["retracted:90000001"]


def test_smtp_server_down_is_reported_for_each_recipient(tmp_path):
    with SmtpServer(tmp_path) as smtp:
        env = smtp.env(["a@example.org", "b@example.org"])
    settings = settings_for(tmp_path, env)  # the server has stopped: nothing listens
    results = deliver(settings, digest(RETRACTED))
    assert [r.target for r in results] == ["email:a@example.org", "email:b@example.org"]
    assert all(r.error.startswith("cannot reach 127.0.0.1:") and r.pending == 1 for r in results)


def test_a_damaged_ledger_is_reported_and_never_fails_or_resets(tmp_path):
    from evidence.notify import notify_after_run

    with WebhookServer() as hook:
        settings = settings_for(tmp_path, hook.env())
        path = ledger_path(settings.data_dir)
        path.parent.mkdir(parents=True)
        path.write_text("{not json")
        [entry] = notify_after_run(settings, {"run_id": "R2", "status": "failed", "error": "x"})
    assert entry["error"].startswith(f"alerts not sent: {path}: the alert ledger cannot be read")
    assert hook.requests == [] and path.read_text() == "{not json"


def test_the_readme_signature_check_accepts_a_real_delivery_and_refuses_a_forgery(tmp_path):
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    snippet = readme.split("Verifying the signature in Python:", 1)[1]
    snippet = snippet.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)  # the README's own code, as a clinic would paste it
    verify = namespace["verify"]
    with WebhookServer() as hook:
        deliver(settings_for(tmp_path, hook.env()), digest(RETRACTED))
    [got] = hook.accepted
    assert verify(WEBHOOK_SECRET, got.headers, got.raw)
    assert not verify(WEBHOOK_SECRET, got.headers, got.raw.replace(b"90000001", b"90000002"))
    assert not verify("another-secret", got.headers, got.raw)
    stale = {
        **got.headers,
        "X-Evidence-Timestamp": str(int(got.headers["X-Evidence-Timestamp"]) - 3600),
    }
    assert not verify(WEBHOOK_SECRET, stale, got.raw)


def test_a_dead_webhook_is_retried_and_its_secret_path_never_logged(tmp_path, caplog):
    url = f"http://127.0.0.1:{free_port()}/services/T000/SECRET-PATH-TOKEN"  # nothing listens
    settings = settings_for(
        tmp_path,
        {"EVIDENCE_WEBHOOK_URL": url, "EVIDENCE_WEBHOOK_SECRET": WEBHOOK_SECRET},
    )
    with caplog.at_level("WARNING", logger="urllib3"):
        [result] = deliver(settings, digest(RETRACTED))
    retries = [r for r in caplog.records if "Retrying" in r.getMessage()]
    assert len(retries) == 4  # webhook_retries by default
    assert result.error.startswith("webhook unreachable after 4 retries (NewConnectionError")
    assert "SECRET-PATH-TOKEN" not in caplog.text + result.error
    assert result.pending == 1
