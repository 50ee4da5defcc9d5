"""The clinic's post with each claim's sentence in its verdict's colour; a claim opens its page.

Below it, the wording check for editors (`evidence.wording`): each claim whose sentence is
worded more strongly than its evidence is marked in the post and listed with the reason and a
suggested rewording to copy.
"""

import streamlit as st
import ui

from evidence import labels, views, wording
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

try:
    registry = views.load_registry(ui.data_dir())
    checks = wording.check_post(verdicts, registry, name) if registry is not None else []
except EvidenceError as e:
    st.error(f"Wording check unavailable: {e}")
    checks = []
flagged = {c.claim_id: c for c in checks if c.flagged}

parts = []
line_start = True
for text, claim_id, grade in segments:
    starts_line, line_start = line_start, text.endswith("\n")
    if claim_id is None:
        parts.append(ui.esc_prose(text, line_start=starts_line))
        continue
    tint = views.GRADE_TINTS.get(grade or "", "#eee")
    colour = views.GRADE_COLOURS.get(grade or "", "#888")
    flag = "&#160;&#9873;" if claim_id in flagged else ""  # ⚑: worded beyond its evidence
    hint = f"{claim_id}: {grade}" + (" — wording stronger than the evidence" if flag else "")
    parts.append(
        f'<a href="{ui.claim_href(claim_id)}" target="_self" '
        f'style="text-decoration:none;color:inherit" title="{ui.esc(hint)}">'
        f'<mark style="background:{tint};border-bottom:3px solid {colour};padding:0 2px">'
        f"{ui.esc(text)}<sup><b>&#160;{ui.esc(claim_id)}{flag}</b></sup></mark></a>"
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

if checks:
    st.divider()
    st.subheader("Wording check for editors")
    st.caption(
        "Each claim's sentence against its verdict and certainty. A flag (⚑ in the post) means "
        "the sentence says more than the evidence allows; the suggested wording stays within "
        "the evidence and cites the PMIDs it leans on. Rules: evidence/wording.yaml; the same "
        "check before publishing: `evidence check-wording`."
    )
    st.markdown(
        f"**{len(flagged)} of {labels.count(len(checks), 'claim')}** "
        f"{'is' if len(flagged) == 1 else 'are'} worded more strongly than the evidence."
    )
    show_ok = st.toggle("Show the claims whose wording fits too", key="wording_show_ok")
    for c in checks:
        if not c.flagged and not show_ok:
            continue
        colour = "#b42318" if c.flagged else "#1a7f37"
        with st.container(border=True):
            ui.html_block(
                f'<b style="color:{colour}">{ui.esc(c.claim_id)} {c.status}</b> '
                f"{ui.badge(c.grade)} <small>{ui.esc(c.certainty)} certainty · wording: "
                f"{ui.esc(c.strength)} · strongest allowed: {ui.esc(c.allowed)}</small>"
            )
            ui.html_block(
                '<div style="border-left:3px solid #d0d7de;padding-left:0.6em;font-style:italic">'
                f"{ui.esc(c.sentence or '(its sentence is not in this post)')}</div>"
            )
            ui.html_block(ui.esc(c.reason))
            if c.suggestion:
                st.caption("Suggested wording (the button at its top right copies it):")
                st.code(c.suggestion, language=None, wrap_lines=True)
