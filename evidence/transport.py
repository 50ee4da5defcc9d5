"""HTTP transport to NCBI E-utilities: one cached session, polite on a cache miss.

It exists so that how requests travel (cache, rate limit, timeouts, retries, deadline, redaction)
is kept apart from what the answers mean (`evidence.answers`) and which calls the client makes
(`evidence.pubmed`).

Order of operations for a request: `CachedSession.send` answers from the SQLite cache when it can
(cache hits are never throttled); on a miss it calls `PoliteAdapter.send`, which checks the run
deadline, waits for the shared rate limiter, sends with connect/read timeouts and a watchdog on
the whole attempt, retries transient failures with exponential backoff and jitter, and validates
the body for its endpoint. A body that is an NCBI error, HTML, truncated, malformed or short of
what was asked raises before it reaches the cache, so it is never stored; an efetch answer that
lacks some requested records is returned (so the caller can name them) but not stored either.
The cache is JSON, not pickle: whoever can write the data folder must not be able to run code.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import re
import socket
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import requests
import requests_cache
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError

from .answers import TransientError, check_answer, check_body
from .errors import FetchError
from .settings import Settings

MAX_RETRY_AFTER = 300.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
INCOMPLETE = "evidence_incomplete"  # set on an efetch response lacking requested records
_SECRET_PARAM = re.compile(r"(?<![A-Za-z0-9_])(api_key|email)=[^&\s\"'<>]*", re.IGNORECASE)
_ATTEMPT = threading.local()  # the watchdog of the attempt running on this thread


class DeadlineExceeded(FetchError):
    """The run's deadline passed: no new request starts and no wait runs past it."""


class HostUnreachable(FetchError):
    """The server's name did not resolve, or nothing listens there (offline, a wrong URL)."""


class Unreachable(TransientError):
    """One attempt found no server: worth retrying for an unattended run, not for a person."""


_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH}


def _unreachable(cause: object) -> bool:
    """True for a failed name lookup, or a connection refused or without a route."""
    if isinstance(cause, NameResolutionError):
        return True
    if isinstance(cause, NewConnectionError):
        inner = cause.__cause__ or cause.__context__
        return isinstance(inner, OSError) and inner.errno in _UNREACHABLE_ERRNOS
    return False


def redact(text: str, settings: Settings) -> str:
    """``text`` without the API key, e-mail address and alert secrets, raw or URL-encoded, nor any
    ``api_key=``/``email=`` value: error pages echo the request URL, and messages end up in
    reports, logs and cron mail."""
    forms = {
        form
        for secret in (
            settings.api_key,
            settings.email,
            settings.smtp_password,
            settings.webhook_secret,
        )
        if secret
        for form in (secret, quote(secret), quote(secret, safe=""), quote_plus(secret))
    }
    if forms:
        pattern = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        text = re.sub(pattern, "***", text, flags=re.IGNORECASE)
    return _SECRET_PARAM.sub(r"\1=***", text)


class _RedactParams(logging.Filter):
    """Takes ``api_key=``/``email=`` values out of log records: urllib3 logs whole request URLs
    (at WARNING when an answer's headers are malformed, so they reach stderr and cron mail)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "=" in message:
            record.msg, record.args = _SECRET_PARAM.sub(r"\1=***", message), None
        return True


for _name in ("urllib3.connection", "urllib3.connectionpool", "requests_cache.session"):
    logging.getLogger(_name).addFilter(_RedactParams())


def describe(request: requests.PreparedRequest) -> str:
    """A request named for humans and logs, with credentials left out."""
    url = _SECRET_PARAM.sub(r"\1=***", request.url or "")
    return f"{request.method} {url}"


class RateLimiter:
    """At most ``limit`` request starts in any ``period`` seconds, across threads.

    NCBI counts requests per second; spacing starts 1/N s apart still lets N+1 fall into one
    second. Each start is booked at least ``period + margin`` after the start ``limit`` places
    before it; the margin absorbs network jitter between our clock and NCBI's.
    """

    def __init__(self, limit: int, period: float = 1.0, margin: float = 0.1) -> None:
        self.limit = limit
        self.span = period + margin
        self._starts: deque[float] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def wait(self, deadline: float = math.inf) -> bool:
        """Sleep until a start is allowed; False (without waiting) if that is past ``deadline``."""
        with self._lock:
            start = time.monotonic()
            if len(self._starts) == self.limit:
                start = max(start, self._starts[0] + self.span)
            if start > deadline:
                return False
            self._starts.append(start)  # booked under the lock, slept outside it
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return True


_LIMITERS: dict[tuple[str, int], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def shared_limiter(settings: Settings) -> RateLimiter:
    """One limiter per E-utilities server and rate in this process: NCBI counts per client, not
    per session, so two clients in one process (a refresh and a dashboard fetch) share it."""
    key = (settings.base_url, int(settings.requests_per_second))
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault(key, RateLimiter(key[1]))


@dataclass
class RequestStats:
    """What a run cost: requests that went to the network, answers from cache, offline misses."""

    network: int = 0
    cache_hits: int = 0
    retries: int = 0
    fresh_network: int = 0  # answers asked with fresh=True that came from NCBI, not the cache
    offline_misses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "network_requests": self.network,
            "cache_hits": self.cache_hits,
            "retries": self.retries,
            "fresh_network_requests": self.fresh_network,
            "offline_misses": list(self.offline_misses),
        }


# -- requests and responses -----------------------------------------------------------------
def _cacheable(response: requests.Response) -> bool:
    """requests-cache's filter: keep incomplete efetch answers out of the cache."""
    return not getattr(response, INCOMPLETE, False)


