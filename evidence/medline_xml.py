"""MEDLINE bulk XML (``MedlineCitationSet`` of ``MedlineCitation``) -> record rows.

NLM's baseline/update files up to 2016 wrap bare ``MedlineCitation`` elements in a
``MedlineCitationSet`` instead of efetch's ``PubmedArticle`` envelope. Each citation is lent to a
throw-away ``PubmedArticle`` and read by `records.article_row`, so both forms give exactly the
same fields by the same code. The citation form has no ``PubmedData``: ``entrez_date`` and
``pmcid`` stay empty (a DOI still comes from ``ELocationID``).

Parsed like efetch XML: streamed with lxml ``iterparse`` with DTD loading, network access and
entity expansion off (these files name an external DTD that must not be fetched). ``huge_tree``
stays off: no MEDLINE text node comes near libxml2's limits, so they stay as a guard. Gzip input
(as NLM distributes these files) is recognised by its magic bytes, whatever the file is called.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from lxml import etree

from .errors import ParseError
from .records import ParseStats, Row, Source, article_row

_GZIP_MAGIC = b"\x1f\x8b"


def _is_gzip(stream: IO[bytes]) -> bool:
    """Whether the stream starts with gzip's magic bytes, without consuming them."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return peek(2)[:2] == _GZIP_MAGIC
    if stream.seekable():
        start = stream.tell()
        head = stream.read(2)
        stream.seek(start)
        return head == _GZIP_MAGIC
    return False  # neither peekable nor seekable: read as plain XML


@contextmanager
def _opened(source: Source) -> Iterator[IO[bytes]]:
    """A binary stream of the XML, decompressed on the fly when the input is gzip.

    Files this opens are closed on exit; a stream the caller passed is left open.
    """
    with ExitStack() as stack:
        if isinstance(source, bytes):
            raw: IO[bytes] = io.BytesIO(source)
        elif isinstance(source, str | Path):
            raw = stack.enter_context(open(source, "rb"))
        else:
            raw = source
        if _is_gzip(raw):
            # GzipFile never closes the stream it reads from
            yield stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        else:
            yield raw


def citation_row(
    citation: etree._Element, source: str = "medline_xml", problems: list[str] | None = None
) -> Row:
    """One bare <MedlineCitation> -> a row, read by the efetch parser.

    The element is moved into a new ``PubmedArticle`` parent (lxml elements have one parent),
    which also takes it out of the streamed document so that the document does not grow.
    """
    envelope = etree.Element("PubmedArticle")
    envelope.append(citation)
    return article_row(envelope, source, problems)


def parse_medline_xml(
    source: Source, *, source_name: str = "medline_xml", stats: ParseStats | None = None
) -> Iterator[Row]:
    """Stream rows from a MedlineCitationSet (bytes, path or binary file; plain or gzip).

    A citation that cannot be read (no or a malformed PMID) is counted in ``stats.skipped`` and
    described in ``stats.problems``, as `records.parse_pubmed_xml` does; malformed XML, or
    a PubmedArticleSet passed by mistake (its ``PubmedData`` would be lost), raises ParseError.
    """
    stats = stats if stats is not None else ParseStats()
    label = str(source) if isinstance(source, str | Path) else "MEDLINE XML"
    with _opened(source) as handle:
        events = etree.iterparse(
            handle,
            events=("end",),
            tag="MedlineCitation",
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
        )
        try:
            for _, element in events:
                parent = element.getparent()
                if parent is not None and parent.tag != "MedlineCitationSet":
                    raise ParseError(
                        label, f"MedlineCitation inside {parent.tag}: use parse_pubmed_xml"
                    )
                line = element.sourceline
                try:
                    yield citation_row(element, source_name, stats.problems)
                    stats.articles += 1
                except ParseError as exc:
                    stats.skipped += 1
                    stats.problems.append(
                        f"{label}: MedlineCitation at line {line}: {exc} (entry skipped)"
                    )
                # the citation left the document in citation_row; drop what came before it
                # (DeleteCitation lists) so memory stays flat on a 30,000-citation file
                if parent is not None:
                    del parent[:]
        except (etree.XMLSyntaxError, EOFError, gzip.BadGzipFile) as exc:
            where = f" at line {exc.lineno}" if isinstance(exc, etree.XMLSyntaxError) else ""
            raise ParseError(label, f"malformed input{where}: {exc}") from exc
