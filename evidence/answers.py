"""What an NCBI E-utilities answer means, and whether it is one.

It exists so that validation is one place, free of HTTP: a body is checked (XML, no NCBI error,
no HTML, the expected root, not short of what was asked) before anything uses or caches it, and
a failure is told apart as worth retrying (`TransientError`) or not (`FetchError`). The transport
calls `check_body`/`check_answer` on every network answer; the client parses esearch answers
with `parse_esearch` into a `SearchResult`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from .errors import FetchError, ParseError
from .pmids import check_pmid, is_pmid

ROOTS = {"esearch": "eSearchResult", "efetch": "PubmedArticleSet", "epost": "ePostResult"}
XML_TYPES = frozenset({"text/xml", "application/xml"})
SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)

Pmid = str


class TransientError(Exception):
    """A failure worth retrying (429/5xx, connection error, timeout, short or empty answer)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


# -- validation ------------------------------------------------------------------------------
def check_body(content: bytes, where: str, content_type: str = "") -> etree._Element:
    """The root of ``content`` if it is a well-formed XML E-utilities answer without ``<ERROR>``.

    JSON error bodies (NCBI's rate-limit answer comes as JSON, sometimes with status 200) are
    recognised first; a rate-limit message is transient.
    """
    head = content.lstrip()[:1]
    if head == b"{":
        try:
            doc = json.loads(content)
        except ValueError as exc:
            raise FetchError(where, f"malformed JSON body: {exc}") from None
        if isinstance(doc, dict) and "error" in doc:
            message = str(doc["error"])
            if "rate limit" in message.lower():
                raise TransientError(f"NCBI: {message}")
            raise FetchError(where, f"NCBI error: {message}")
        raise FetchError(where, "JSON answer where XML was asked for")
    mime = content_type.split(";")[0].strip().lower()
    if mime and mime not in XML_TYPES and not mime.endswith("+xml"):
        page = " (an HTML page, e.g. a proxy or maintenance notice)" if "html" in mime else ""
        raise FetchError(where, f"expected XML, got {mime}{page}")
    if head != b"<":
        raise FetchError(where, "empty or non-XML body" if not head else "body is not XML")
    try:
        root = etree.fromstring(content, SAFE_XML)
    except etree.XMLSyntaxError as exc:
        raise FetchError(where, f"truncated or malformed XML: {exc}") from None
    if root.tag.lower() == "html":
        raise FetchError(where, "an HTML page, not an E-utilities answer")
    errors = [root] if root.tag == "ERROR" else root.findall("ERROR")
    if errors:
        text = "; ".join((e.text or "").strip() for e in errors)
        raise FetchError(where, f"NCBI error: {text}")
    return root


def check_answer(utility: str, params: Mapping[str, str], root: etree._Element, where: str) -> bool:
    """Raise unless ``root`` answers this request; False for an efetch answer that lacks some
    of the requested records (usable, but not to be cached)."""
    expected = ROOTS.get(utility)
    if expected and root.tag != expected:
        raise FetchError(where, f"expected <{expected}>, got <{root.tag}>")
    if utility == "esearch":
        result = _esearch_result(root, where)
        start, size = int(params.get("retstart", 0)), int(params.get("retmax", 20))
        due = max(0, min(size, result.count - start))
        if len(result.ids) < due:
            raise TransientError(
                f"esearch answer lists {len(result.ids)} PMIDs where {due} were due "
                f"(Count {result.count}, retstart {start}, retmax {size})"
            )
    elif utility == "efetch":
        return _efetch_complete(root, params)
    elif utility == "epost" and not (root.findtext("WebEnv") and root.findtext("QueryKey")):
        raise FetchError(where, "epost answer has no WebEnv/QueryKey")
    return True


def _article_pmid(article: etree._Element) -> str:
    path = "BookDocument/PMID" if article.tag == "PubmedBookArticle" else "MedlineCitation/PMID"
    return (article.findtext(path) or "").strip()


def _efetch_complete(root: etree._Element, params: Mapping[str, str]) -> bool:
    articles = [a for a in root if a.tag in ("PubmedArticle", "PubmedBookArticle")]
    pmids = {p for p in map(_article_pmid, articles) if is_pmid(p)}
    if "id" in params:
        # PubMed answers PMIDs it does not have (or no longer has) by leaving them out, down to
        # an empty set: usable, the caller names what is missing, but never cached.
        return {i.strip() for i in params["id"].split(",") if i.strip()} <= pmids
    asked = int(params.get("retmax", 20))
    if asked and not articles:  # a history-server window is known to hold records
        raise TransientError(f"empty <PubmedArticleSet/> where {asked} records were asked for")
    return len(pmids) >= asked


# -- results ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchResult:
    count: int
    ids: list[Pmid]
    webenv: str | None
    query_key: str | None
    query_translation: str
    warnings: list[str]
    requests: int = 1  # esearch calls it took (network or cache)
    min_requests: int = 1  # the fewest that could have served ``count`` PMIDs


def parse_esearch(body: bytes, where: str = "esearch") -> SearchResult:
    """An eSearchResult document -> SearchResult (zero hits is a result, not an error)."""
    try:
        root = etree.fromstring(body, SAFE_XML)
    except etree.XMLSyntaxError as exc:
        raise FetchError(where, f"truncated or malformed XML: {exc}") from None
    return _esearch_result(root, where)


def _esearch_result(root: etree._Element, where: str) -> SearchResult:
    if root.tag != "eSearchResult":
        raise FetchError(where, f"unexpected answer <{root.tag}>")
    count = (root.findtext("Count") or "").strip()
    if not count.isascii() or not count.isdigit():
        raise FetchError(where, f"answer has no valid <Count> (got {count!r})")
    try:
        ids = [
            check_pmid((el.text or "").strip(), "esearch <Id>") for el in root.iterfind("IdList/Id")
        ]
    except ParseError as exc:
        raise FetchError(where, exc.reason) from None
    warnings = [
        f"{el.tag}: {(el.text or '').strip()}"
        for parent in (root.find("ErrorList"), root.find("WarningList"))
        if parent is not None
        for el in parent
    ]
    return SearchResult(
        count=int(count),
        ids=ids,
        webenv=root.findtext("WebEnv"),
        query_key=root.findtext("QueryKey"),
        query_translation=root.findtext("QueryTranslation") or "",
        warnings=warnings,
    )