def _request_params(request: requests.PreparedRequest) -> dict[str, str]:
    raw = urlsplit(request.url or "").query
    if request.method == "POST" and request.body:
        body = request.body
        raw = body.decode() if isinstance(body, bytes) else str(body)
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def _utility(request: requests.PreparedRequest) -> str:
    return urlsplit(request.url or "").path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".fcgi")


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


# -- transport -------------------------------------------------------------------------------
class _Watchdog:
    """Cuts the connection of one attempt when its time is up.

    Socket timeouts bound each read, not the whole answer: a server that trickles one byte per
    second never trips them. Shutting the socket down ends whatever read is blocked on it
    (status line, headers or body).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.conn: Any = None  # set by the connection pool on this thread
        self.fired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="http-watchdog")

    def __enter__(self) -> _Watchdog:
        _ATTEMPT.watchdog = self
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        _ATTEMPT.watchdog = None

    def _run(self) -> None:
        if self._done.wait(self.seconds):
            return
        self.fired = True
        while not self._done.is_set():  # still connecting: the socket appears shortly
            sock = getattr(self.conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                return
            self._done.wait(0.05)


class _Watched:
    """Pool mixin: tells the watchdog of the attempt on this thread which connection it uses."""

    def _get_conn(self, *args: Any, **kwargs: Any) -> Any:
        conn = super()._get_conn(*args, **kwargs)  # type: ignore[misc]
        watchdog = getattr(_ATTEMPT, "watchdog", None)
        if watchdog is not None:
            watchdog.conn = conn
        return conn


class _WatchedHTTPPool(_Watched, HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_Watched, HTTPSConnectionPool):
    pass


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class PoliteAdapter(HTTPAdapter):
    """Only reached on cache misses: deadline, throttle, timeouts, retries, body validation."""

    def __init__(self, settings: Settings, limiter: RateLimiter, stats: RequestStats) -> None:
        super().__init__()
        self.settings = settings
        self.limiter = limiter
        self.stats = stats
        self.deadline = math.inf  # monotonic time; `PubMed` sets the run's
        self.sleep = time.sleep  # replaceable in benchmarks; tests use the real clock
        # False for a person waiting (an editor's attach): no server, no retry, an answer at once.
        self.retry_unreachable = True

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS pools are their own classes
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager

    def _error(self, cls: type[FetchError], where: str, reason: str) -> FetchError:
        return cls(redact(where, self.settings), redact(reason, self.settings))

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_exponential_jitter(
            multiplier=self.settings.backoff_factor, max=self.settings.backoff_max, jitter=0.25
        )(state)
        exc = state.outcome.exception() if state.outcome else None
        seconds = backoff
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            # The server's word wins over our backoff cap, within a sanity bound.
            seconds = min(max(exc.retry_after, backoff), MAX_RETRY_AFTER)
        last = state.attempt_number > self.settings.max_retries  # no wait follows: give up
        if not last and time.monotonic() + seconds > self.deadline:
            raise self._error(
                DeadlineExceeded,
                describe(state.args[0]),
                f"run deadline reached: not waiting {seconds:.1f} s to retry "
                f"({getattr(exc, 'reason', exc)})",
            )
        return seconds

    def _attempt(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        where = describe(request)
        if not self.limiter.wait(self.deadline):
            raise self._error(DeadlineExceeded, where, "run deadline reached: not starting")
        budget = min(self.settings.total_timeout, self.deadline - time.monotonic())
        if budget <= 0:
            raise self._error(DeadlineExceeded, where, "run deadline reached: not starting")
        # requests passes timeout=None explicitly, so a default would never apply: set it here.
        kwargs["timeout"] = (
            min(self.settings.connect_timeout, budget),
            min(self.settings.timeout, budget),
        )
        self.stats.network += 1
        with _Watchdog(budget) as watchdog:
            response: requests.Response | None = None
            try:
                response = super().send(request, **kwargs)
                if response.status_code in RETRY_STATUSES:
                    response.close()
                    raise TransientError(f"HTTP {response.status_code}", _retry_after(response))
                content = response.content  # the whole body, under the watchdog
                if watchdog.fired:  # cut while reading headers: http.client takes EOF as their end
                    raise requests.Timeout("cut by the watchdog")
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                if response is not None:
                    response.close()
                if watchdog.fired:
                    raise TransientError(f"no complete answer within {budget:.3g} s") from None
                # urllib3 wraps the cause (refused, reset, timed out) in a message that repeats
                # the whole URL, credentials included; the request is named once, by FetchError.
                cause = getattr(exc.args[0], "reason", None) if exc.args else None
                kind = (
                    "truncated body"
                    if isinstance(exc, requests.exceptions.ChunkedEncodingError)
                    else type(exc).__name__
                )
                error = Unreachable if _unreachable(cause) else TransientError
                raise error(redact(f"{kind}: {cause or exc}", self.settings)) from None
        if response.status_code != 200:
            excerpt = " ".join(content.decode("utf-8", "replace").split())
            # Redact the whole body before cutting it: a key cut in half would slip through.
            excerpt = redact(excerpt, self.settings)[:200]
            raise self._error(FetchError, where, f"HTTP {response.status_code}: {excerpt}")
        root = check_body(content, where, response.headers.get("Content-Type", ""))
        if not check_answer(_utility(request), _request_params(request), root, where):
            setattr(response, INCOMPLETE, True)
        return response

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, Unreachable):
            return self.retry_unreachable
        return isinstance(exc, TransientError)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        retrying = Retrying(
            retry=retry_if_exception(self._retryable),
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            sleep=lambda seconds: self.sleep(seconds),
            before_sleep=lambda _state: setattr(self.stats, "retries", self.stats.retries + 1),
            reraise=True,
        )
        where = describe(request)
        try:
            return retrying(self._attempt, request, **kwargs)
        except TransientError as exc:
            cls = DeadlineExceeded if time.monotonic() >= self.deadline else FetchError
            if isinstance(exc, Unreachable):
                cls = HostUnreachable
            attempts = retrying.statistics.get("attempt_number", self.settings.max_retries + 1)
            raise self._error(
                cls, where, f"gave up after {attempts} attempt{'s' * (attempts != 1)}: {exc.reason}"
            ) from None
        except FetchError as exc:  # every message leaves here without credentials
            raise self._error(type(exc), exc.request, exc.reason) from None


def _holds_pickles(path: Path) -> bool:
    """True for a cache written before the switch to JSON (its rows are pickles)."""
    if not path.exists():
        return False
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            query = "SELECT 1 FROM responses WHERE substr(value, 1, 1) = X'80' LIMIT 1"
            return db.execute(query).fetchone() is not None
    except sqlite3.Error:  # no such table yet, or not a cache requests-cache could read either
        return False


def make_session(
    settings: Settings, stats: RequestStats | None = None
) -> requests_cache.CachedSession:
    """The one HTTP session: SQLite cache (JSON) under the data directory, polite adapter."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pickled = _holds_pickles(settings.cache_path)
    base = settings.base_url.rstrip("/") + "/"
    session = requests_cache.CachedSession(
        str(settings.cache_path),
        backend="sqlite",
        # JSON with base64 bodies: bytes round-trip exactly and loading runs no code.
        serializer="json",
        decode_content=False,
        expire_after=timedelta(days=settings.efetch_expire_days),
        urls_expire_after={
            f"{base}esearch.fcgi*": timedelta(hours=settings.esearch_expire_hours),
            f"{base}efetch.fcgi*": timedelta(days=settings.efetch_expire_days),
        },
        allowable_methods=("GET",),
        allowable_codes=(200,),
        filter_fn=_cacheable,
        # Identity and credentials do not change an answer: keep them out of cache keys, and
        # out of the stored requests (the User-Agent names the e-mail address).
        ignored_parameters=(*requests_cache.DEFAULT_IGNORED_PARAMS, "email", "tool", "User-Agent"),
        only_if_cached=settings.offline,
    )
    if pickled:  # never unpickle (nor log an error per old row): start the cache afresh
        session.cache.clear()
    adapter = PoliteAdapter(settings, shared_limiter(settings), stats or RequestStats())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = f"{settings.tool} (evidence tracker; mailto:{settings.email})"
    return session
