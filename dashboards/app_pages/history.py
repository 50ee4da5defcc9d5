"""The refresh runs, their reports, what changed in each, and the editors' actions."""

import streamlit as st
import ui

from evidence import claim_view, history_view, labels, views

ui.page("Refresh history")
snap = ui.require_snapshot()
runs = history_view.runs_table(snap)
if runs.empty:
    st.info("No runs yet. Run `evidence refresh` (or `evidence build-default`) to record one.")
    st.stop()

st.dataframe(runs, hide_index=True, width="stretch", key="runs_table")
run_id = st.selectbox(
    "Run",
    list(runs["Run"]),
    format_func=lambda r: (
        f"{r} — {runs.set_index('Run').at[r, 'Kind']}, "
        f"{runs.set_index('Run').at[r, 'Started (UTC)']}"
    ),
)
run = runs.set_index("Run").loc[run_id]
changes = history_view.run_changes(snap, run_id)
c1, c2, c3 = st.columns(3)
c1.metric("Records changed", len(changes.record_changes))
c2.metric("Verdicts changed", len(changes.verdict_changes))
c3.metric("New links", changes.new_links)
if run["Problem"]:
    st.error(f"Problem: {run['Problem']}")

st.subheader("Verdict changes")
if changes.verdict_changes.empty:
    st.caption("No verdict changed in this run.")
else:
    st.dataframe(
        changes.verdict_changes.assign(
            Claim=changes.verdict_changes["Claim"].map(claim_view.claim_path)
        ),
        hide_index=True,
        width="stretch",
        key="verdict_changes",
        column_config={"Claim": st.column_config.LinkColumn("Claim", display_text=r"claim=(\w+)$")},
    )
st.subheader("Record changes")
if changes.record_changes.empty:
    st.caption("No stored record changed in this run.")
else:
    st.dataframe(
        changes.record_changes.assign(
            PMID=changes.record_changes["PMID"].map(views.PUBMED_URL.format)
        ),
        hide_index=True,
        width="stretch",
        key="record_changes",
        column_config={"PMID": st.column_config.LinkColumn("PMID", display_text=r"/(\d+)/$")},
    )

st.subheader("Report")
report = history_view.run_report(history_view.run_report_path(snap, run_id), ui.data_dir())
if report is None:
    st.caption("This run wrote no report.")
else:
    st.code(report, language="markdown", wrap_lines=True)

audit = history_view.audit_log(snap)
st.subheader("Editors' actions")
if audit.empty:
    st.caption("No editor has changed anything yet.")
else:
    st.caption(f"{labels.count(len(audit), 'action')}, newest first.")
    ui.audit_table(audit, key="audit_table")
