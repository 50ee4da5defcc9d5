"""The clinic's post with each claim's sentence in its verdict's colour; a claim opens its page."""

import streamlit as st
import ui

from evidence import views
from evidence.errors import EvidenceError

ui.page("Content view")
snap = ui.require_snapshot()
root, version = ui.key(snap)
verdicts = ui.verdicts(root, version)
content_dir = ui.data_dir() / "content"
posts = views.posts(snap, content_dir)
if not posts:
    st.info(f"No posts in {content_dir}. Put the clinic's Markdown or HTML posts there.")
    st.stop()

name = st.selectbox("Post", posts)
ui.legend()
try:
    segments = views.post_segments(snap, content_dir, name, verdicts)
except EvidenceError as e:
    st.error(str(e))
    st.stop()

parts = []
for text, claim_id, grade in segments:
    if claim_id is None:
        parts.append(ui.esc_prose(text))
        continue
    tint = views.GRADE_TINTS.get(grade or "", "#eee")
    colour = views.GRADE_COLOURS.get(grade or "", "#888")
    parts.append(
        f'<a href="{ui.claim_href(claim_id)}" target="_self" '
        f'style="text-decoration:none;color:inherit" title="{ui.esc(f"{claim_id}: {grade}")}">'
        f'<mark style="background:{tint};border-bottom:3px solid {colour};padding:0 2px">'
        f"{ui.esc(text)}<sup><b>&#160;{ui.esc(claim_id)}</b></sup></mark></a>"
    )
ui.html_block(
    '<div style="white-space:normal;line-height:1.7;max-width:60em">' + "".join(parts) + "</div>"
)

claims = [c for _, c, _ in segments if c]
if claims:
    st.divider()
    pick = st.selectbox(
        "Open a claim of this post",
        claims,
        format_func=lambda c: f"{c} — {verdicts[c].grade if c in verdicts else ''}",
        index=None,
        placeholder="Choose a claim",
    )
    if st.button("Open claim", disabled=pick is None) and pick:
        ui.open_claim(pick)
