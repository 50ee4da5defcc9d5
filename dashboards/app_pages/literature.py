"""Search and filter the whole store; studies per year by topic; design distribution."""

import altair as alt
import streamlit as st
import ui

from evidence import claim_view, labels, literature_view

ui.page("Literature")
snap = ui.require_snapshot()
root, version = ui.key(snap)
table = ui.literature(root, version)
if table.empty:
    st.info("The store holds no records yet. Run `evidence refresh` to fetch them from PubMed.")
    st.stop()

years = table["year"].dropna()
lo, hi = (int(years.min()), int(years.max())) if len(years) else (1900, 2100)
with st.sidebar:
    st.header("Filters")
    text = st.text_input("Search title, journal, MeSH", key="lit_text")
    topics = st.multiselect(
        "Topic", sorted({t for ts in table["topics"] for t in ts.split(", ") if t})
    )
    designs = st.multiselect("Design", sorted(set(table["design"])))
    year_range = st.slider("Year", lo, max(hi, lo + 1), (lo, max(hi, lo + 1)))
    mesh = st.selectbox("MeSH term", ["", *literature_view.mesh_vocabulary(table)])
    retracted = st.selectbox("Retracted", ["any", "yes", "no"])
    has_abstract = st.selectbox("Has abstract", ["any", "yes", "no"])

choice = {"any": None, "yes": True, "no": False}
f = literature_view.LiteratureFilter(
    text=text,
    topics=tuple(topics),
    designs=tuple(designs),
    years=None if year_range == (lo, max(hi, lo + 1)) else tuple(year_range),
    mesh=mesh,
    retracted=choice[retracted],
    has_abstract=choice[has_abstract],
)
shown = literature_view.filter_literature(table, f)
st.metric("Studies", f"{len(shown):,} of {len(table):,}")
event = ui.table(
    literature_view.shown_table(shown),
    key="literature_table",
    on_select="rerun",
    selection_mode="single-row",
    config={
        "pubmed_url": ui.link("pmid", claim_view.PMID_FROM_URL, width="small"),
        "title": ui.text("title", width="large"),
        "has_abstract": st.column_config.CheckboxColumn(labels.label("has_abstract")),
    },
)
rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
if rows:
    picked = shown.iloc[rows[0]]
    claims = literature_view.linked_claims(picked["claims"])
    with st.container(border=True):
        ui.html_block(
            f"<b>{ui.esc(picked['title'])}</b> · "
            f'<a href="{ui.esc(picked["pubmed_url"])}" target="_blank">'
            f"PubMed {ui.esc(picked['pmid'])}</a>"
        )
        if claims:
            ui.html_block(
                "Linked claims: "
                + ", ".join(
                    f'<a href="{ui.claim_href(c)}" target="_self">{ui.esc(c)}</a>' for c in claims
                )
            )
        else:
            st.caption("Linked to no claim.")
else:
    st.caption("Select a row to open its linked claims.")
if len(shown) and st.button(f"Cite these {labels.count(min(len(shown), 500), 'study')}"):
    st.session_state["cite_pmids"] = list(shown["pmid"].head(500))
    st.switch_page(ui.PAGES["citations"])

c1, c2 = st.columns(2)
per_year = literature_view.studies_per_year(shown)
if len(per_year):
    c1.altair_chart(
        alt.Chart(per_year)
        .mark_bar()
        .encode(
            x=alt.X("year:O", title="Year"),
            y=alt.Y("studies:Q", title="Studies"),
            color=alt.Color("topic:N", title="Topic", legend=alt.Legend(orient="bottom")),
            tooltip=["year", "topic", "studies"],
        )
        .properties(title="Studies per year by topic", height=280),
        width="stretch",
    )
dist = literature_view.design_distribution(shown)
if len(dist):
    c2.altair_chart(
        alt.Chart(dist)
        .mark_bar()
        .encode(
            y=alt.Y(
                "design:N", sort="-x", title=None, axis=alt.Axis(labelLimit=0, labelOverlap=False)
            ),
            x=alt.X("studies:Q", title="Studies"),
            tooltip=["design", "studies"],
        )
        .properties(title="Design distribution", height=alt.Step(20)),  # every label shown
        width="stretch",
    )
