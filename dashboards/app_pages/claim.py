"""One claim: its verdict and why, the evidence table and pyramid, each study, history, curation."""

import altair as alt
import streamlit as st
import ui

from evidence import auth, brief, claim_view, history_view, labels, views
from evidence.errors import EvidenceError
from evidence.schema import CURATOR_STANCES

PAGE_SIZE = 20

ui.page("Claim")
snap = ui.require_snapshot()
root, version = ui.key(snap)
verdicts = ui.verdicts(root, version)
claim_ids = list(snap["claims"]["claim_id"])

choice = claim_view.choose_claim(
    st.query_params.get("claim"), st.session_state.get("claim_id"), claim_ids
)
if choice.claim_id is None:
    st.error(choice.error or "The store has no claims.")
    st.page_link(ui.PAGES["overview"], label="Back to the claims overview", icon="↩")
    st.stop()
index = claim_ids.index(choice.claim_id)
claim_id = st.selectbox(
    "Claim",
    claim_ids,
    index=index,
    format_func=lambda c: f"{c} — {verdicts[c].grade}",
)
st.session_state["claim_id"] = claim_id
st.query_params["claim"] = claim_id
ui.show_flash()

detail = views.claim_detail(snap, claim_id, verdicts[claim_id])
registry = views.load_registry(ui.data_dir())  # so an edit's "Verdict now" grades parts too
v = detail.verdict
ui.html_block(f"<h3>{ui.esc(detail.claim_id)}: {ui.esc(detail.statement)}</h3>")
ui.html_block(
    '<blockquote style="border-left:4px solid #ccc;padding-left:1em;color:#555">'
    f"{ui.esc(detail.quote)}</blockquote>"
)
topics = ", ".join(detail.topics)
st.caption(f"In {ui.md_label(detail.content_file)} · topics: {ui.md_label(topics)}")

c1, c2 = st.columns([1, 3])
with c1:
    ui.html_block(f'<div style="font-size:1.4em">{ui.badge(v.grade)}</div>')
    st.metric("Direction", labels.direction(v.direction), help=views.DIRECTION_HELP)
    st.metric("Certainty", v.certainty, help=views.CERTAINTY_HELP)
    st.metric("Score", f"{v.score} / 100", help=views.SCORE_HELP)
with c2:
    st.markdown(
        f"**Verdict: {v.grade}** · direction {labels.direction(v.direction)} · "
        f"certainty {v.certainty}"
    )
    if v.needs_review:
        st.warning(
            "Needs review: a machine-suggested stance says a study contradicts this claim. "
            "It does not count until a curator confirms it (see Studies below)."
        )
    st.markdown(ui.md_label(" ".join(v.plain)))
    with st.expander("Details: deciding studies, levels, gaps, what awaits review"):
        for line in v.details:
            st.markdown(f"- {claim_view.link_pmids(ui.md_label(line))}")
        st.caption(ui.md_label(views.levels_legend()))
        st.caption(ui.md_label(f"Rubric rule: {v.rule_text}"))

with st.container(border=True):
    share, download = st.columns([3, 2])
    link = claim_view.permalink(st.context.url or "", claim_id)
    share.markdown(
        "**Share**: this claim's page (the link opens it for anyone on the clinic's machine)"
    )
    share.code(link or ui.claim_href(claim_id), language=None)
    download.markdown("**Print**: the evidence brief, every deciding study cited in full")
    download.download_button(
        "Download the evidence brief (print-ready HTML)",
        brief.to_html(brief.build_brief(snap, verdicts, claim_id)),
        file_name=f"{claim_id}-evidence-brief.html",
        mime="text/html",
        key="claim_brief_html",
    )

if v.parts:
    st.subheader("Parts of this claim")
    st.caption(
        "The claim joins assertions that studies answer separately; it takes its weakest part's "
        "verdict. A study listed under no part bears on every part."
    )
    for part in v.parts:
        with st.container(border=True):
            ui.html_block(
                f"{ui.badge(part.grade)} <b>{ui.esc(part.part_id)}</b> {ui.esc(part.statement)}"
                f" · direction {ui.esc(labels.direction(part.direction))}"
                f" · certainty {ui.esc(part.certainty)}"
            )
            st.markdown(ui.md_label(" ".join(part.plain)))
            if part.deciding:
                st.caption("Deciding studies: " + claim_view.deciding_links(part.deciding))

st.subheader("Evidence")
ev = detail.evidence
if ev.empty:
    st.info(
        "No study is linked to this claim yet. Run `evidence refresh` to search PubMed"
        + (", or attach a PMID below." if ui.user().can_edit else ".")
    )
