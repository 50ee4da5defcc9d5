"""A real HTTP server on 127.0.0.1 that plays NCBI E-utilities from recorded responses.

Two ways to answer: `recorded` routes serve a fixture file as-is (esearch2.xml, epost2.xml...);
`PubMedIndex` answers esearch/epost/efetch from a set of real PubMed articles cut out of the
efetch fixtures, the way the live service would (history server, retstart/retmax, id lists,
Entrez-date windows, the 9,999-PMID esearch cap). `synthetic_hits` adds large, clearly fake
result sets (PMIDs from 90000001) for paging tests.

Faults are queued and served before normal answers, in order: a status with a body (HTML,
4xx, 5xx, Retry-After...), a body cut short of its Content-Length, a connection that hangs
until the server stops, an answer trickled one byte at a time, a connection reset, or the
normal answer rewritten (an article dropped, a PMID removed, an IdList shortened...). The
builders below (`hang`, `trickle`, `reset`, `html_page`, ...) make each kind.
"""

from __future__ import annotations

import copy
import itertools
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lxml import etree

Answer = tuple[int, dict[str, str], bytes]
Route = Callable[[dict[str, str]], Answer]
Rewrite = Callable[[Answer, str], Answer]  # (normal answer, raw query) -> answer served

XML = {"Content-Type": "text/xml; charset=UTF-8"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
# PubMed serves esearch positions 0..9,998 only (retstart above 9,998 is refused).
PUBMED_ESEARCH_CAP = 9_999
RETSTART_ERROR = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than {last}. For PubMed, "
    "ESearch can only retrieve the first {cap:,} records matching the query. To obtain more "
    "than {cap:,} PubMed records, consider using EDirect that contains additional logic to "
    "batch PubMed search results automatically so that an arbitrary number can be retrieved. "
    "For details see https://www.ncbi.nlm.nih.gov/books/NBK25499/"
)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hang up on purpose in fault tests; that is not worth a traceback."""


@dataclass
class Fault:
    status: int = 500
    body: bytes = b"Internal Server Error"
    headers: dict[str, str] = field(default_factory=dict)
    truncate_to: int | None = None  # send only this many bytes of the body, then close
    utility: str | None = None  # only for this utility (esearch/efetch/epost); None = any
    kind: str = "answer"  # answer | hang | trickle | reset
    interval: float = 0.05  # trickle: seconds between bytes
    rewrite: Rewrite | None = None  # serve this edit of the normal answer instead of body


@dataclass
class Logged:
    at: float
    method: str
    utility: str
    params: dict[str, str]


class FakeEutils:
    """Start with `with FakeEutils() as server:`; `server.base_url` ends with a slash."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.faults: list[Fault] = []
        self.log: list[Logged] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # releases hanging and trickling handlers
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler())
        # A short poll keeps shutdown (each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/entrez/eutils/"

    def __enter__(self) -> FakeEutils:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def recorded(self, utility: str, path: Path, status: int = 200) -> None:
        body = path.read_bytes()
        self.routes[utility] = lambda _params: (status, dict(XML), body)

    def calls(self, utility: str | None = None) -> list[Logged]:
        return [c for c in self.log if utility is None or c.utility == utility]

    def _answer(self, utility: str, params: dict[str, str]) -> Answer:
        route = self.routes.get(utility)
        return (404, {}, b"no route") if route is None else route(params)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                raw = parts.query
                if method == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    raw = self.rfile.read(length).decode()
                params = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                utility = parts.path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".fcgi")
                with server._lock:
                    server.log.append(Logged(time.monotonic(), method, utility, params))
                    fault = next((f for f in server.faults if f.utility in (None, utility)), None)
                    if fault is not None:
                        server.faults.remove(fault)
                if fault is None:
                    self._send(*server._answer(utility, params), None)
                elif fault.kind == "hang":
                    server._stopping.wait()  # accept, read, never answer
                    self.close_connection = True
                elif fault.kind == "reset":
                    self._reset()
                else:
                    answer = (fault.status, fault.headers, fault.body)
                    if fault.rewrite is not None:
                        answer = fault.rewrite(server._answer(utility, params), raw)
                    if fault.kind == "trickle":
                        self._trickle(*answer, fault.interval)
                    else:
                        self._send(*answer, fault.truncate_to)

            def _head(self, status: int, headers: dict[str, str], length: int) -> bytes:
                lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
                lines += [f"{k}: {v}" for k, v in headers.items()]
                lines += [f"Content-Length: {length}", "Connection: close", "", ""]
                return "\r\n".join(lines).encode("latin-1")

            def _send(
                self, status: int, headers: dict[str, str], body: bytes, cut: int | None
            ) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                if cut is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True

            def _trickle(
                self, status: int, headers: dict[str, str], body: bytes, interval: float
            ) -> None:
                """The whole answer, status line first, one byte per ``interval``."""
                self.close_connection = True
                data = self._head(status, headers, len(body)) + body
                for i in range(len(data)):
                    try:
                        self.wfile.write(data[i : i + 1])
                    except OSError:  # the client gave up
                        return
                    if server._stopping.wait(interval):
                        return

            def _reset(self) -> None:
                """Close with a TCP RST instead of an answer (SO_LINGER 0)."""
                self.close_connection = True
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


