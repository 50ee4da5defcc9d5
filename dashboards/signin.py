"""The sidebar sign-in: OIDC (`st.login`) when configured, else the local editors file.

A password sign-in is remembered across a reload by a session cookie (`evidence.sessions`); the
password itself is cleared from the session state as soon as it has been checked.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from evidence import auth, sessions
from evidence.errors import EvidenceError


@st.cache_resource
def limiter() -> auth.SignInLimiter:
    return auth.SignInLimiter()


@st.cache_resource
def session_table() -> sessions.SessionTable:
    return sessions.SessionTable()


def _cookie(name: str) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except Exception:  # no browser behind this run (bare mode)
        return None
    return value if sessions.well_formed(value) else None


def _client() -> str:
    try:
        return st.context.ip_address or "local"
    except Exception:
        return "local"


def _label(text: str) -> str:
    from ui import md_label  # ui imports this module: import at call time

    return md_label(text)


def user() -> auth.User:
    return st.session_state.get("user", auth.ANONYMOUS)


def _restore(editors_file: Path) -> None:
    """After a reload: the editor whose live session cookie this browser sends."""
    if "user" in st.session_state or st.session_state.get("signed_out"):
        return
    token = _cookie(sessions.SESSION_COOKIE)
    if token is None:
        return
    try:
        restored = session_table().user(token, auth.load_editors(editors_file))
    except EvidenceError:
        return
    if restored is not None:
        st.session_state["user"] = restored
        st.session_state["session_token"] = token


def _submit(editors_file: Path) -> None:
    """The form's callback: check once, keep no password (the widget's value is cleared)."""
    name = st.session_state.get("sign_in_name", "")
    password = st.session_state.get("sign_in_password", "")
    st.session_state["sign_in_password"] = ""
    st.session_state.pop("sign_in_error", None)
    device = _cookie(sessions.DEVICE_COOKIE) or sessions.new_token()
    try:
        editors = auth.load_editors(editors_file)
        signed_in = auth.sign_in(
            editors, name, password, limiter(), client=_client(), device=device
        )
    except auth.NotAllowed as e:
        st.session_state["sign_in_error"] = str(e)
        return
    except EvidenceError as e:
        st.session_state["sign_in_error"] = f"Sign-in is unavailable: {e}"
        return
    finally:
        del password
    token = session_table().issue(signed_in)
    st.session_state.update(user=signed_in, session_token=token, signed_out=False)
    st.session_state["cookie_scripts"] = [
        sessions.cookie_script(sessions.SESSION_COOKIE, token, sessions.SESSION_HOURS * 3600),
        sessions.cookie_script(sessions.DEVICE_COOKIE, device, sessions.DEVICE_DAYS * 86400),
    ]


def _sign_out() -> None:
    session_table().revoke(st.session_state.pop("session_token", None))
    session_table().revoke(_cookie(sessions.SESSION_COOKIE))
    st.session_state.pop("user", None)
    st.session_state["signed_out"] = True
    st.session_state["cookie_scripts"] = [sessions.cookie_script(sessions.SESSION_COOKIE, None, 0)]


def sidebar(editors_file: Path) -> None:
    with st.sidebar:
        if auth.oidc_configured(st.secrets):
            if st.user.is_logged_in:
                who = auth.oidc_user(
                    auth.load_editors(editors_file),
                    str(st.user.get("email", "")),
                    str(st.user.get("name", "")),
                )
                st.session_state["user"] = who
                st.caption(f"Signed in as {_label(who.name)} ({who.role})")
                st.button("Sign out", on_click=st.logout)
            else:
                st.session_state.pop("user", None)
                st.button("Sign in", on_click=st.login)
            return
        _restore(editors_file)
        for script in st.session_state.pop("cookie_scripts", []):
            st.html(script, unsafe_allow_javascript=True)
        current = user()
        if current.can_edit:
            st.caption(f"Signed in as {_label(current.name)} (editor)")
            st.button("Sign out", key="sign_out", on_click=_sign_out)
            return
        with st.form("sign_in", clear_on_submit=False):
            st.caption("Editors sign in to curate; everyone can read.")
            st.text_input("User name", key="sign_in_name")
            st.text_input("Password", type="password", key="sign_in_password")
            st.form_submit_button("Sign in", on_click=_submit, args=(editors_file,))
        error = st.session_state.pop("sign_in_error", None)
        if error:
            st.error(error)
