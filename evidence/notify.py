"""Deliver a digest through every configured channel, once per alert and target.

Each target (one e-mail recipient, or the webhook) gets the digest's items it has not had yet
plus the items whose delivery to it failed before; what is sent is recorded in the ledger,
what fails stays pending there and is retried by the next run (and reported, never dropped).
A delivery problem never raises: it comes back as text for the run report and stderr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from .alert_ledger import locked_ledger, target_state
from .channels import email_message, post_webhook, send_emails
from .digest import AlertItem, Digest, build_digest, notify_test_digest
from .digest_render import render_html, render_text, subject, webhook_body
from .labels import count
from .settings import Settings
from .transport import redact


@dataclass(frozen=True)
class Delivery:
    target: str  # "email:<address>" or "webhook"
    sent: int  # alerts delivered now
    error: str = ""  # "" when delivered
    pending: int = 0  # alerts waiting for the next run at this target

    def describe(self) -> str:
        where = self.target.replace("email:", "e-mail to ", 1)
        if self.error:
            kept = count(self.pending, "alert")
            return f"{where}: failed ({self.error}); {kept} kept for the next run"
        return f"{where}: sent {count(self.sent, 'alert')}"


def targets(settings: Settings) -> list[str]:
    out = [f"email:{r}" for r in settings.alert_recipients]
    return out + (["webhook"] if settings.webhook_url else [])


def digest_for_run(
    settings: Settings, report: Mapping[str, Any], now: pd.Timestamp | None = None
) -> Digest:
    """The digest of a run, from its report and the store as it is now (a store that cannot
    be read, e.g. after a failed first build, leaves only the report's own items)."""
    from .levels import load_rubric
    from .store import Store

    now = now or pd.Timestamp.now(tz="UTC").floor("s")
    tables: dict[str, pd.DataFrame | None] = {"links": None, "verdicts": None, "runs": None}
    try:
        if (settings.store_dir / "manifest.json").exists():
            snap = Store.open(settings.store_dir).snapshot()
            tables = {name: snap[name] for name in tables}
    except Exception:  # noqa: BLE001 - the digest must still go out (the failure is its news)
        pass
    return build_digest(
        report, **tables, rubric=load_rubric(), now=now, stale_days=settings.alert_stale_days
    )


def deliver(settings: Settings, digest: Digest, *, record: bool = True) -> list[Delivery]:
    """Send ``digest`` (and earlier failures) to every target. ``record=False`` (the test
    message) neither consults nor changes the ledger."""
    chosen = targets(settings)
    if not chosen:
        return []
    if not record:
        return _send(settings, digest, {t: list(digest.items) for t in chosen})
    with locked_ledger(settings.data_dir) as ledger:
        plan: dict[str, list[AlertItem]] = {}
        for target in chosen:
            state = target_state(ledger, target)
            items = {k: AlertItem.from_dict(v) for k, v in state["pending"].items()}
            items.update({i.key: i for i in digest.items if i.key not in state["delivered"]})
            todo = sorted(items.values(), key=lambda i: (i.urgency, i.claim_ids, i.key))
            if todo or (settings.alert_always and not digest.items):
                plan[target] = todo
        results = _send(settings, digest, plan)
        now = pd.Timestamp.now(tz="UTC").isoformat()
        for result in results:
            state = target_state(ledger, result.target)
            for item in plan[result.target]:
                if result.error:
                    state["pending"][item.key] = item.to_dict()
                else:
                    state["delivered"][item.key] = now
                    state["pending"].pop(item.key, None)
            state["last_error"] = result.error
            state["last_attempt"] = now
    return results


def _send(
    settings: Settings, digest: Digest, plan: Mapping[str, list[AlertItem]]
) -> list[Delivery]:
    emails = {
        t.split(":", 1)[1]: email_message(
            settings,
            t.split(":", 1)[1],
            subject(digest, items),
            render_text(digest, items, settings.dashboard_url),
            render_html(digest, items, settings.dashboard_url),
        )
        for t, items in plan.items()
        if t.startswith("email:")
    }
    errors = {f"email:{r}": e for r, e in send_emails(settings, emails).items()}
    if "webhook" in plan:
        body = webhook_body(digest, plan["webhook"], settings.dashboard_url)
        errors["webhook"] = post_webhook(settings, body)
    return [
        Delivery(
            target=t,
            sent=0 if errors[t] else len(items),
            error=redact(" ".join(errors[t].split()), settings),
            pending=len(items) if errors[t] else 0,
        )
        for t, items in plan.items()
    ]


def notify_after_run(
    settings: Settings, report: Mapping[str, Any], now: pd.Timestamp | None = None
) -> list[dict[str, Any]]:
    """The refresh's hook: deliver this run's digest; returns one entry per target for the
    report. Never raises: an alert that cannot go out must not fail (or undo) the refresh."""
    if not targets(settings):
        return []
    try:
        results = deliver(settings, digest_for_run(settings, report, now))
    except Exception as exc:  # noqa: BLE001 - reported; pending alerts stay in the ledger
        error = redact(" ".join(f"alerts not sent: {exc}".split()), settings)
        return [{"target": "all", "sent": 0, "error": error, "pending": 0, "text": error}]
    return [{**asdict(d), "text": d.describe()} for d in results]


def send_test(settings: Settings) -> list[Delivery]:
    """``evidence notify --test``: one test message through every configured channel."""
    return deliver(settings, notify_test_digest(pd.Timestamp.now(tz="UTC")), record=False)
