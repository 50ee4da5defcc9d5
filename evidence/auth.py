"""Who may edit: a local editors file with salted scrypt hashes, or OIDC sign-in (`st.login`).

The editors file (``<data_dir>/editors.json``, mode 0600) maps a user name to an scrypt hash
(``scrypt$n$r$p$salt$hash``, salt and hash base64) and an optional e-mail. With OIDC configured
(an ``[auth]`` section in Streamlit's secrets), a signed-in user whose e-mail is in the editors file
is an editor; everyone else is a viewer. Passwords exist in memory only while being hashed or
checked; failed sign-ins are rate limited per user name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from filelock import FileLock

from .errors import ConfigError, EvidenceError

EDITORS_FILE = "editors.json"
MIN_PASSWORD = 10
# scrypt cost: n=2**15, r=8 uses 32 MiB and ~0.1 s per check, the OWASP-recommended floor.
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LEN = 2**15, 8, 1, 32
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

VIEWER, EDITOR = "viewer", "editor"


@dataclass(frozen=True)
class User:
    name: str
    role: str = VIEWER  # viewer | editor
    via: str = "anonymous"  # anonymous | password | oidc

    @property
    def can_edit(self) -> bool:
        return self.role == EDITOR


ANONYMOUS = User("anonymous")


class NotAllowed(EvidenceError, PermissionError):
    """A viewer tried to write, or a sign-in was refused."""


class TooManyAttempts(NotAllowed):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed sign-ins; try again in {int(retry_after) + 1} s")


def require_editor(user: User) -> str:
    """The actor name to audit, or `NotAllowed` when ``user`` may not write."""
    if not user.can_edit:
        raise NotAllowed(f"{user.name} is a viewer: only editors can change the evidence")
    return user.name


# --- hashing -----------------------------------------------------------------------------------


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p, SCRYPT_LEN)
    return "$".join(["scrypt", str(n), str(r), str(p), _b64(salt), _b64(digest)])


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p), len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=256 * 1024 * 1024
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to check unknown names against, so a wrong name costs as long as a wrong password."""
    return hash_password(secrets.token_hex(16))


# --- the editors file --------------------------------------------------------------------------


@dataclass(frozen=True)
class Editor:
    name: str
    password_hash: str = ""  # empty: signs in only through OIDC
    email: str = ""


def editors_path(data_dir: Path) -> Path:
    return data_dir / EDITORS_FILE


def load_editors(path: Path) -> dict[str, Editor]:
    """Editors by name; a missing file means no editors. A malformed one is a ConfigError."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ConfigError("editors", f"{path}: unreadable editors file ({e})") from e
    entries = raw.get("editors") if isinstance(raw, dict) else None
    if not isinstance(entries, dict):
        raise ConfigError("editors", f'{path}: expected {{"editors": {{name: {{...}}}}}}')
    out = {}
    for name, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("hash", ""), str):
            raise ConfigError("editors", f"{path}: editor {name!r} has no valid 'hash'")
        out[name] = Editor(name, entry.get("hash", ""), str(entry.get("email", "")))
    return out


def add_editor(path: Path, name: str, password: str | None, email: str = "") -> Editor:
    """Add or replace an editor; the file is rewritten atomically with owner-only permissions."""
    if not _USERNAME.match(name):
        raise ValueError(f"invalid editor name {name!r}: letters, digits and . _ @ - only")
    if password is None and not email:
        raise ValueError("an editor needs a password, or an e-mail for OIDC sign-in")
    if password is not None and len(password) < MIN_PASSWORD:
        raise ValueError(f"password too short: at least {MIN_PASSWORD} characters")
    if email and "@" not in email:
        raise ValueError(f"{email!r} is not an e-mail address")
    editor = Editor(name, hash_password(password) if password is not None else "", email)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Read-modify-write under a lock, so two editors added at once are both kept.
    with FileLock(path.with_name(f".{path.name}.lock"), timeout=30):
        editors = load_editors(path)
        editors[name] = editor
        body = {
            "editors": {
                e.name: {"hash": e.password_hash, "email": e.email}
                for e in sorted(editors.values(), key=lambda e: e.name)
            }
        }
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(body, indent=2) + "\n")
        os.replace(tmp, path)
    return editor


# --- signing in --------------------------------------------------------------------------------


class RateLimiter:
    """At most ``max_failures`` failed sign-ins per key in a sliding ``window`` (seconds).

    In memory, per server process: it slows guessing through the dashboard; the scrypt cost
    slows it everywhere else.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again (0 = now)."""
        with self._lock:
            times = self._prune(key)
            if len(times) < self.max_failures:
                return 0.0
            return max(0.0, times[0] + self.window - self.clock())

    def failed(self, key: str) -> None:
        with self._lock:
            self._prune(key).append(self.clock())

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _prune(self, key: str) -> deque[float]:
        times = self._failures[key]
        cutoff = self.clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        return times


def sign_in(editors: Mapping[str, Editor], name: str, password: str, limiter: RateLimiter) -> User:
    """The editor for a correct name and password; `NotAllowed` (or `TooManyAttempts`) if not."""
    key = name.strip().lower()
    wait = limiter.retry_after(key)
    if wait > 0:
        raise TooManyAttempts(wait)
    editor = editors.get(name.strip())
    encoded = editor.password_hash if editor and editor.password_hash else _dummy_hash()
    ok = verify_password(password, encoded) and editor is not None and bool(editor.password_hash)
    if not ok:
        limiter.failed(key)
        raise NotAllowed("wrong user name or password")
    limiter.succeeded(key)
    return User(editor.name, EDITOR, "password")


def oidc_configured(secrets_: Mapping[str, Any]) -> bool:
    """True when Streamlit's secrets carry an ``[auth]`` section, i.e. `st.login` will work."""
    try:
        return "auth" in secrets_
    except Exception:  # st.secrets raises when there is no secrets file at all
        return False


def oidc_user(editors: Mapping[str, Editor], email: str, name: str = "") -> User:
    """An OIDC-signed-in user: an editor when the e-mail is in the editors file."""
    email = (email or "").strip().lower()
    for editor in editors.values():
        if email and editor.email.lower() == email:
            return User(editor.name, EDITOR, "oidc")
    return User(email or name or "signed-in user", VIEWER, "oidc")
