"""A real HTTP server on 127.0.0.1 that plays NCBI E-utilities from recorded responses.

Two ways to answer: `recorded` routes serve a fixture file as-is (esearch2.xml, epost2.xml...);
`PubMedIndex` answers esearch/epost/efetch from a set of real PubMed articles cut out of the
efetch fixtures, the way the live service would (history server, retstart/retmax, id lists).
Faults are queued and served before normal answers: status codes, Retry-After, error bodies, a
body cut short of its Content-Length.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lxml import etree

Answer = tuple[int, dict[str, str], bytes]
Route = Callable[[dict[str, str]], Answer]

XML = {"Content-Type": "text/xml; charset=UTF-8"}


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
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/entrez/eutils/"

    def __enter__(self) -> FakeEutils:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def recorded(self, utility: str, path: Path, status: int = 200) -> None:
        body = path.read_bytes()
        self.routes[utility] = lambda _params: (status, dict(XML), body)

    def calls(self, utility: str | None = None) -> list[Logged]:
        return [c for c in self.log if utility is None or c.utility == utility]

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
                if fault is not None:
                    self._send(fault.status, fault.headers, fault.body, fault.truncate_to)
                    return
                route = server.routes.get(utility)
                if route is None:
                    self._send(404, {}, b"no route", None)
                    return
                status, headers, body = route(params)
                self._send(status, headers, body, None)

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

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


def articles_from(paths: Iterable[Path]) -> dict[str, etree._Element]:
    """PMID -> <PubmedArticle> element, cut out of efetch fixture files."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    out: dict[str, etree._Element] = {}
    for path in paths:
        root = etree.parse(str(path), parser).getroot()
        for article in root.iterfind("PubmedArticle"):
            out[article.findtext("MedlineCitation/PMID")] = article
    return out


def article_set(articles: Iterable[etree._Element]) -> bytes:
    root = etree.Element("PubmedArticleSet")
    for a in articles:
        root.append(copy.deepcopy(a))
    return b'<?xml version="1.0" ?>\n' + etree.tostring(root)


def esearch_xml(count: int, ids: list[str], webenv: str | None, key: str | None) -> bytes:
    history = f"<QueryKey>{key}</QueryKey><WebEnv>{webenv}</WebEnv>" if webenv else ""
    id_list = "".join(f"<Id>{i}</Id>" for i in ids)
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        f"<eSearchResult><Count>{count}</Count><RetMax>{len(ids)}</RetMax><RetStart>0</RetStart>"
        f"{history}<IdList>{id_list}</IdList><TranslationSet/>"
        "<QueryTranslation>synthetic</QueryTranslation></eSearchResult>"
    ).encode()


class PubMedIndex:
    """Answers esearch/epost/efetch like PubMed over a fixed set of real articles.

    ``searches`` maps a query term to its PMIDs, or to (PMID, Entrez date "YYYY/MM/DD") pairs so
    that a date window (mindate/maxdate) filters them like ``datetype=edat`` does.
    """

    def __init__(self, articles: dict[str, etree._Element]) -> None:
        self.articles = articles
        self.searches: dict[str, list[tuple[str, str]]] = {}
        self.history: dict[tuple[str, str], list[str]] = {}
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
            lo, hi = p["mindate"], p.get("maxdate", "9999/12/31")
            hits = [h for h in hits if lo <= h[1] <= hi]
        ids = [h[0] for h in hits]
        start, size = int(p.get("retstart", 0)), int(p.get("retmax", 20))
        webenv, key = self._remember(ids) if p.get("usehistory") == "y" else (None, None)
        return 200, dict(XML), esearch_xml(len(ids), ids[start : start + size], webenv, key)

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
        return 200, dict(XML), article_set(self.articles[i] for i in ids if i in self.articles)
