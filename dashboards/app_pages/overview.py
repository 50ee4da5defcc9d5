"""Which claims are well supported, which are weak, which need attention: all on the first screen,
each row a link to its claim; below it, filters, every figure and the CSV export."""

import streamlit as st
import ui

from evidence import labels, overview_view, views

ui.page("Claims overview")
snap = ui.require_snapshot()
root, version = ui.key(snap)
table = ui.overview(root, version)
verdicts = ui.verdicts(root, version)
screen = overview_view.first_screen(table)

STATUS_MARK = {
    overview_view.ATTENTION: "&#9888;&#160;",  # ⚠
    overview_view.WEAK: "&#9660;&#160;",  # ▼
    overview_view.SUPPORTED: "&#10003;&#160;",  # ✓
}


def status(standing: str) -> str:
    colour = overview_view.STANDING_COLOURS[standing]
    return (
        f'<span style="color:{colour};font-weight:600" '
        f'title="{ui.esc(overview_view.STANDING_HELP[standing])}">'
        f"{STATUS_MARK[standing]}{ui.esc(standing)}</span>"
    )


cell = "padding:3px 8px;vertical-align:top;border-bottom:1px solid #e4e7ea"
head = ["claim_id", "statement", "verdict", "certainty", "standing", "attention"]
with_attention = screen["attention"].ne("").any()  # no empty column when nothing needs it
if not with_attention:
    head.remove("attention")
rows = []
for r in screen.itertuples(index=False):
    href = ui.claim_href(r.claim_id)
    edge = overview_view.STANDING_COLOURS[r.standing]
    rows.append(
        f'<tr data-claim="{ui.esc(r.claim_id)}">'
        f'<td style="{cell};border-left:4px solid {edge};white-space:nowrap">'
        f'<a href="{href}" target="_self"><b>{ui.esc(r.claim_id)}</b></a></td>'
        f'<td style="{cell}"><a href="{href}" target="_self" '
        f'style="color:inherit;text-decoration:none">{ui.esc(r.statement)}</a></td>'
        f'<td style="{cell};white-space:nowrap">{ui.badge(r.verdict)}</td>'
        f'<td style="{cell};white-space:nowrap">{ui.esc(r.certainty)}</td>'
        f'<td style="{cell};white-space:nowrap">{status(r.standing)}</td>'
        + (f'<td style="{cell};color:#b42318">{ui.esc(r.attention)}</td>' if with_attention else "")
        + "</tr>"
    )
header = "".join(
    f'<th style="{cell};text-align:left;font-weight:600">{ui.esc(labels.label(c))}</th>'
    for c in head
)
ui.html_block(
    f'<p style="margin:0 0 0.4em">{ui.esc(overview_view.standing_counts(screen))}: '
    "attention first, then from the weakest evidence to the strongest.</p>"
    '<table style="width:100%;border-collapse:collapse;font-size:0.9em;line-height:1.35">'
    f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
)

st.subheader("Filter and compare")
ui.legend()
c1, c2, c3 = st.columns(3)
grades = c1.multiselect("Verdict", list(views.GRADE_COLOURS))
topics = c2.multiselect("Topic", sorted({t for ts in table["topics"] for t in ts.split(", ") if t}))
files = c3.multiselect("Post", sorted(set(table["content_file"])))
shown = overview_view.filter_overview(table, grades, topics, files)
st.caption(
    f"{len(shown)} of {labels.count(len(table), 'claim')}, ordered by certainty of the evidence, "
    "then by whether a randomized or pooled study tests the claim directly, then by direction. "
    "Only curator-confirmed studies count; machine suggestions are listed as awaiting review."
)
ui.table(
    overview_view.detail_table(shown),
    key="overview_table",
    height=35 * (len(shown) + 1) + 3,  # every claim without scrolling inside the table
    config={
        "claim_link": ui.link("claim_id", r"claim=(\w+)$"),
        "statement": ui.text("statement", width="large"),
        "direction": ui.text("direction", help=views.DIRECTION_HELP),
        "certainty": ui.text("certainty", help=views.CERTAINTY_HELP),
        "direct_evidence": ui.text(
            "direct_evidence", help="The strongest design that tests the claim directly"
        ),
        "score": ui.number("score", help=views.SCORE_HELP),
        "best_level": ui.number("best_level", help="1 = strongest"),
        "flags": ui.text("flags", width="medium"),
    },
)
st.download_button(
    "Download (CSV)",
    overview_view.overview_export(shown, verdicts),
    file_name="claims-verdicts.csv",
    mime="text/csv",
)
