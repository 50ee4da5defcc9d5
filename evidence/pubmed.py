"""A polite NCBI E-utilities client: the PubMed calls a run makes.

It exists to say which E-utilities requests answer a question (esearch pages, Entrez-date
splitting past esearch's cap, epost, efetch batches); how they travel is `evidence.transport`,
and what makes an answer valid is `evidence.answers`. The names those modules define are
re-exported here, so `evidence.pubmed` stays the one import for callers.

Fetching is kept apart from parsing: these functions return raw bytes (efetch) or small result
objects (esearch, epost); `evidence.records` turns bytes into rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import requests
import requests_cache
from lxml import etree

from .answers import (
    SAFE_XML,
    Pmid,
    SearchResult,
    TransientError,
    check_answer,
    check_body,
    parse_esearch,
)
from .errors import FetchError, OfflineMiss
from .settings import Settings
from .transport import (
    DeadlineExceeded,
    HostUnreachable,
    PoliteAdapter,
    RateLimiter,
    RequestStats,
    describe,
    make_session,
    redact,
    shared_limiter,
)

__all__ = [
    "EARLIEST",
    "MAX_ESEARCH_IDS",
    "MAX_GET_ID_CHARS",
    "DeadlineExceeded",
    "HostUnreachable",
    "Pmid",
    "PoliteAdapter",
    "PubMed",
    "RateLimiter",
    "RequestStats",
    "SearchResult",
    "TransientError",
    "check_answer",
    "check_body",
    "describe",
    "make_session",
    "parse_esearch",
    "redact",
    "shared_limiter",
]

# PubMed's esearch serves positions 0..9,998 of a result and refuses retstart above 9,998
# ("'retstart' cannot be larger than 9998"); retmax=10,000 comes back as 9,999 IDs.
MAX_ESEARCH_IDS = 9_999
# An open lower end of an Entrez-date window: before any PubMed record.
EARLIEST = date(1700, 1, 1)
# NCBI asks for POST (epost) when an ID list would make a long URL; stay well under 2,048 chars.
MAX_GET_ID_CHARS = 1_800


def _date(value: date | str | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y/%m/%d") if isinstance(value, date) else str(value)


def _day(value: date | str | None, default: date) -> date:
    """A window end as a day (a `date` or "YYYY/MM/DD")."""
    if value is None:
        return default
    return value if isinstance(value, date) else datetime.strptime(value, "%Y/%m/%d").date()


def _split_days(lo: date, hi: date, parts: int) -> list[tuple[date, date]]:
    """``lo..hi`` (inclusive) cut into up to ``parts`` consecutive windows of near-equal days."""
    days = (hi - lo).days + 1
    parts = min(parts, days)
    return [
        (lo + timedelta(days=i * days // parts), lo + timedelta(days=(i + 1) * days // parts - 1))
        for i in range(parts)
    ]


# -- client ----------------------------------------------------------------------------------
class PubMed:
    """E-utilities calls against PubMed. Construct once per run; `stats` says what it cost.

    ``deadline`` is a `time.monotonic()` instant after which no request starts and no wait
    runs (`DeadlineExceeded`); by default ``settings.run_deadline_minutes`` from now.
    ``interactive`` (a person waits) gives up at once when the server cannot be reached
    (`HostUnreachable`) instead of retrying as an unattended run does.
    """

    def __init__(
        self,
        settings: Settings,
        session: requests_cache.CachedSession | None = None,
        *,
        deadline: float | None = None,
        interactive: bool = False,
    ) -> None:
        self.settings = settings
        self.session = session or make_session(settings)
        self.base = settings.base_url.rstrip("/") + "/"
        if deadline is None:
            deadline = time.monotonic() + settings.run_deadline_minutes * 60
        self.deadline = deadline
        # Network requests are counted where they happen, in the adapter behind the cache.
        adapter = self.session.get_adapter(self.base)
        if isinstance(adapter, PoliteAdapter):
            adapter.deadline = deadline
            adapter.retry_unreachable = not interactive
            self.stats = adapter.stats
        else:
            self.stats = RequestStats()

    # -- transport ---------------------------------------------------------------------------
    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        etiquette = {"tool": self.settings.tool, "email": self.settings.email}
        if self.settings.api_key:
            etiquette["api_key"] = self.settings.api_key
        return {k: v for k, v in {**params, **etiquette}.items() if v not in (None, "")}

    def _call(
        self, utility: str, params: dict[str, Any], post: bool = False, fresh: bool = False
    ) -> bytes:
        """One E-utility answer. ``fresh`` skips the cache read but stores the new answer."""
        url = f"{self.base}{utility}.fcgi"
        params = self._params(params)
        try:
            if post:
                response = self.session.post(url, data=params, force_refresh=fresh)
            else:
                response = self.session.get(url, params=params, force_refresh=fresh)
        except FetchError:
            raise
        except requests.RequestException as exc:  # e.g. invalid URL: not transient
            raise FetchError(
                f"{'POST' if post else 'GET'} {url}", redact(str(exc), self.settings)
            ) from None
        if response.status_code == 504 and self.settings.offline:
            where = redact(describe(response.request), self.settings)
            self.stats.offline_misses.append(where)
            raise OfflineMiss(where, "offline mode: not in the cache")
        if getattr(response, "from_cache", False):
            self.stats.cache_hits += 1
        elif fresh:
            self.stats.fresh_network += 1
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
        retmax: int = MAX_ESEARCH_IDS,
        usehistory: bool = True,
    ) -> SearchResult:
        """One esearch page. A date window needs both ends; an open end defaults to today (or
        `EARLIEST`). ``retmax`` is capped at what PubMed serves, so a full page is checkable."""
        if mindate and not maxdate:
            maxdate = date.today()
        if maxdate and not mindate:
            mindate = EARLIEST
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
                "retmax": min(retmax, MAX_ESEARCH_IDS),
            },
        )
        return parse_esearch(body)

    def search_ids(
        self, term: str, page_size: int = MAX_ESEARCH_IDS, **window: Any
    ) -> SearchResult:
        """Every PMID of a search, however many; keeps the first page's history keys.

        PubMed's esearch serves only the first 9,999 PMIDs of one query. A larger result is cut
        into Entrez-date windows (``datetype``, default edat) of at most that many: a window
        holding ``n`` too many is cut into ``ceil(n / 9,999)`` (at least 2) parts of equal days,
        recursively. A window's first page carries its count, so no window is asked twice, and
        the newest part of a cut is not asked while its count (the parent's minus its older
        siblings', which new records cannot inflate) says it is empty or must be cut again.
        A single day holding more than PubMed serves is a `FetchError` naming it, never a
        silent cut. ``requests`` and ``min_requests`` on the result say what it took.
        """
        size = max(1, min(page_size, MAX_ESEARCH_IDS))
        datetype = window.pop("datetype", "edat")
        found: dict[Pmid, None] = {}  # ordered, deduplicated
        calls = 0

        def ask(**params: Any) -> SearchResult:
            nonlocal calls
            calls += 1
            return self.esearch(term, retmax=size, datetype=datetype, **params)

        def take(first: SearchResult, **params: Any) -> None:
            page, got = first, 0
            while page.ids:
                found.update(dict.fromkeys(page.ids))
                got += len(page.ids)
                if got >= first.count:
                    return
                page = ask(retstart=got, **{**params, "usehistory": False})

        def visit(lo: date, hi: date) -> int:
            dates = {"mindate": lo, "maxdate": hi, "usehistory": False}
            page = ask(**dates)
            if page.count <= MAX_ESEARCH_IDS:
                take(page, **dates)
            else:
                cover(lo, hi, page.count)
            return page.count

        def cover(lo: date, hi: date, count: int) -> None:
            if lo == hi:
                raise FetchError(
                    f"esearch {term!r}",
                    f"{count:,} PMIDs have {datetype} {lo:%Y/%m/%d}, more than the "
                    f"{MAX_ESEARCH_IDS:,} PubMed serves for one query; narrow the query",
                )
            *older, (a, b) = _split_days(lo, hi, max(2, math.ceil(count / MAX_ESEARCH_IDS)))
            # The newest part's count follows from the others': it is asked only when that
            # count says it can be served whole (and is not zero).
            rest = count - sum(visit(x, y) for x, y in older)
            if rest > MAX_ESEARCH_IDS and a < b:
                cover(a, b, rest)
            elif rest > 0:
                visit(a, b)

        first = ask(**window)
        if first.count <= MAX_ESEARCH_IDS:
            take(first, **window)
        else:
            tomorrow = date.today() + timedelta(days=1)  # NCBI's day may be ahead of ours
            cover(
                _day(window.get("mindate"), EARLIEST),
                _day(window.get("maxdate"), tomorrow),
                first.count,
            )
        warnings = list(first.warnings)
        if len(found) < first.count:
            warnings.append(
                f"incomplete: found {len(found):,} of {first.count:,} PMIDs (records deleted "
                "during the run, or outside the date windows searched)"
            )
        return replace(
            first,
            ids=list(found),
            warnings=warnings,
            requests=calls,
            min_requests=max(1, math.ceil(first.count / size)),
        )

    def epost(self, pmids: Sequence[Pmid]) -> tuple[str, str]:
        """Put a PMID list on the history server by POST; returns (WebEnv, query_key)."""
        body = self._call("epost", {"db": "pubmed", "id": ",".join(pmids)}, post=True)
        root = etree.fromstring(body, SAFE_XML)  # validated in the adapter
        return root.findtext("WebEnv") or "", root.findtext("QueryKey") or ""

    def efetch_history(
        self,
        webenv: str,
        query_key: str,
        count: int,
        batch_size: int | None = None,
        *,
        fresh: bool = False,
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
                fresh=fresh,
            )

    def efetch_ids(
        self, pmids: Sequence[Pmid], batch_size: int | None = None, *, fresh: bool = False
    ) -> Iterator[bytes]:
        """efetch explicit PMIDs in batches: GET while the URL is short (cacheable), else epost.

        ``fresh=True`` is for re-checks (retractions, errata): NCBI is asked, not the cache, and
        the new answer replaces the cached one; offline it raises `OfflineMiss`. A batch PubMed
        answers without some of its PMIDs is yielded (the caller names the missing ones) but
        not cached.
        """
        size = batch_size or self.settings.batch_size
        pmids = list(dict.fromkeys(pmids))
        for start in range(0, len(pmids), size):
            batch = pmids[start : start + size]
            ids = ",".join(batch)
            if len(ids) <= MAX_GET_ID_CHARS:
                params = {"db": "pubmed", "id": ids, "retmode": "xml"}
                yield self._call("efetch", params, fresh=fresh)
            else:
                webenv, key = self.epost(batch)
                yield from self.efetch_history(webenv, key, len(batch), size, fresh=fresh)
