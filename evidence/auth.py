"""Who may edit: a local editors file with salted scrypt hashes, or OIDC sign-in (`st.login`).

The editors file (``<data_dir>/editors.json``, mode 0600) maps a user name to an scrypt hash
(``scrypt$n$r$p$salt$hash``, salt and hash base64) and an optional e-mail. With OIDC configured
(an ``[auth]`` section in Streamlit's secrets), a signed-in user whose e-mail is in the editors file
is an editor; everyone else is a viewer. Passwords exist in memory only while being hashed or
checked; failed sign-ins slow down per client and name (`SignInLimiter`), never locking out.
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
from collections import OrderedDict
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
    def __init__(self, retry_after: float, busy: bool = False) -> None:
        self.retry_after = retry_after
        super().__init__(
            "a sign-in for this name is being checked; try again in a moment"
            if busy
            else f"too many failed sign-ins; try again in {int(retry_after) + 1} s"
        )


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


class SignInLimiter:
    """Slows password guessing per (client, name) pair without ever locking an editor out.

    * One check at a time per pair: a burst of parallel attempts cannot race past the count
      (the others are refused at once, before any password is checked).
    * The first ``free_failures`` failures cost nothing; each further one doubles the wait
      before the pair may try again (``base_delay`` up to ``max_delay`` seconds). No hard
      lockout, and only that pair waits: someone guessing alice's password elsewhere slows
      themselves, not alice.
    * A browser that signed in as a name before (its device id, `trust`) is its own client for
      that name, so a guesser behind the same address (a proxy, the clinic's NAT) cannot slow
      the editor's own browser either.
    * Bounded memory: a pair idle for ``forget_after`` seconds is forgotten, and at most
      ``max_entries`` pairs and trusted devices are kept (the least recently used go first).

    In memory, per server process: it slows guessing through the dashboard; the scrypt cost
    slows it everywhere else.
    """

    def __init__(
        self,
        free_failures: int = 3,
        base_delay: float = 2.0,
        max_delay: float = 300.0,
        forget_after: float = 3600.0,
        max_entries: int = 10_000,
        trust_for: float = 30 * 24 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.max_entries = max_entries
        self.trust_for = trust_for
        self.clock = clock
        self._pairs: OrderedDict[tuple[str, str], _Pair] = OrderedDict()
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()  # -> expiry
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Pairs and trusted devices held (what the memory bound caps)."""
        with self._lock:
            return len(self._pairs) + len(self._trusted)

    def client_for(self, name: str, client: str, device: str | None) -> str:
        """Who an attempt counts against: the device when it signed in as ``name`` before."""
        if device:
            key = (_norm(name), _digest(device))
            with self._lock:
                expiry = self._trusted.get(key)
                if expiry is not None and expiry > self.clock():
                    self._trusted.move_to_end(key)
                    return f"device:{key[1]}"
        return f"client:{client}"

    def trust(self, name: str, device: str) -> None:
        """``device`` signed in as ``name``: from now on it is its own client for that name."""
        key = (_norm(name), _digest(device))
        with self._lock:
            self._trusted[key] = self.clock() + self.trust_for
            self._trusted.move_to_end(key)
            while len(self._trusted) > self.max_entries:
                self._trusted.popitem(last=False)

    def retry_after(self, client: str, name: str) -> float:
        """Seconds until the pair may try again (0 = now)."""
        with self._lock:
            pair = self._pairs.get((client, _norm(name)))
            return 0.0 if pair is None else max(0.0, pair.not_before - self.clock())

    def begin(self, client: str, name: str) -> None:
        """Claim the pair's one check, or `TooManyAttempts` (nothing is checked then)."""
        key = (client, _norm(name))
        with self._lock:
            now = self.clock()
            self._forget(now)
            pair = self._pairs.get(key)
            if pair is None:
                pair = self._pairs[key] = _Pair()
                self._evict()
            self._pairs.move_to_end(key)
            if pair.busy:
                raise TooManyAttempts(1.0, busy=True)
            if pair.not_before > now:
                raise TooManyAttempts(pair.not_before - now)
            pair.busy, pair.seen = True, now

    def end(self, client: str, name: str, ok: bool) -> None:
        """The check's outcome: success forgets the pair, a failure may make it wait."""
        key = (client, _norm(name))
        with self._lock:
            now = self.clock()
            pair = self._pairs.get(key)
            if pair is None:
                return
            if ok:
                del self._pairs[key]
                return
            pair.busy, pair.seen = False, now
            pair.failures += 1
            over = pair.failures - self.free_failures
            if over >= 0:
                pair.not_before = now + min(self.max_delay, self.base_delay * 2.0**over)

    def _forget(self, now: float) -> None:
        """Drop pairs idle too long and expired trust (both kept in least-recent-first order)."""
        while self._pairs:
            key, pair = next(iter(self._pairs.items()))
            if pair.busy or pair.seen + self.forget_after > now or pair.not_before > now:
                break
            del self._pairs[key]
        while self._trusted and next(iter(self._trusted.values())) <= now:
            self._trusted.popitem(last=False)

    def _evict(self) -> None:
        """Least recently used first; a pair being checked stays (its check must end)."""
        excess = len(self._pairs) - self.max_entries
        if excess > 0:
            idle = [k for k, p in self._pairs.items() if not p.busy][:excess]
            for key in idle:
                del self._pairs[key]


@dataclass
class _Pair:
    failures: int = 0
    not_before: float = 0.0  # monotonic time before which the pair is refused
    busy: bool = False  # a check is running
    seen: float = 0.0


def _norm(name: str) -> str:
    return name.strip().lower()


def _digest(secret: str) -> str:
    """What is kept of a device id or session token: its hash, never the value."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def sign_in(
    editors: Mapping[str, Editor],
    name: str,
    password: str,
    limiter: SignInLimiter,
    *,
    client: str = "local",
    device: str | None = None,
) -> User:
    """The editor for a correct name and password; `NotAllowed` (or `TooManyAttempts`) if not.

    ``client`` is where the attempt comes from (an IP address); ``device`` the browser's own id,
    trusted for the name after a successful sign-in (`SignInLimiter.trust`).
    """
    who = limiter.client_for(name, client, device)
    limiter.begin(who, name)
    ok = False
    try:
        editor = editors.get(name.strip())
        known = editor is not None and bool(editor.password_hash)
        encoded = editor.password_hash if editor is not None and known else _dummy_hash()
        ok = verify_password(password, encoded) and known
    finally:
        limiter.end(who, name, ok)
    if not ok or editor is None:
        raise NotAllowed("wrong user name or password")
    if device:
        limiter.trust(name, device)
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
