"""Formatted references (AMA, Vancouver) to copy, RIS / BibTeX / CSL-JSON / CSV downloads, and
what editors publish: a claim's evidence brief and a post with its references."""

import streamlit as st
import ui

from evidence import brief, citations, cited_post, labels, views
from evidence.content import read_post
from evidence.schema import CURATOR_STANCES

ui.page("Citations")
snap = ui.require_snapshot()
root, version = ui.key(snap)
verdicts = ui.verdicts(root, version)
claim_ids = list(snap["claims"]["claim_id"])

OUTPUTS = ["References", "Evidence brief (a claim)", "Post with references"]
output = st.selectbox("Output", OUTPUTS, key="cite_output")

if output == OUTPUTS[1]:
    default = st.session_state.get("claim_id")
    claim_id = st.selectbox(
        "Claim",
        claim_ids,
        index=claim_ids.index(default) if default in claim_ids else 0,
        format_func=lambda c: f"{c} — {verdicts[c].grade}",
        key="brief_claim",
    )
    style = st.radio("Style", list(citations.STYLES), horizontal=True, key="brief_style")
    the_brief = brief.build_brief(snap, verdicts, claim_id, style)
    text = brief.to_markdown(the_brief)
    md_col, html_col = st.columns(2)
    md_col.download_button(
        "Download brief (.md)",
        text,
        file_name=f"{claim_id}-evidence-brief.md",
        mime="text/markdown",
        key="download_brief_md",
    )
    html_col.download_button(
        "Download brief (.html, print-ready)",
        brief.to_html(the_brief),
        file_name=f"{claim_id}-evidence-brief.html",
        mime="text/html",
        key="download_brief_html",
    )
    st.caption("Open the HTML file in a browser and print it (or save it as PDF).")
    st.code(text, language="markdown", wrap_lines=True)
    st.stop()

if output == OUTPUTS[2]:
    content_dir = ui.data_dir() / "content"
    names = views.posts(snap, content_dir)
    if not names:
        st.info(f"No posts in {content_dir}. Put the clinic's Markdown or HTML posts there.")
        st.stop()
    name = st.selectbox("Post", names, key="post_name")
    style = st.radio("Style", list(citations.STYLES), horizontal=True, key="post_style")
    cited = cited_post.cite_post(snap, verdicts, read_post(content_dir / name), style)
    stem = name.rsplit(".", 1)[0]
    st.caption(
        f"{labels.count(len(cited.references), 'reference')} cited after the supported claims; "
        f"{labels.count(len(cited.review), 'claim')} to reword or review before publishing."
    )
    md_col, html_col = st.columns(2)
    md_col.download_button(
        "Download post with references (.md)",
        cited_post.to_markdown(cited),
        file_name=f"{stem}-with-references.md",
        mime="text/markdown",
        key="download_post_md",
    )
    html_col.download_button(
        "Download post with references (.html, print-ready)",
        cited_post.to_html(cited),
        file_name=f"{stem}-with-references.html",
        mime="text/html",
        key="download_post_html",
    )
    if cited.review:
        st.subheader("Claims to reword or review")
        review = cited_post.review_table(cited)
        review["claim"] = [ui.claim_href(c) for c in review["claim"]]
        ui.table(
            review,
            key="review_table",
            config={
                "claim": ui.link("claim", r"claim=(\w+)$", width="small"),
                "what to do": ui.text("what to do", width="medium"),
                "sentence": ui.text("sentence", width="large"),
            },
        )
    st.stop()

chosen = st.session_state.get("cite_pmids")
source = st.radio(
    "Cite", ["A claim's studies", "Chosen studies"], horizontal=True, index=1 if chosen else 0
)
if source == "A claim's studies":
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
st.caption(
    f"{labels.count(len(refs), 'reference')} — use the copy button at the top right of each box"
)
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
