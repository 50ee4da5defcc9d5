"""The digest in words people read (e-mail text and HTML) and as the webhook's JSON body."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from .digest import KIND_LABELS, AlertItem, Digest

WEBHOOK_SCHEMA = "evidence-alerts"
WEBHOOK_VERSION = 1
MAX_LINKED = 10  # studies linked per alert in an e-mail (a first run can add hundreds)


def pubmed_url(pmid: str) -> str:
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"


def claim_url(dashboard_url: str, claim_id: str) -> str:
    """The dashboard's claim page (``/claim?claim=C03``); "" without a dashboard address."""
    return f"{dashboard_url.rstrip('/')}/claim?claim={quote(claim_id)}" if dashboard_url else ""


def summary(items: Sequence[AlertItem]) -> str:
    """E.g. "3 alerts: 1 Retracted, 2 Verdict changed"."""
    if not items:
        return "Nothing changed"
    counts = Counter(i.kind for i in items)
    parts = [f"{n} {KIND_LABELS[k]}" for k, n in sorted(counts.items(), key=lambda kv: _rank(kv))]
    return f"{len(items)} alert{'s' if len(items) != 1 else ''}: {', '.join(parts)}"


def _rank(kv: tuple[str, int]) -> int:
    return list(KIND_LABELS).index(kv[0])


def subject(digest: Digest, items: Sequence[AlertItem]) -> str:
    if digest.run_status == "test":
        return "Evidence tracker: test message"
    return f"Evidence tracker: {summary(items)} (refresh {digest.run_id})"


def render_text(digest: Digest, items: Sequence[AlertItem], dashboard_url: str) -> str:
    lines = [_heading(digest), ""]
    if not items:
        lines.append("Nothing changed in this refresh.")
    for item in items:
        lines.append(f"* {item.headline}")
        if item.detail:
            lines.append(f"  {item.detail}")
        for claim_id in item.claim_ids:
            url = claim_url(dashboard_url, claim_id)
            if url:
                lines.append(f"  Claim {claim_id}: {url}")
        for pmid in item.pmids[:MAX_LINKED]:
            lines.append(f"  PMID {pmid}: {pubmed_url(pmid)}")
        if len(item.pmids) > MAX_LINKED:
            lines.append(f"  and {len(item.pmids) - MAX_LINKED} more (see the dashboard)")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_html(digest: Digest, items: Sequence[AlertItem], dashboard_url: str) -> str:
    rows = []
    for item in items:
        links = [
            _a(claim_url(dashboard_url, c), f"Claim {c}") if dashboard_url else escape(c)
            for c in item.claim_ids
        ]
        links += [_a(pubmed_url(p), f"PMID {p}") for p in item.pmids[:MAX_LINKED]]
        if len(item.pmids) > MAX_LINKED:
            links.append(escape(f"and {len(item.pmids) - MAX_LINKED} more (see the dashboard)"))
        rows.append(
            "<li><strong>"
            + escape(item.label)
            + "</strong>"
            + escape(item.separator + item.title)
            + (f"<br>{escape(item.detail)}" if item.detail else "")
            + (f"<br>{' · '.join(links)}" if links else "")
            + "</li>"
        )
    body = f"<ul>{''.join(rows)}</ul>" if rows else "<p>Nothing changed in this refresh.</p>"
    return (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<h2>{escape(_heading(digest))}</h2>{body}</body></html>"
    )


def _a(url: str, text: str) -> str:
    return f'<a href="{escape(url, quote=True)}">{escape(text)}</a>'


def _heading(digest: Digest) -> str:
    if digest.run_status == "test":
        return "Evidence tracker: test message"
    return f"Evidence tracker: refresh {digest.run_id} ({digest.run_status})"


def delivery_id(target: str, items: Sequence[AlertItem], digest: Digest) -> str:
    """The same for a retry of the same alerts to the same target: receivers can dedupe on it."""
    keys = sorted(i.key for i in items) or [f"run:{digest.run_id}:{digest.generated_at}"]
    return hashlib.sha256("\n".join([target, *keys]).encode()).hexdigest()[:32]


def webhook_body(
    digest: Digest, items: Sequence[AlertItem], dashboard_url: str, target: str = "webhook"
) -> dict[str, Any]:
    """The JSON the webhook receives (schema in README "Alerts")."""
    return {
        "schema": WEBHOOK_SCHEMA,
        "version": WEBHOOK_VERSION,
        "delivery_id": delivery_id(target, items, digest),
        "test": digest.run_status == "test",
        "run_id": digest.run_id,
        "run_status": digest.run_status,
        "generated_at": digest.generated_at,
        "text": summary(items) if digest.run_status != "test" else "Test message",
        "items": [
            {
                **item.to_dict(),
                "claim_urls": [claim_url(dashboard_url, c) for c in item.claim_ids]
                if dashboard_url
                else [],
                "pubmed_urls": [pubmed_url(p) for p in item.pmids],
            }
            for item in items
        ],
    }
