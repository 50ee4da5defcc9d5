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

from evidence import auth, claim_view, labels, literature_view, overview_view, views
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
_BULLET = re.compile(r"^[ \t]*[-*+][ \t]+(.*)$")


def esc_prose(text: object, line_start: bool = True) -> str:
    """Like `esc`, but a Markdown heading line ("## Title") shows as a heading and a list item
    ("- item") as a bullet, not as "##" or "- ". ``line_start``: whether ``text`` begins a line
    (a piece cut after a claim's sentence does not)."""
    lines = []
    for i, line in enumerate(("" if text is None else str(text)).split("\n")):
        heading = _HEADING.match(line) if i or line_start else None
        bullet = _BULLET.match(line) if i or line_start else None
        if heading:
            size = {1: 1.6, 2: 1.3}.get(len(heading.group(1)), 1.1)
            line = f'<strong style="font-size:{size}em">{esc(heading.group(2))}</strong>'
        elif bullet:
            line = f"&#160;&#160;&#8226;&#160;{esc(bullet.group(1))}"
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
    return overview_view.overview_table(_snapshot(root, version), verdicts(root, version))


@st.cache_data(max_entries=4, show_spinner=False)
def literature(root: str, version: int) -> pd.DataFrame:
    return literature_view.literature_table(_snapshot(root, version))


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
    return claim_view.claim_path(claim_id)


def flash(message: str) -> None:
    st.session_state["flash"] = message


def show_flash() -> None:
    message = st.session_state.pop("flash", None)
    if message:
        st.success(message)


# --- tables ------------------------------------------------------------------------------------


def link(column: str, display_text: str | None = None, **kw) -> st.column_config.Column:
    return st.column_config.LinkColumn(labels.label(column), display_text=display_text, **kw)


def text(column: str, **kw) -> st.column_config.Column:
    return st.column_config.TextColumn(labels.label(column), **kw)


def number(column: str, fmt: str = "%d", **kw) -> st.column_config.Column:
    return st.column_config.NumberColumn(labels.label(column), format=fmt, **kw)


def table(frame: pd.DataFrame, *, key: str, config: dict | None = None, **kw):
    """A table as a reader sees it: human headers (`evidence.labels`), empty cells empty, times
    as dates; ``config`` overrides a column's settings (use `link`, `text`, `number`)."""
    shown = labels.display(frame)
    cfg: dict = {}
    for col in shown.columns:
        s = shown[col]
        if pd.api.types.is_bool_dtype(s):
            cfg[col] = st.column_config.CheckboxColumn(labels.label(col))
        elif pd.api.types.is_integer_dtype(s):
            cfg[col] = number(col)
        elif pd.api.types.is_float_dtype(s):
            cfg[col] = number(col, "%.2f")
        else:
            cfg[col] = text(col)
    for col, given in (config or {}).items():
        numeric = col in shown.columns and pd.api.types.is_numeric_dtype(shown[col])
        if given.get("type_config", {}).get("type") == "number" and not numeric:
            # a number column with gaps is shown as text (so a gap is an empty cell)
            given = text(col, help=given.get("help"))
            given["label"] = config[col].get("label")
        cfg[col] = given
    return st.dataframe(shown, hide_index=True, width="stretch", key=key, column_config=cfg, **kw)


def audit_table(audit: pd.DataFrame, *, key: str) -> None:
    """Editors' actions (`evidence.history_view.audit_log`), the sentence column wide."""
    st.dataframe(
        audit,
        hide_index=True,
        width="stretch",
        key=key,
        column_config={"What happened": st.column_config.TextColumn(width="large")},
    )
