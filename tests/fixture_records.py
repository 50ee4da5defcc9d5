"""Records from the shared PubMed fixtures, for tagging tests and benchmarks.

Uses the project's parsers (`evidence.records.parse_pubmed_xml`, `evidence.medline`) when they
exist; until then a minimal lxml / Bio.Medline reading of the fields tagging needs. The fallback
is test-only scaffolding, not a second parser for the product.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
from lxml import etree

from evidence.schema import RECORD_FIELDS


def _blank() -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in RECORD_FIELDS.names}
    for name in RECORD_FIELDS.names:
        if str(RECORD_FIELDS.field(name).type).startswith("list"):
            row[name] = []
    row["retracted"] = False
    return row


def _text(el: etree._Element | None) -> str:
    return " ".join("".join(el.itertext()).split()) if el is not None else ""


def _parse_xml_minimal(path: Path) -> list[dict[str, Any]]:
    rows = []
    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
    for art in tree.iter("PubmedArticle"):
        cit = art.find("MedlineCitation")
        row = _blank()
        row["pmid"] = _text(cit.find("PMID"))
        row["title"] = _text(cit.find("Article/ArticleTitle"))
        row["abstract"] = " ".join(_text(a) for a in cit.findall("Article/Abstract/AbstractText"))
        row["publication_types"] = [
            _text(p) for p in cit.findall("Article/PublicationTypeList/PublicationType")
        ]
        row["mesh"] = [
            {
                "descriptor": _text(h.find("DescriptorName")),
                "ui": h.find("DescriptorName").get("UI", ""),
                "major": h.find("DescriptorName").get("MajorTopicYN") == "Y",
                "qualifiers": [_text(q) for q in h.findall("QualifierName")],
            }
            for h in cit.findall("MeshHeadingList/MeshHeading")
        ]
        row["keywords"] = [_text(k) for k in cit.findall("KeywordList/Keyword")]
        row["citation_status"] = cit.get("Status", "")
        year = cit.find("Article/Journal/JournalIssue/PubDate/Year")
        row["pub_year"] = int(year.text) if year is not None else None
        row["source"] = "efetch"
        rows.append(row)
    return rows


def _parse_medline_minimal(path: Path) -> list[dict[str, Any]]:
    from Bio import Medline

    rows = []
    with open(path, encoding="utf-8") as handle:
        for rec in Medline.parse(handle):
            row = _blank()
            row["pmid"] = rec.get("PMID", "")
            row["title"] = rec.get("TI", "")
            row["abstract"] = rec.get("AB", "")
            row["publication_types"] = list(rec.get("PT", []))
            mesh = []
            for mh in rec.get("MH", []):
                descriptor, *quals = mh.split("/")
                mesh.append(
                    {
                        "descriptor": descriptor.lstrip("*"),
                        "ui": "",
                        "major": mh.startswith("*") or any(q.startswith("*") for q in quals),
                        "qualifiers": [q.lstrip("*") for q in quals],
                    }
                )
            row["mesh"] = mesh
            row["keywords"] = list(rec.get("OT", []))
            row["citation_status"] = rec.get("STAT", "")
            m = re.match(r"\d{4}", rec.get("DP", ""))
            row["pub_year"] = int(m.group(0)) if m else None
            row["source"] = "nbib"
            rows.append(row)
    return rows


def pubmed_fixture_records(shared: Path) -> pd.DataFrame:
    """Every record of the shared efetch XML and MEDLINE fixtures, one row each."""
    try:
        from evidence.records import parse_medline, parse_pubmed_xml, records_frame
    except ImportError:  # the project's parsers not there yet: minimal readers above
        parse_pubmed_xml = parse_medline = records_frame = None  # type: ignore[assignment]
    rows: list[dict[str, Any]] = []
    for path in sorted((shared / "fixtures" / "eutils").glob("pubmed*.xml")):
        rows.extend(parse_pubmed_xml(path) if parse_pubmed_xml else _parse_xml_minimal(path))
    for path in sorted((shared / "fixtures" / "medline").glob("pubmed_result*.txt")):
        rows.extend(parse_medline(path) if parse_medline else _parse_medline_minimal(path))
    if records_frame is not None:
        return records_frame(rows)
    return pd.DataFrame(rows, columns=list(RECORD_FIELDS.names))