else:
    ui.table(
        claim_view.evidence_table(ev),
        key="evidence_table",
        config={
            "pubmed_url": ui.link("pmid", claim_view.PMID_FROM_URL, width="small"),
            "doi_url": ui.link("doi_url", "DOI", width="small"),
            "title": ui.text("title", width="large"),
            "level": ui.number("level", help="1 = strongest"),
            "stance_origin": ui.text(
                "stance_origin",
                help="curator = judged by a person (counts); machine = suggested (does not "
                "count until a curator confirms it)",
            ),
            "direct": st.column_config.CheckboxColumn(
                labels.label("direct"),
                help="Answers the claim's own question (an editor can change this)",
            ),
        },
    )
    st.caption(claim_view.studies_linked(ev))
    pyramid = claim_view.evidence_pyramid(ev)
    if len(pyramid):
        st.markdown("**Evidence pyramid**: studies per level, 1 = strongest")
        stances = [s for s in views.STANCE_COLOURS if s in set(pyramid["stance"])]
        chart = (
            alt.Chart(pyramid)
            .mark_bar()
            .encode(
                y=alt.Y(
                    "level_label:N",
                    title=None,
                    sort=list(dict.fromkeys(pyramid["level_label"])),  # 1 (strongest) on top
                    axis=alt.Axis(labelOverlap=False, labelLimit=0),
                ),
                x=alt.X("sum(studies):Q", title="Studies", axis=alt.Axis(tickMinStep=1)),
                color=alt.Color(
                    "stance:N",
                    title="Stance",
                    scale=alt.Scale(
                        domain=stances, range=[views.STANCE_COLOURS[s] for s in stances]
                    ),
                    legend=alt.Legend(orient="bottom"),
                ),
                order=alt.Order("stance_rank:Q"),
                tooltip=[
                    alt.Tooltip("level_label:N", title="Level"),
                    alt.Tooltip("stance:N", title="Stance"),
                    alt.Tooltip("studies:Q", title="Studies"),
                ],
            )
            .transform_calculate(
                stance_rank=f"indexof({list(views.STANCE_COLOURS)!r}, datum.stance)"
            )
            .properties(height=alt.Step(34))
        )
        st.altair_chart(chart, width="stretch")

    st.subheader("Studies")
    pages = max(1, -(-len(ev) // PAGE_SIZE))
    page = st.number_input("Page", 1, pages, 1) if pages > 1 else 1
    editor = ui.user().can_edit
    for row in ev.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE].itertuples(index=False):
        label = (
            f"PMID {row.pmid} · {row.year if row.year is not None else 'n.d.'} · {row.design} · "
            f"{row.stance} ({labels.ORIGINS.get(row.stance_origin, row.stance_origin)}) · "
            f"{row.title[:90]}"
        )
        with st.expander(ui.md_label(label)):
            ui.html_block(f"<b>{ui.esc(row.title)}</b> <i>{ui.esc(row.journal)}</i>")
            if row.retracted:
                st.error("This study is retracted; it does not count.")
            kind, text = views.study_text(row.abstract, row.note)
            if text:
                st.caption(kind + " — sentences most relevant to the claim highlighted")
                pieces = views.relevant_passages(detail.statement, text)
                ui.html_block(
                    "".join(
                        f'<mark style="background:#fff3b0">{ui.esc(p)}</mark>' if hit else ui.esc(p)
                        for p, hit in pieces
                    )
                )
            if row.abstract and row.note:
                st.caption("Curator's note")
                ui.html_block(ui.esc(row.note))
            if row.curator_note:
                st.caption("Editor's note")
                ui.html_block(f"<i>{ui.esc(row.curator_note)}</i>")
            if not row.direct:
                st.caption(ui.md_label(f"Indirect for this claim: {row.indirect_because}"))
            if row.stance_origin == "suggested":
                conf = "" if row.confidence is None else f" (confidence {row.confidence:.2f})"
                st.info(
                    f"Machine-suggested stance: {row.stance}{conf}. Not yet reviewed; it does "
                    "not count in the verdict until a curator confirms it."
                )
                if row.stance_evidence:
                    ui.html_block("<i>Driving sentences:</i> " + ui.esc(row.stance_evidence))
            links = f"[PubMed]({row.pubmed_url})"
            if row.doi_url:
                links += f" · [DOI]({row.doi_url})"
            st.markdown(links)
            acceptable = row.stance_origin == "suggested" and row.stance in CURATOR_STANCES
            if (
                editor
                and acceptable
                and st.button(f"Accept '{row.stance}'", key=f"accept_{row.pmid}")
            ):
                try:
                    nv = views.curate(
                        ui.store(),
                        ui.user(),
                        claim_id,
                        row.pmid,
                        stance=row.stance,
                        action=views.ACCEPT_SUGGESTION,
                        registry=registry,
                    )
                except (EvidenceError, ValueError) as e:
                    st.error(str(e))
                else:
                    ui.flash(
                        f"Accepted '{row.stance}' for PMID {row.pmid}. "
                        f"Verdict now: {nv.grade} ({nv.score})."
                    )
                    st.rerun()

st.subheader("Verdict history")
history = history_view.verdict_history(snap, claim_id)
if history.empty:
    st.caption("No stored verdicts yet: they are written by each refresh and each edit.")
else:
    st.dataframe(
        history[history_view.HISTORY_COLUMNS].iloc[::-1],
        hide_index=True,
        width="stretch",
        key="history_table",
        column_config={"What happened": st.column_config.TextColumn(width="large")},
    )
    st.caption("Newest first. Refreshes that changed nothing for this claim are not listed.")
    scored = history.dropna(subset=["score"])
    if len(scored) > 1:
        st.line_chart(scored.set_index("at")["score"], x_label="When", y_label="Score")

st.subheader("Curation")
who = ui.user()
if not who.can_edit:
    st.info("Sign in as an editor (sidebar) to set stances, add notes or attach studies.")
else:
    with st.form("curate"):
        options = list(ev["pmid"]) if len(ev) else []
        titles = dict(zip(ev["pmid"], ev["title"], strict=True)) if len(ev) else {}
        pmid = st.selectbox(
            "Study",
            options,
            format_func=lambda p: f"{p} — {titles.get(p, '')[:80]}",
            index=None,
            placeholder="Choose a linked study",
        )
        stance = st.radio("Stance", [*CURATOR_STANCES, "irrelevant"], horizontal=True)
        note = st.text_area(
            "Note (optional)",
            help="Your note is kept beside the study's curated summary; it never replaces it.",
        )
        c1, c2, c3 = st.columns(3)
        set_stance = c1.form_submit_button("Set stance")
        irrelevant = c2.form_submit_button("Mark irrelevant")
        save_note = c3.form_submit_button("Save note only")
    action = None
    if set_stance:
        action = dict(
            stance=stance,
            note=note or None,
            action=views.MARK_IRRELEVANT if stance == "irrelevant" else views.SET_STANCE,
        )
    elif irrelevant:
        action = dict(stance="irrelevant", note=note or None, action=views.MARK_IRRELEVANT)
    elif save_note:
        action = dict(note=note, action=views.ADD_NOTE)
    if action is not None:
        if pmid is None:
            st.error("Choose a study first.")
        else:
            try:
                nv = views.curate(ui.store(), who, claim_id, pmid, registry=registry, **action)
            except (EvidenceError, ValueError, auth.NotAllowed) as e:
                st.error(str(e))
            else:
                ui.flash(f"Saved for PMID {pmid}. Verdict now: {nv.grade} ({nv.score}).")
                st.rerun()

    with st.form("directness"):
        st.markdown(
            "**Directness**: does the study answer this claim's own question? (An indirect one "
            "counts one level lower and half as much, and can never make a claim Supported.)"
        )
        d_pmid = st.selectbox(
            "Study",
            options,
            format_func=lambda p: f"{p} — {titles.get(p, '')[:80]}",
            index=None,
            placeholder="Choose a linked study",
            key="directness_pmid",
        )
        d_choice = st.radio(
            "Directness", ["direct", "indirect"], horizontal=True, key="directness_choice"
        )
        d_because = st.text_input(
            "Indirect because (e.g. 'ECT, not TMS')", key="directness_because"
        )
        d_save = st.form_submit_button("Save directness")
    if d_save:
        if d_pmid is None:
            st.error("Choose a study first.")
        else:
            try:
                nv = views.set_directness(
                    ui.store(),
                    who,
                    claim_id,
                    d_pmid,
                    direct=d_choice == "direct",
                    because="" if d_choice == "direct" else d_because,
                    registry=registry,
                )
            except (EvidenceError, ValueError, auth.NotAllowed) as e:
                st.error(str(e))
            else:
                ui.flash(
                    f"Saved directness for PMID {d_pmid}. "
                    f"Verdict now: {nv.grade} ({nv.direction}, {nv.certainty} certainty)."
                )
                st.rerun()

    with st.form("attach", clear_on_submit=True):
        st.markdown("**Attach a PMID** to this claim (fetched from PubMed if not in the store)")
        pmid_text = st.text_input("PMID")
        attach_stance = st.selectbox("Stance", ["(assess later)", *CURATOR_STANCES])
        attach_note = st.text_input("Note (optional)", key="attach_note")
        attach = st.form_submit_button("Attach")
    if attach:
        try:
            nv = views.attach_pmid(
                ui.store(),
                who,
                claim_id,
                pmid_text,
                stance=None if attach_stance == "(assess later)" else attach_stance,
                note=attach_note or None,
                settings=ui.settings(),
                registry=registry,
            )
        except (EvidenceError, ValueError, auth.NotAllowed) as e:
            st.error(str(e))
        else:
            ui.flash(f"Attached PMID {views.parse_pmid(pmid_text)}. Verdict now: {nv.grade}.")
            st.rerun()

audit = history_view.audit_log(snap, claim_id)
if len(audit):
    label = f"Editors' actions on {claim_id} ({labels.count(len(audit), 'action')})"
    with st.expander(label):
        ui.audit_table(audit, key="claim_audit")
