"""What the outputs editors publish share: a print-ready HTML page, and where the evidence stands.

Briefs and posts with references are handed to people outside the tool (printed, attached,
pasted into a CMS), so each HTML file stands alone: inline print CSS, no scripts, no external
resources, and every piece of record or user text escaped by the caller. PDF is left to the
browser's "Print to PDF": the Python PDF writers that lay out HTML well need system libraries
(WeasyPrint: Pango), and the pure-Python ones would mean a second layout to maintain.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd

from .cells import as_text

PRINT_CSS = """
:root { color-scheme: light; }
body { font: 11pt/1.5 Georgia, "Times New Roman", serif; color: #111; max-width: 46em;
  margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; line-height: 1.25; margin: 0 0 0.4em; }
h2 { font-size: 1.25em; margin: 1.6em 0 0.4em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.3em; }
blockquote { margin: 0.8em 0; padding: 0.2em 1em; border-left: 3px solid #999; color: #333; }
dl.verdict { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; }
dl.verdict dt { font-weight: bold; }
dl.verdict dd { margin: 0; }
.flag { border: 1px solid #b35900; background: #fff4e5; padding: 0.4em 0.8em; }
ol.references li, ol.studies li { margin-bottom: 0.6em; }
.study-facts { color: #333; font-size: 0.95em; }
sup { line-height: 0; }
sup a, .cite a { text-decoration: none; color: inherit; }
a { color: #1a4f8b; }
footer { margin-top: 2em; font-size: 0.85em; color: #555; border-top: 1px solid #ccc; }
@page { size: A4; margin: 2cm 2cm 2.2cm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  a { color: inherit; }
  h2, h3 { break-after: avoid; }
  li, blockquote, .flag, dl.verdict { break-inside: avoid; }
}
""".strip()


def esc(text: object) -> str:
    """Record or user text as HTML text: no tag, entity or attribute of its own survives."""
    return html.escape("" if text is None else str(text), quote=True)


def html_page(title: str, body: str) -> str:
    """A standalone, print-ready HTML document; ``body`` must be built from escaped pieces."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>\n{PRINT_CSS}\n</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def evidence_as_of(tables: Mapping[str, pd.DataFrame]) -> str:
    """ "run default, 2026-11-26": the last successful store run, so a reader knows how current
    the evidence is; "" when the store has no such run."""
    runs = tables["runs"] if "runs" in tables else pd.DataFrame()
    if runs.empty or "status" not in runs.columns:
        return ""
    done = runs[runs["status"].eq("success")].sort_values("ended_at")
    if done.empty:
        return ""
    last = done.iloc[-1]
    when = pd.Timestamp(last["ended_at"]) if not pd.isna(last["ended_at"]) else None
    day = when.strftime("%Y-%m-%d") if when is not None else ""
    return ", ".join(p for p in (f"run {as_text(last['run_id'])}", day) if p)