# -- fault builders --------------------------------------------------------------------------
def hang(utility: str | None = None) -> Fault:
    """Accept the request and never answer (until the server stops)."""
    return Fault(kind="hang", utility=utility)


def trickle(utility: str | None = None, interval: float = 0.05) -> Fault:
    """The normal answer, status line and headers included, one byte per ``interval``."""
    return Fault(kind="trickle", utility=utility, interval=interval, rewrite=lambda a, _q: a)


def reset(utility: str | None = None) -> Fault:
    """A TCP reset instead of an answer."""
    return Fault(kind="reset", utility=utility)


def html_page(utility: str | None = None) -> Fault:
    """An HTML page with status 200, as a proxy or an NCBI maintenance notice would send."""
    body = b"<!DOCTYPE html><html><head><title>Service unavailable</title></head><body>NCBI is down for maintenance</body></html>"
    return Fault(200, body, {"Content-Type": "text/html; charset=utf-8"}, utility=utility)


def empty_article_set() -> Fault:
    body = b'<?xml version="1.0" ?>\n<PubmedArticleSet></PubmedArticleSet>'
    return Fault(200, body, dict(XML), utility="efetch")


def _edit_xml(edit: Callable[[etree._Element], None]) -> Rewrite:
    def rewrite(answer: Answer, _query: str) -> Answer:
        status, headers, body = answer
        root = etree.fromstring(body, _PARSER)
        edit(root)
        return status, headers, etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    return rewrite


def drop_article(pmid: str) -> Fault:
    """efetch answers without the article ``pmid``, as PubMed does for a PMID it lacks."""

    def edit(root: etree._Element) -> None:
        for article in root.iterfind("PubmedArticle"):
            if article.findtext("MedlineCitation/PMID") == pmid:
                root.remove(article)

    return Fault(utility="efetch", rewrite=_edit_xml(edit))


def strip_pmid() -> Fault:
    """efetch answers with the first article's PMID element removed."""

    def edit(root: etree._Element) -> None:
        citation = root.find("PubmedArticle/MedlineCitation")
        citation.remove(citation.find("PMID"))

    return Fault(utility="efetch", rewrite=_edit_xml(edit))


def short_idlist() -> Fault:
    """esearch keeps its Count but lists one PMID fewer than the page holds."""

    def edit(root: etree._Element) -> None:
        ids = root.find("IdList")
        ids.remove(ids[-1])

    return Fault(utility="esearch", rewrite=_edit_xml(edit))


def bad_id(text: str = "12a") -> Fault:
    """esearch's first ``<Id>`` is not a PMID."""

    def edit(root: etree._Element) -> None:
        root.find("IdList/Id").text = text

    return Fault(utility="esearch", rewrite=_edit_xml(edit))


def echo_request(status: int = 400, utility: str | None = None) -> Fault:
    """An error page quoting the request, query string (and so the credentials) included."""

    def rewrite(_answer: Answer, query: str) -> Answer:
        page = f"<html><body><h1>Bad Request</h1><p>Your request: ?{query}</p></body></html>"
        return status, {"Content-Type": "text/html"}, page.encode()

    return Fault(status, utility=utility, rewrite=rewrite)


