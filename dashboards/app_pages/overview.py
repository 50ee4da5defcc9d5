"""Every claim with its verdict, direction, certainty, counts and flags; filter, open, export."""

import streamlit as st
import ui

from evidence import views

ui.page("Claims overview")
snap = ui.require_snapshot()
root, version = ui.key(snap)
table = ui.overview(root, version)
verdicts = ui.verdicts(root, version)

ui.legend()
c1, c2, c3 = st.columns(3)
grades = c1.multiselect("Verdict", list(views.GRADE_COLOURS))
topics = c2.multiselect("Topic", sorted({t for ts in table["topics"] for t in ts.split(", ") if t}))
files = c3.multiselect("Content file", sorted(set(table["content_file"])))
shown = views.filter_overview(table, grades, topics, files)

counts = shown["verdict"].value_counts()
cols = st.columns(len(views.GRADE_COLOURS))
for col, grade in zip(cols, views.GRADE_COLOURS, strict=True):
    col.metric(grade, int(counts.get(grade, 0)))

st.caption(
    "Ordered by certainty of the evidence, then by whether a randomized or pooled study tests "
    "the claim directly, then by direction: a claim that no study tests directly never ranks "
    "above one with a direct trial. Only curator-confirmed studies count; machine suggestions "
    "are listed as awaiting review, and one that contradicts a claim flags it for review."
)
styled = shown.style.map(
    lambda g: f"background-color: {views.GRADE_TINTS.get(g, '')}", subset=["verdict"]
)
event = st.dataframe(
    styled,
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="single-row",
    key="overview_table",
    column_config={
        "claim_id": st.column_config.TextColumn("Claim"),
        "statement": st.column_config.TextColumn("Statement", width="large"),
        "topics": "Topics",
        "content_file": "Content file",
        "verdict": "Verdict",
        "direction": st.column_config.TextColumn("Direction", help=views.DIRECTION_HELP),
        "certainty": st.column_config.TextColumn("Certainty", help=views.CERTAINTY_HELP),
        "direct_evidence": st.column_config.TextColumn(
            "Best direct test", help="The strongest design that tests the claim directly"
        ),
        "needs_review": st.column_config.CheckboxColumn(
            "Needs review", help="A machine-suggested stance says a study contradicts the claim"
        ),
        "parts": st.column_config.NumberColumn("Parts", help="Separately graded parts"),
        "score": st.column_config.ProgressColumn(
            "Score", min_value=0, max_value=100, format="%d", help=views.SCORE_HELP
        ),
        "supporting": "Supporting",
        "contradicting": "Contradicting",
        "mixed": "Mixed",
        "best_level": st.column_config.NumberColumn("Best level", help="1 = strongest"),
        "newest_evidence": st.column_config.NumberColumn("Newest evidence", format="%d"),
        "cites_retracted": st.column_config.CheckboxColumn("Cites retracted"),
        "new_since_review": "New since review",
        "not_assessed": "Not assessed",
        "awaiting_review": st.column_config.NumberColumn(
            "Suggested, awaiting review", help="Machine-suggested stances: not counted yet"
        ),
        "flags": st.column_config.TextColumn("Flags", width="medium"),
    },
)
st.caption(f"{len(shown)} of {len(table)} claims. Select a row, or pick a claim below, to open it.")
st.download_button(
    "Download (CSV)",
    views.overview_export(shown, verdicts),
    file_name="claims-verdicts.csv",
    mime="text/csv",
)
rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
if rows:
    ui.open_claim(str(shown.iloc[rows[0]]["claim_id"]))

choice = st.selectbox(
    "Open claim",
    list(shown["claim_id"]),
    format_func=lambda c: f"{c} — {table.set_index('claim_id').at[c, 'statement'][:90]}",
    index=None,
    placeholder="Choose a claim",
)
if st.button("Open", disabled=choice is None) and choice:
    ui.open_claim(choice)
