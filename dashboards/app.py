"""The evidence dashboard: is each sentence of the clinic's posts supported, and by what?

Run: ``streamlit run dashboards/app.py`` (data folder from settings; ``EVIDENCE_DATA_DIR``
overrides it). On first start, with no store, the bundled curated evidence is built.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import ui` from the pages

import ui  # noqa: E402

st.set_page_config(page_title="Evidence tracker", page_icon=":material/fact_check:", layout="wide")

pages = [
    # The overview is served at "/" (the default page, whose own path Streamlit ignores) and at
    # /overview (a hidden twin), so a bookmarked or typed /overview never says "Page not found".
    st.Page(
        ui.PAGES["overview"],
        title="Claims overview",
        icon=":material/checklist:",
        url_path="home",
        default=True,
    ),
    st.Page(
        ui.PAGES["overview"],
        title="Claims overview",
        icon=":material/checklist:",
        url_path="overview",
        visibility="hidden",
    ),
    st.Page(
        ui.PAGES["content"], title="Content view", icon=":material/article:", url_path="content"
    ),
    st.Page(ui.PAGES["claim"], title="Claim", icon=":material/fact_check:", url_path="claim"),
    st.Page(
        ui.PAGES["literature"],
        title="Literature",
        icon=":material/library_books:",
        url_path="literature",
    ),
    st.Page(
        ui.PAGES["citations"],
        title="Citations",
        icon=":material/format_quote:",
        url_path="citations",
    ),
    st.Page(
        ui.PAGES["history"], title="Refresh history", icon=":material/history:", url_path="history"
    ),
]
# Page modules live in app_pages/, not pages/: a pages/ folder beside the main script switches
# Streamlit to its older directory navigation, which runs a page without this script.
st.navigation(pages).run()
