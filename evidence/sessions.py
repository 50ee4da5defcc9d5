"""An editor stays signed in across a browser reload: a random token in a cookie, its hash here.

The token is 256 random bits; the server keeps only its SHA-256 with the editor's name and an
expiry, in a table of bounded size (the least recently used session goes first). A reload
brings the token back in the cookie, and `SessionTable.user` gives the editor again while the
token is live and the name is still in the editors file. Signing out revokes it, so a copied
cookie dies with the session. Nothing about the password is kept. The table is per server
process: a restart signs everyone out.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from .auth import EDITOR, Editor, User

SESSION_COOKIE = "evidence_session"
DEVICE_COOKIE = "evidence_device"
SESSION_HOURS = 12
DEVICE_DAYS = 365
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def well_formed(token: object) -> bool:
    """Only a token of our own shape is looked up or written into a cookie."""
    return isinstance(token, str) and bool(_TOKEN.match(token))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class SessionTable:
    """Live sign-ins by token hash: name and expiry, at most ``max_sessions`` kept."""

    def __init__(
        self,
        ttl: float = SESSION_HOURS * 3600.0,
        max_sessions: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_sessions = max_sessions
        self.clock = clock
        self._live: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    def issue(self, user: User) -> str:
        """A new token for a signed-in editor (the cookie's value)."""
        if not user.can_edit:
            raise ValueError("only an editor's sign-in is remembered")
        token = new_token()
        with self._lock:
            now = self.clock()
            self._live[_digest(token)] = (user.name, now + self.ttl)
            while len(self._live) > self.max_sessions:
                self._live.popitem(last=False)
        return token

    def user(self, token: object, editors: Mapping[str, Editor]) -> User | None:
        """The editor a live token signs in, None for anything else (expired, revoked, unknown,
        malformed, or a name no longer in the editors file)."""
        if not well_formed(token):
            return None
        key = _digest(str(token))
        with self._lock:
            hit = self._live.get(key)
            if hit is None:
                return None
            name, expiry = hit
            if expiry <= self.clock():
                del self._live[key]
                return None
            self._live.move_to_end(key)
        editor = editors.get(name)
        if editor is None or not editor.password_hash:
            return None
        return User(editor.name, EDITOR, "password")

    def revoke(self, token: object) -> None:
        if well_formed(token):
            with self._lock:
                self._live.pop(_digest(str(token)), None)


def cookie_script(name: str, value: str | None, max_age: int) -> str:
    """A script that sets (or, with ``value`` None, deletes) a cookie of this page's origin:
    SameSite=Strict, Secure when served over HTTPS. Only well-formed tokens are written."""
    if value is not None and not well_formed(value):
        raise ValueError("not a session token")
    if name not in (SESSION_COOKIE, DEVICE_COOKIE):
        raise ValueError(f"unknown cookie {name!r}")
    body = f"{name}={value or ''}; Max-Age={max_age if value else 0}; Path=/; SameSite=Strict"
    return (
        "<script>document.cookie = "
        f"'{body}' + (location.protocol === 'https:' ? '; Secure' : '');</script>"
    )
