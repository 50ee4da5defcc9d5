"""The refresh runs, their reports, and what changed in each."""

import streamlit as st
import ui

from evidence import views

ui.page("Refresh history")
snap = ui.require_snapshot()
runs = views.runs_table(snap)
if runs.empty:
    st.info("No runs yet. Run `evidence refresh` (or `evidence build-default`) to record one.")
    st.stop()

st.dataframe(runs, hide_index=True, width="stretch", key="runs_table")
run_id = st.selectbox("Run", list(runs["run_id"]))
run = runs.set_index("run_id").loc[run_id]
changes = views.run_changes(snap, run_id)
c1, c2, c3 = st.columns(3)
c1.metric("Records changed", len(changes.record_changes))
c2.metric("Verdicts changed", len(changes.verdict_changes))
c3.metric("New links", changes.new_links)
if run["error"]:
    st.error(f"Error: {run['error']}")

st.subheader("Verdict changes")
if changes.verdict_changes.empty:
    st.caption("No verdict changed in this run.")
else:
    st.dataframe(changes.verdict_changes, hide_index=True, width="stretch", key="verdict_changes")
st.subheader("Record changes")
if changes.record_changes.empty:
    st.caption("No stored record changed in this run.")
else:
    st.dataframe(changes.record_changes, hide_index=True, width="stretch", key="record_changes")

st.subheader("Report")
report = views.run_report(str(run["report_path"] or ""), ui.data_dir())
if report is None:
    st.caption("This run wrote no report.")
else:
    st.code(report, language="markdown", wrap_lines=True)

audit = views.audit_log(snap)
st.subheader("Curator actions")
if audit.empty:
    st.caption("No curator action yet.")
else:
    st.dataframe(audit, hide_index=True, width="stretch", key="audit_table")