# -- a PubMed over fixture articles ----------------------------------------------------------
def articles_from(paths: Iterable[Path]) -> dict[str, etree._Element]:
    """PMID -> <PubmedArticle> element, cut out of efetch fixture files."""
    out: dict[str, etree._Element] = {}
    for path in paths:
        root = etree.parse(str(path), _PARSER).getroot()
        for article in root.iterfind("PubmedArticle"):
            out[article.findtext("MedlineCitation/PMID")] = article
    return out


def article_set(articles: Iterable[etree._Element]) -> bytes:
    root = etree.Element("PubmedArticleSet")
    for a in articles:
        root.append(copy.deepcopy(a))
    return b'<?xml version="1.0" ?>\n' + etree.tostring(root)


def esearch_xml(
    count: int,
    ids: list[str],
    webenv: str | None,
    key: str | None,
    start: int = 0,
    warnings: Iterable[str] = (),
) -> bytes:
    history = f"<QueryKey>{key}</QueryKey><WebEnv>{webenv}</WebEnv>" if webenv else ""
    id_list = "".join(f"<Id>{i}</Id>" for i in ids)
    messages = "".join(f"<OutputMessage>{w}</OutputMessage>" for w in warnings)
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        f"<eSearchResult><Count>{count}</Count><RetMax>{len(ids)}</RetMax>"
        f"<RetStart>{start}</RetStart>{history}<IdList>{id_list}</IdList><TranslationSet/>"
        "<QueryTranslation>synthetic</QueryTranslation>"
        + (f"<WarningList>{messages}</WarningList>" if messages else "")
        + "</eSearchResult>"
    ).encode()


