"""Streamlit glue shared by the pages: the store, caching by store version, sign-in, safe text.

Everything a page shows is computed by `evidence.views` / `evidence.citations`; this module only
opens the store, caches per store version (so a finished refresh shows on the next rerun, no
restart), knows who is signed in, and escapes text from PubMed or users before any HTML.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import signin
import streamlit as st

from evidence import auth, views
from evidence.errors import EvidenceError
from evidence.settings import Settings, load_settings
from evidence.store import Snapshot, Store
from evidence.verdict import Verdict

PAGES = {
    "overview": "app_pages/overview.py",
    "content": "app_pages/content.py",
    "claim": "app_pages/claim.py",
    "literature": "app_pages/literature.py",
    "citations": "app_pages/citations.py",
    "history": "app_pages/history.py",
}
_CLAIM_ID = re.compile(r"^[A-Z]+[0-9]+$")
# HTML's specials and those Markdown (or Streamlit's LaTeX) would interpret: as numeric
# entities they display as themselves and do nothing.
_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-!|~$:="}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$<>&])")


# --- text that stays text ----------------------------------------------------------------------


def esc(text: object) -> str:
    """HTML for ``text`` shown literally: tags, entities and Markdown all inert."""
    raw = "" if text is None else str(text)
    return "".join(_ENTITIES.get(c, c) for c in raw).replace("\n", "<br>")


_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*)$")


def esc_prose(text: object) -> str:
    """Like `esc`, but a Markdown heading line ("## Title") shows as a heading, not as "##"."""
    lines = []
    for line in ("" if text is None else str(text)).split("\n"):
        m = _HEADING.match(line)
        if m:
            size = {1: 1.6, 2: 1.3}.get(len(m.group(1)), 1.1)
            line = f'<strong style="font-size:{size}em">{esc(m.group(2))}</strong>'
        else:
            line = esc(line)
        lines.append(line)
    return "<br>".join(lines)


def md_label(text: object) -> str:
    """``text`` for a Markdown label (expander, caption), every special character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text or "").split()))


def html_block(body: str) -> None:
    """Render HTML built only from `esc`-aped pieces and fixed markup (one line, no blank lines,
    so Markdown never parses inside it)."""
    st.markdown(f"<div>{body}</div>", unsafe_allow_html=True)


def badge(grade: str) -> str:
    colour = views.GRADE_COLOURS.get(grade, "#8c959f")
    return (
        f'<span style="background:{colour};color:#fff;border-radius:0.6em;'
        f'padding:0.15em 0.6em;font-weight:600">{esc(grade)}</span>'
    )


def legend() -> None:
    html_block(" ".join(badge(g) for g, _ in views.grade_legend()))


# --- the store, cached by version --------------------------------------------------------------


def settings() -> Settings:
    return load_settings()


def data_dir() -> Path:
    return settings().data_dir


@st.cache_resource(show_spinner="Opening the evidence store (building the default on first use)")
def _store(root: str) -> Store:
    return views.open_or_build(Path(root))


def store() -> Store | None:
    """The store, or None after showing what to do when there is none."""
    try:
        return _store(str(data_dir()))
    except EvidenceError as e:
        st.warning(f"No evidence store yet. {e}")
        st.markdown(
            "To start: run `evidence build-default` to build the bundled curated evidence, or "
            "`evidence refresh` to fetch from PubMed, then reload this page."
        )
        return None


@st.cache_resource(max_entries=2)
def _snapshot(root: str, version: int) -> Snapshot:
    return Store.open(Path(root)).snapshot()


def snapshot() -> Snapshot | None:
    s = store()
    if s is None:
        return None
    return _snapshot(str(s.root), s.version)


@st.cache_data(max_entries=4, show_spinner=False)
def verdicts(root: str, version: int) -> dict[str, Verdict]:
    return views.current_verdicts(
        _snapshot(root, version), registry=views.load_registry(data_dir())
    )


@st.cache_data(max_entries=4, show_spinner=False)
def overview(root: str, version: int) -> pd.DataFrame:
    return views.overview_table(_snapshot(root, version), verdicts(root, version))


@st.cache_data(max_entries=4, show_spinner=False)
def literature(root: str, version: int) -> pd.DataFrame:
    return views.literature_table(_snapshot(root, version))


def key(snap: Snapshot) -> tuple[str, int]:
    """The cache key of a snapshot: its store and version."""
    s = store()
    assert s is not None
    return str(s.root), snap.version


def require_snapshot() -> Snapshot:
    snap = snapshot()
    if snap is None:
        st.stop()
    if snap["claims"].empty:
        st.info(
            "The store has no claims. Add claims to claims.yaml in the data folder, then run "
            "`evidence build-default` or `evidence refresh`."
        )
        st.stop()
    return snap


# --- who is here -------------------------------------------------------------------------------


def user() -> auth.User:
    return signin.user()


def sidebar_sign_in() -> None:
    """Sign-in box: OIDC (`st.login`) when configured, else the local editors file."""
    signin.sidebar(auth.editors_path(data_dir()))


def page(title: str) -> None:
    """Start a page: its title and the sidebar sign-in."""
    st.title(title)
    sidebar_sign_in()


# --- navigation --------------------------------------------------------------------------------


def open_claim(claim_id: str) -> None:
    st.session_state["claim_id"] = claim_id
    st.switch_page(PAGES["claim"])


def claim_href(claim_id: str) -> str:
    """A same-tab link to a claim's page; only well-formed claim ids make one."""
    if not _CLAIM_ID.match(claim_id):
        return "#"
    return f"./claim?claim={claim_id}"


def flash(message: str) -> None:
    st.session_state["flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("flash", None)
    if message:
        st.success(message)
