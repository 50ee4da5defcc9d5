"""Search and filter the whole store; studies per year by topic; design distribution."""

import altair as alt
import streamlit as st
import ui

from evidence import views

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
    mesh = st.selectbox("MeSH term", ["", *views.mesh_vocabulary(table)])
    retracted = st.selectbox("Retracted", ["any", "yes", "no"])
    has_abstract = st.selectbox("Has abstract", ["any", "yes", "no"])

choice = {"any": None, "yes": True, "no": False}
f = views.LiteratureFilter(
    text=text,
    topics=tuple(topics),
    designs=tuple(designs),
    years=None if year_range == (lo, max(hi, lo + 1)) else tuple(year_range),
    mesh=mesh,
    retracted=choice[retracted],
    has_abstract=choice[has_abstract],
)
shown = views.filter_literature(table, f)
st.metric("Studies", f"{len(shown)} of {len(table)}")
st.dataframe(
    shown.drop(columns=["mesh"]),
    hide_index=True,
    width="stretch",
    key="literature_table",
    column_config={
        "pmid": "PMID",
        "title": st.column_config.TextColumn("Title", width="large"),
        "year": st.column_config.NumberColumn("Year", format="%d"),
        "retracted": st.column_config.CheckboxColumn("Retracted"),
        "has_abstract": st.column_config.CheckboxColumn("Abstract"),
        "claims": "Linked claims",
        "pubmed_url": st.column_config.LinkColumn("PubMed", display_text="PubMed"),
    },
)
if len(shown) and st.button(f"Cite these {min(len(shown), 500)} studies"):
    st.session_state["cite_pmids"] = list(shown["pmid"].head(500))
    st.switch_page(ui.PAGES["citations"])

c1, c2 = st.columns(2)
per_year = views.studies_per_year(shown)
if len(per_year):
    c1.altair_chart(
        alt.Chart(per_year)
        .mark_bar()
        .encode(x="year:O", y="studies:Q", color="topic:N", tooltip=["year", "topic", "studies"])
        .properties(title="Studies per year by topic", height=280),
        width="stretch",
    )
dist = views.design_distribution(shown)
if len(dist):
    c2.altair_chart(
        alt.Chart(dist)
        .mark_bar()
        .encode(y=alt.Y("design:N", sort="-x"), x="studies:Q", tooltip=["design", "studies"])
        .properties(title="Design distribution", height=280),
        width="stretch",
    )