def synthetic_hits(
    n: int, first_pmid: int = 90_000_001, start: date = date(2001, 1, 1), days: int = 3_000
) -> list[tuple[str, str]]:
    """``n`` made-up (PMID, Entrez date) pairs spread evenly over ``days`` days from ``start``.

    Test data only: PMIDs from 90000001 are beyond any real record today.
    """
    return [
        (str(first_pmid + i), (start + timedelta(days=i * days // n)).strftime("%Y/%m/%d"))
        for i in range(n)
    ]


def curated_articles(corpus: Path) -> dict[str, etree._Element]:
    """PMID -> a bare <PubmedArticle> holding only the curated corpus's bibliographic facts.

    The weekly re-check asks PubMed again for every linked record, the curated ones included;
    the efetch fixtures hold few of them. These stand-ins carry nothing the corpus does not
    (PMID, title, journal, year, authors, DOI; no abstract), so a test that re-checks the
    default store gets an answer for each PMID without inventing evidence.
    """
    out: dict[str, etree._Element] = {}
    for line in corpus.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        article = etree.Element("PubmedArticle")
        citation = etree.SubElement(article, "MedlineCitation", Status="MEDLINE", Owner="NLM")
        etree.SubElement(citation, "PMID", Version="1").text = str(rec["pmid"])
        art = etree.SubElement(citation, "Article", PubModel="Print")
        journal = etree.SubElement(art, "Journal")
        issue = etree.SubElement(journal, "JournalIssue", CitedMedium="Print")
        if rec.get("volume"):
            etree.SubElement(issue, "Volume").text = rec["volume"]
        if rec.get("issue"):
            etree.SubElement(issue, "Issue").text = rec["issue"]
        pub_date = etree.SubElement(issue, "PubDate")
        if rec.get("year"):
            etree.SubElement(pub_date, "Year").text = str(rec["year"])
        etree.SubElement(journal, "Title").text = rec.get("journal", "")
        etree.SubElement(journal, "ISOAbbreviation").text = rec.get("journal_abbrev", "")
        etree.SubElement(art, "ArticleTitle").text = rec.get("title", "")
        authors = etree.SubElement(art, "AuthorList", CompleteYN="Y")
        for name in rec.get("authors", []):
            family, _, initials = name.rpartition(" ")
            author = etree.SubElement(authors, "Author", ValidYN="Y")
            if family and initials.isalpha() and initials.isupper() and len(initials) <= 4:
                etree.SubElement(author, "LastName").text = family
                etree.SubElement(author, "Initials").text = initials
            else:
                etree.SubElement(author, "CollectiveName").text = name
        data = etree.SubElement(article, "PubmedData")
        ids = etree.SubElement(data, "ArticleIdList")
        etree.SubElement(ids, "ArticleId", IdType="pubmed").text = str(rec["pmid"])
        if rec.get("doi"):
            etree.SubElement(ids, "ArticleId", IdType="doi").text = rec["doi"]
        out[str(rec["pmid"])] = article
    return out


class PubMedIndex:
    """Answers esearch/epost/efetch like PubMed over a fixed set of real articles.

    ``also_serves`` holds further articles efetch answers for (e.g. `curated_articles`) without
    counting them among ``articles``, the set a test's searches find.

    ``searches`` maps a query term to its PMIDs, or to (PMID, Entrez date "YYYY/MM/DD") pairs so
    that a date window (mindate/maxdate with datetype=edat) filters them. Like PubMed, esearch
    serves only the first ``esearch_cap`` PMIDs of a result: a page crossing the cap is cut
    with a warning and a retstart past it is refused.
    """

    def __init__(self, articles: dict[str, etree._Element]) -> None:
        self.articles = articles
        self.also_serves: dict[str, etree._Element] = {}
        self.searches: dict[str, list[tuple[str, str]]] = {}
        self.history: dict[tuple[str, str], list[str]] = {}
        self.esearch_cap = PUBMED_ESEARCH_CAP
        self._counter = itertools.count(1)

    def install(self, server: FakeEutils) -> PubMedIndex:
        server.routes.update(esearch=self.esearch, efetch=self.efetch, epost=self.epost)
        return self

    def add_search(self, term: str, pmids: Iterable[str | tuple[str, str]]) -> None:
        self.searches[term] = [p if isinstance(p, tuple) else (p, "2000/01/01") for p in pmids]

    def _remember(self, ids: list[str]) -> tuple[str, str]:
        webenv, key = f"MCID_fake{next(self._counter)}", "1"
        self.history[(webenv, key)] = ids
        return webenv, key

    def esearch(self, p: dict[str, str]) -> Answer:
        hits = self.searches.get(p.get("term", ""), [])
        if p.get("mindate"):
            if p.get("datetype") != "edat":
                body = b"<eSearchResult><ERROR>fake: only datetype=edat</ERROR></eSearchResult>"
                return 200, dict(XML), body
            lo, hi = p["mindate"], p.get("maxdate", "9999/12/31")
            hits = [h for h in hits if lo <= h[1] <= hi]
        ids = [h[0] for h in hits]
        start, size = int(p.get("retstart", 0)), int(p.get("retmax", 20))
        cap = self.esearch_cap
        if start > cap - 1:
            message = RETSTART_ERROR.format(last=cap - 1, cap=cap)
            return (
                400,
                dict(XML),
                f"<eSearchResult><ERROR>{message}</ERROR></eSearchResult>".encode(),
            )
        warnings = []
        if start + size > cap and len(ids) > cap:
            size = cap - start
            warnings.append(f"Restrictions achieved. start and count adjusted to {start}, {size}")
        webenv, key = self._remember(ids) if p.get("usehistory") == "y" else (None, None)
        page = ids[start : start + size]
        return 200, dict(XML), esearch_xml(len(ids), page, webenv, key, start, warnings)

    def epost(self, p: dict[str, str]) -> Answer:
        ids = [i for i in p.get("id", "").split(",") if i]
        if not ids:
            body = b"<ePostResult><ERROR>Empty ID list; Nothing to store</ERROR></ePostResult>"
            return 200, dict(XML), body
        webenv, key = self._remember(ids)
        body = f"<ePostResult><QueryKey>{key}</QueryKey><WebEnv>{webenv}</WebEnv></ePostResult>"
        return 200, dict(XML), body.encode()

    def efetch(self, p: dict[str, str]) -> Answer:
        if "WebEnv" in p:
            ids = self.history.get((p["WebEnv"], p.get("query_key", "")))
            if ids is None:
                body = b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>"
                return 200, dict(XML), body
            start, size = int(p.get("retstart", 0)), int(p.get("retmax", 20))
            ids = ids[start : start + size]
        else:
            ids = [i for i in p.get("id", "").split(",") if i]
        known = {**self.also_serves, **self.articles}
        return 200, dict(XML), article_set(known[i] for i in ids if i in known)
