"""One claim: its verdict and why, the evidence table and pyramid, each study, history, curation."""

import altair as alt
import streamlit as st
import ui

from evidence import auth, history_view, views
from evidence.errors import EvidenceError
from evidence.schema import CURATOR_STANCES

PAGE_SIZE = 20

ui.page("Claim")
snap = ui.require_snapshot()
root, version = ui.key(snap)
verdicts = ui.verdicts(root, version)
claim_ids = list(snap["claims"]["claim_id"])

wanted = st.query_params.get("claim") or st.session_state.get("claim_id")
index = claim_ids.index(wanted) if wanted in claim_ids else 0
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
    st.metric("Direction", v.direction, help=views.DIRECTION_HELP)
    st.metric("Certainty", v.certainty, help=views.CERTAINTY_HELP)
    st.metric("Score", f"{v.score} / 100", help=views.SCORE_HELP)
with c2:
    st.markdown(f"**Verdict: {v.grade}** · direction {v.direction} · certainty {v.certainty}")
    if v.needs_review:
        st.warning(
            "Needs review: a machine-suggested stance says a study contradicts this claim. "
            "It does not count until a curator confirms it (see Studies below)."
        )
    st.markdown(ui.md_label(" ".join(v.plain)))
    with st.expander("Details: deciding studies, levels, gaps, what awaits review"):
        for line in v.details:
            st.markdown(f"- {ui.md_label(line)}")
        st.caption(ui.md_label(views.levels_legend()))
        st.caption(ui.md_label(f"Rubric rule ({v.rule}): {v.rule_text}"))

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
                f" · direction {ui.esc(part.direction)} · certainty {ui.esc(part.certainty)}"
            )
            st.markdown(ui.md_label(" ".join(part.plain)))
            if part.deciding:
                st.caption(
                    "Deciding studies: "
                    + ", ".join(f"PMID {s.pmid} ({s.stance})" for s in part.deciding)
                )

st.subheader("Evidence")
ev = detail.evidence
if ev.empty:
    st.info(
        "No study is linked to this claim yet. Run `evidence refresh` to search PubMed"
        + (", or attach a PMID below." if ui.user().can_edit else ".")
    )
else:
    st.dataframe(
        ev[
            [
                "pmid",
                "title",
                "year",
                "design",
                "level",
                "n",
                "stance",
                "stance_origin",
                "direct",
                "indirect_because",
                "relevance",
                "retracted",
                "deciding",
                "pubmed_url",
                "doi_url",
            ]
        ],
        hide_index=True,
        width="stretch",
        key="evidence_table",
        column_config={
            "pmid": "PMID",
            "title": st.column_config.TextColumn("Study", width="large"),
            "year": st.column_config.NumberColumn("Year", format="%d"),
            "design": "Design",
            "level": st.column_config.NumberColumn("Level", help="1 = strongest"),
            "n": st.column_config.NumberColumn("n", format="%d"),
            "stance": "Stance",
            "stance_origin": st.column_config.TextColumn(
                "Stance origin",
                help="curator = judged by a person (counts); suggested = by the machine (does "
                "not count until a curator confirms it)",
            ),
            "direct": st.column_config.CheckboxColumn(
                "Direct", help="Answers the claim's own question (an editor can change this)"
            ),
            "indirect_because": st.column_config.TextColumn("Indirect because"),
            "relevance": st.column_config.NumberColumn("Relevance", format="%.2f"),
            "retracted": st.column_config.CheckboxColumn("Retracted"),
            "deciding": st.column_config.CheckboxColumn("Deciding"),
            "pubmed_url": st.column_config.LinkColumn("PubMed", display_text="PubMed"),
            "doi_url": st.column_config.LinkColumn("DOI", display_text="DOI"),
        },
    )
    st.caption(f"{len(ev)} studies linked")
    pyramid = views.evidence_pyramid(ev)
    if len(pyramid):
        stances = [s for s in views.STANCE_COLOURS if s in set(pyramid["stance"])]
        chart = (
            alt.Chart(pyramid)
            .mark_bar()
            .encode(
                y=alt.Y(
                    "level:O",
                    title="Evidence level (1 = strongest)",
                    sort="ascending",
                    axis=alt.Axis(labelOverlap=False),
                ),
                x=alt.X("studies:Q", title="Studies", axis=alt.Axis(tickMinStep=1)),
                color=alt.Color(
                    "stance:N",
                    scale=alt.Scale(
                        domain=stances, range=[views.STANCE_COLOURS[s] for s in stances]
                    ),
                ),
                tooltip=["level", "stance", "studies"],
            )
            .properties(height=60 + 40 * pyramid["level"].nunique(), title="Evidence pyramid")
        )
        st.altair_chart(chart, width="stretch")

    st.subheader("Studies")
    pages = max(1, -(-len(ev) // PAGE_SIZE))
    page = st.number_input("Page", 1, pages, 1) if pages > 1 else 1
    editor = ui.user().can_edit
    for row in ev.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE].itertuples(index=False):
        label = (
            f"PMID {row.pmid} · {row.year if row.year is not None else 'n.d.'} · {row.design} · "
            f"{row.stance} ({row.stance_origin}) · {row.title[:90]}"
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
    label = f"Editors' actions on {claim_id} ({history_view.plural(len(audit), 'action')})"
    with st.expander(label):
        st.dataframe(
            audit,
            hide_index=True,
            width="stretch",
            key="claim_audit",
            column_config={"What happened": st.column_config.TextColumn(width="large")},
        )
