"""Formatted references (AMA, Vancouver) to copy, and RIS / BibTeX / CSL-JSON / CSV downloads."""

import streamlit as st
import ui

from evidence import citations, views
from evidence.schema import CURATOR_STANCES

ui.page("Citations")
snap = ui.require_snapshot()
root, version = ui.key(snap)
verdicts = ui.verdicts(root, version)

chosen = st.session_state.get("cite_pmids")
source = st.radio(
    "Cite", ["A claim's studies", "Chosen studies"], horizontal=True, index=1 if chosen else 0
)
if source == "A claim's studies":
    claim_ids = list(snap["claims"]["claim_id"])
    default = st.session_state.get("claim_id")
    claim_id = st.selectbox(
        "Claim",
        claim_ids,
        index=claim_ids.index(default) if default in claim_ids else 0,
        format_func=lambda c: f"{c} — {verdicts[c].grade}",
    )
    stances = st.multiselect(
        "Stances", list(CURATOR_STANCES), default=["supports", "contradicts", "mixed"]
    )
    ev = views.claim_detail(snap, claim_id, verdicts[claim_id]).evidence
    pmids = list(ev.loc[ev["stance"].isin(stances), "pmid"])
    name = f"{claim_id}-references"
else:
    text = st.text_area(
        "PMIDs (one per line or comma-separated)", value="\n".join(chosen or []), height=120
    )
    pmids = [p for p in text.replace(",", "\n").split() if p.strip()]
    name = "references"

records = citations.select_records(views.columns(snap, "records", citations.RECORD_COLUMNS), pmids)
missing = sorted(set(pmids) - set(records["pmid"]))
if missing:
    st.warning("Not in the store: " + ", ".join(ui.md_label(m) for m in missing[:20]))
if records.empty:
    st.info("No studies selected. Pick a claim, or paste PMIDs of stored studies.")
    st.stop()

style = st.radio("Style", list(citations.STYLES), horizontal=True)
refs = citations.format_references(records, style)
st.caption(f"{len(refs)} references — use the copy button at the top right of each box")
st.code("\n".join(f"{i}. {r}" for i, r in enumerate(refs, 1)), language=None, wrap_lines=True)
with st.expander("One box per reference"):
    for r in refs:
        st.code(r, language=None, wrap_lines=True)

cols = st.columns(len(citations.EXPORTS))
for col, fmt in zip(cols, citations.EXPORTS, strict=True):
    data, ext, mime = citations.export(records, fmt)
    col.download_button(
        f"Download {fmt}", data, file_name=f"{name}.{ext}", mime=mime, key=f"download_{fmt}"
    )
