"""A polite NCBI E-utilities client on one cached HTTP session.

Fetching is kept apart from parsing: these functions return raw bytes (efetch) or small result
objects (esearch, epost); `evidence.records` turns bytes into rows.

Order of operations for a request: `CachedSession.send` answers from the SQLite cache when it can
(cache hits are never throttled); on a miss it calls `PoliteAdapter.send`, which waits for the
shared rate limiter, sends, retries transient failures with exponential backoff and jitter, and
validates the body. A body that is an NCBI error, truncated or malformed raises before it reaches
the cache, so it is never stored.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import requests_cache
from lxml import etree
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from .errors import FetchError, OfflineMiss
from .settings import Settings

MAX_RETRY_AFTER = 300.0
MAX_ESEARCH_IDS = 10_000  # esearch will not page past this for PubMed
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# NCBI asks for POST (epost) when an ID list would make a long URL; stay well under 2,048 chars.
MAX_GET_ID_CHARS = 1_800
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)

Pmid = str


class TransientError(Exception):
    """A failure worth retrying (429/5xx, connection error, timeout, rate-limit body)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RateLimiter:
    """Spaces request starts at least ``1 / rate`` seconds apart, across threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                time.sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


@dataclass
class RequestStats:
    """What a run cost: requests that went to the network, answers from cache, offline misses."""

    network: int = 0
    cache_hits: int = 0
    retries: int = 0
    offline_misses: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "network_requests": self.network,
            "cache_hits": self.cache_hits,
            "retries": self.retries,
            "offline_misses": list(self.offline_misses),
        }


def describe(request: requests.PreparedRequest) -> str:
    """A request named for humans and logs, with credentials left out."""
    url = re.sub(r"([?&])(api_key|email)=[^&]*", r"\1\2=***", request.url or "")
    return f"{request.method} {url}"


def check_body(content: bytes, where: str) -> None:
    """Raise unless ``content`` is a well-formed, non-error E-utilities answer."""
    head = content.lstrip()[:1]
    if head == b"{":
        try:
            doc = json.loads(content)
        except ValueError as exc:
            raise FetchError(where, f"malformed JSON body: {exc}") from exc
        if isinstance(doc, dict) and "error" in doc:
            message = str(doc["error"])
            if "rate limit" in message.lower():
                raise TransientError(f"NCBI: {message}")
            raise FetchError(where, f"NCBI error: {message}")
        return
    if head != b"<":
        raise FetchError(where, "empty or non-XML body" if not head else "body is not XML")
    try:
        root = etree.fromstring(content, _SAFE_XML)
    except etree.XMLSyntaxError as exc:
        raise FetchError(where, f"truncated or malformed XML: {exc}") from exc
    errors = [root] if root.tag == "ERROR" else root.findall("ERROR")
    if errors:
        text = "; ".join((e.text or "").strip() for e in errors)
        raise FetchError(where, f"NCBI error: {text}")


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


class PoliteAdapter(HTTPAdapter):
    """Only reached on cache misses: throttles, retries transient failures, validates bodies."""

    def __init__(self, settings: Settings, limiter: RateLimiter, stats: RequestStats) -> None:
        super().__init__()
        self.settings = settings
        self.limiter = limiter
        self.stats = stats
        self.sleep = time.sleep  # replaceable in benchmarks; tests use the real clock

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_exponential_jitter(
            multiplier=self.settings.backoff_factor, max=self.settings.backoff_max, jitter=0.25
        )(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            # The server's word wins over our backoff cap, within a sanity bound.
            return min(max(exc.retry_after, backoff), MAX_RETRY_AFTER)
        return backoff

    def _attempt(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.limiter.wait()
        self.stats.network += 1
        try:
            response = super().send(request, **kwargs)
            if response.status_code in RETRY_STATUSES:
                raise TransientError(f"HTTP {response.status_code}", _retry_after(response))
            content = response.content  # reads the body; a short read raises here
        except (requests.ConnectionError, requests.Timeout) as exc:
            # urllib3 wraps the cause (refused, reset, timed out) in a message that repeats the
            # whole URL; the request is named once, by FetchError.
            cause = getattr(exc.args[0], "reason", None) if exc.args else None
            raise TransientError(f"{type(exc).__name__}: {cause or exc}") from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            raise TransientError(f"truncated body: {exc}") from exc
        if response.status_code != 200:
            raise FetchError(describe(request), f"HTTP {response.status_code}: {content[:200]!r}")
        check_body(content, describe(request))
        return response

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.settings.timeout)
        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            sleep=lambda seconds: self.sleep(seconds),
            before_sleep=lambda _state: setattr(self.stats, "retries", self.stats.retries + 1),
            reraise=True,
        )
        try:
            return retrying(self._attempt, request, **kwargs)
        except TransientError as exc:
            raise FetchError(
                describe(request),
                f"gave up after {self.settings.max_retries + 1} attempts: {exc.reason}",
            ) from exc


def make_session(
    settings: Settings, stats: RequestStats | None = None
) -> requests_cache.CachedSession:
    """The one HTTP session: SQLite cache under the data directory, polite adapter mounted."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    base = settings.base_url.rstrip("/") + "/"
    session = requests_cache.CachedSession(
        str(settings.cache_path),
        backend="sqlite",
        expire_after=timedelta(days=settings.efetch_expire_days),
        urls_expire_after={
            f"{base}esearch.fcgi*": timedelta(hours=settings.esearch_expire_hours),
            f"{base}efetch.fcgi*": timedelta(days=settings.efetch_expire_days),
        },
        allowable_methods=("GET",),
        allowable_codes=(200,),
        # Identity and credentials do not change an answer: keep them out of cache keys.
        ignored_parameters=(*requests_cache.DEFAULT_IGNORED_PARAMS, "email", "tool"),
        only_if_cached=settings.offline,
    )
    adapter = PoliteAdapter(
        settings, RateLimiter(settings.requests_per_second), stats or RequestStats()
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = f"{settings.tool} (evidence tracker; mailto:{settings.email})"
    return session


@dataclass(frozen=True)
class SearchResult:
    count: int
    ids: list[Pmid]
    webenv: str | None
    query_key: str | None
    query_translation: str
    warnings: list[str]


def _date(value: date | str | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y/%m/%d") if isinstance(value, date) else str(value)


class PubMed:
    """E-utilities calls against PubMed. Construct once per run; `stats` says what it cost."""

    def __init__(
        self, settings: Settings, session: requests_cache.CachedSession | None = None
    ) -> None:
        self.settings = settings
        self.session = session or make_session(settings)
        self.base = settings.base_url.rstrip("/") + "/"
        # Network requests are counted where they happen, in the adapter behind the cache.
        adapter = self.session.get_adapter(self.base)
        self.stats = adapter.stats if isinstance(adapter, PoliteAdapter) else RequestStats()

    # -- transport ---------------------------------------------------------------------------
    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        etiquette = {"tool": self.settings.tool, "email": self.settings.email}
        if self.settings.api_key:
            etiquette["api_key"] = self.settings.api_key
        return {k: v for k, v in {**params, **etiquette}.items() if v not in (None, "")}

    def _call(self, utility: str, params: dict[str, Any], post: bool = False) -> bytes:
        url = f"{self.base}{utility}.fcgi"
        params = self._params(params)
        try:
            if post:
                response = self.session.post(url, data=params)
            else:
                response = self.session.get(url, params=params)
        except FetchError:
            raise
        except requests.RequestException as exc:  # e.g. invalid URL: not transient
            raise FetchError(f"{'POST' if post else 'GET'} {url}", str(exc)) from exc
        if getattr(response, "from_cache", False):
            self.stats.cache_hits += 1
        if response.status_code == 504 and self.settings.offline:
            where = describe(response.request)
            self.stats.offline_misses.append(where)
            raise OfflineMiss(where, "offline mode: not in the cache")
        return response.content

    # -- utilities ---------------------------------------------------------------------------
    def esearch(
        self,
        term: str,
        *,
        mindate: date | str | None = None,
        maxdate: date | str | None = None,
        datetype: str = "edat",
        retstart: int = 0,
        retmax: int = 10_000,
        usehistory: bool = True,
    ) -> SearchResult:
        """One esearch page. A date window needs both ends; an open end defaults to today."""
        if mindate and not maxdate:
            maxdate = date.today()
        if maxdate and not mindate:
            mindate = "1800/01/01"
        body = self._call(
            "esearch",
            {
                "db": "pubmed",
                "term": term,
                "usehistory": "y" if usehistory else None,
                "datetype": datetype if mindate else None,
                "mindate": _date(mindate),
                "maxdate": _date(maxdate),
                "retstart": retstart,
                "retmax": retmax,
            },
        )
        return parse_esearch(body)

    def search_ids(self, term: str, page_size: int = 10_000, **window: Any) -> SearchResult:
        """PMIDs of a search, paging with retstart; keeps the first page's history keys.

        PubMed's esearch serves only the first 10,000 PMIDs of a result; beyond that the
        result's ``count`` tells how many there are and a warning says the list is cut.
        """
        first = self.esearch(term, retmax=min(page_size, MAX_ESEARCH_IDS), **window)
        ids = list(first.ids)
        limit = min(first.count, MAX_ESEARCH_IDS)
        warnings = list(first.warnings)
        if first.count > MAX_ESEARCH_IDS:
            warnings.append(
                f"truncated: PubMed serves the first {MAX_ESEARCH_IDS:,} of {first.count:,} "
                "PMIDs; narrow the query or the date window"
            )
        while len(ids) < limit:
            page = self.esearch(
                term, retstart=len(ids), retmax=page_size, usehistory=False, **window
            )
            if not page.ids:
                break
            ids.extend(page.ids)
        ids = ids[:limit]
        return SearchResult(
            first.count, ids, first.webenv, first.query_key, first.query_translation, warnings
        )

    def epost(self, pmids: Sequence[Pmid]) -> tuple[str, str]:
        """Put a PMID list on the history server by POST; returns (WebEnv, query_key)."""
        body = self._call("epost", {"db": "pubmed", "id": ",".join(pmids)}, post=True)
        root = etree.fromstring(body, _SAFE_XML)
        webenv, key = root.findtext("WebEnv"), root.findtext("QueryKey")
        if not webenv or not key:
            raise FetchError("epost", "answer has no WebEnv/QueryKey")
        return webenv, key

    def efetch_history(
        self, webenv: str, query_key: str, count: int, batch_size: int | None = None
    ) -> Iterator[bytes]:
        """efetch XML batches from the history server (``retstart``/``retmax``)."""
        size = batch_size or self.settings.batch_size
        for start in range(0, count, size):
            yield self._call(
                "efetch",
                {
                    "db": "pubmed",
                    "WebEnv": webenv,
                    "query_key": query_key,
                    "retstart": start,
                    "retmax": min(size, count - start),
                    "retmode": "xml",
                },
            )

    def efetch_ids(self, pmids: Sequence[Pmid], batch_size: int | None = None) -> Iterator[bytes]:
        """efetch explicit PMIDs in batches: GET while the URL is short (cacheable), else epost."""
        size = batch_size or self.settings.batch_size
        pmids = list(dict.fromkeys(pmids))
        for start in range(0, len(pmids), size):
            batch = pmids[start : start + size]
            ids = ",".join(batch)
            if len(ids) <= MAX_GET_ID_CHARS:
                yield self._call("efetch", {"db": "pubmed", "id": ids, "retmode": "xml"})
            else:
                webenv, key = self.epost(batch)
                yield from self.efetch_history(webenv, key, len(batch), size)


def parse_esearch(body: bytes) -> SearchResult:
    """An eSearchResult document -> SearchResult (zero hits is a result, not an error)."""
    root = etree.fromstring(body, _SAFE_XML)
    if root.tag != "eSearchResult":
        raise FetchError("esearch", f"unexpected answer <{root.tag}>")
    count = root.findtext("Count")
    if count is None:
        raise FetchError("esearch", "answer has no <Count>")
    warnings = [
        f"{el.tag}: {(el.text or '').strip()}"
        for parent in (root.find("ErrorList"), root.find("WarningList"))
        if parent is not None
        for el in parent
    ]
    return SearchResult(
        count=int(count),
        ids=[el.text for el in root.iterfind("IdList/Id") if el.text],
        webenv=root.findtext("WebEnv"),
        query_key=root.findtext("QueryKey"),
        query_translation=root.findtext("QueryTranslation") or "",
        warnings=warnings,
    )
