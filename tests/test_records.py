"""Record parsing: lxml streaming parse checked against Biopython, MEDLINE export, hostile XML."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from Bio import Entrez
from lxml import etree

from evidence.errors import ParseError
from evidence.records import (
    ParseStats,
    content_hash,
    date_from_text,
    parse_medline,
    parse_pubmed_xml,
    records_frame,
)
from evidence.schema import RECORD_FIELDS

_TAG = re.compile(r"</?(?:i|b|u|sup|sub|mml:\w+)(?:\s[^>]*)?>")  # inline markup only


_MATH = re.compile(r"<math\b.*?</math>", re.S)


def _compact_math(match: re.Match) -> str:
    return "".join(t.strip() for t in etree.fromstring(match.group(0)).itertext())


def _flat(value) -> str:
    text = _MATH.sub(_compact_math, str(value))
    return re.sub(r"\s+", " ", _TAG.sub("", text)).strip()


def biopython_row(article: dict) -> dict:
    """The reference: the same fields read from ``Bio.Entrez.read``'s structure."""
    citation = article["MedlineCitation"]
    art = citation["Article"]
    journal = art["Journal"]
    issue = journal["JournalIssue"]
    abstract = art.get("Abstract", {}).get("AbstractText", [])
    ids = {str(a.attributes["IdType"]): str(a) for a in article["PubmedData"]["ArticleIdList"]}
    doi = next(
        (str(e) for e in art.get("ELocationID", []) if e.attributes.get("EIdType") == "doi"),
        ids.get("doi", ""),
    )
    authors = []
    for a in art.get("AuthorList", []):
        if "CollectiveName" in a:
            authors.append(_flat(a["CollectiveName"]))
        elif a.get("LastName"):
            authors.append(f"{a['LastName']} {a.get('Initials', '')}".strip())
    mesh = [
        {
            "descriptor": str(h["DescriptorName"]),
            "major": h["DescriptorName"].attributes["MajorTopicYN"] == "Y"
            or any(q.attributes["MajorTopicYN"] == "Y" for q in h["QualifierName"]),
            "qualifiers": [str(q) for q in h["QualifierName"]],
        }
        for h in citation.get("MeshHeadingList", [])
    ]
    corrections = citation.get("CommentsCorrectionsList", [])
    entrez = next(
        d for d in article["PubmedData"]["History"] if d.attributes["PubStatus"] == "entrez"
    )
    return {
        "pmid": str(citation["PMID"]),
        "title": _flat(art["ArticleTitle"]),
        "abstract_texts": [_flat(t) for t in abstract],
        "abstract_labels": [t.attributes.get("Label", "") for t in abstract],
        "journal": str(journal.get("Title", "")),
        "journal_iso": str(journal.get("ISOAbbreviation", "")),
        "volume": str(issue.get("Volume", "")),
        "issue": str(issue.get("Issue", "")),
        "pub_year": int(issue["PubDate"]["Year"]) if "Year" in issue["PubDate"] else None,
        "entrez_date": f"{int(entrez['Year']):04d}-{int(entrez['Month']):02d}-{int(entrez['Day']):02d}",
        "authors": authors,
        "doi": doi,
        "pmcid": ids.get("pmc", ""),
        "languages": [str(x) for x in art["Language"]],
        "publication_types": [str(p) for p in art["PublicationTypeList"]],
        "mesh": mesh,
        "keywords": [_flat(k) for kl in citation.get("KeywordList", []) for k in kl],
        "citation_status": str(citation.attributes["Status"]),
        "retracted": any(c.attributes["RefType"] == "RetractionIn" for c in corrections)
        or "Retracted Publication" in [str(p) for p in art["PublicationTypeList"]],
        "errata": [str(c["PMID"]) for c in corrections if c.attributes["RefType"] == "ErratumIn"],
    }


def ours(row: dict) -> dict:
    return {
        "pmid": row["pmid"],
        "title": row["title"],
        "abstract_texts": [s["text"] for s in row["abstract_sections"]],
        "abstract_labels": [s["label"] for s in row["abstract_sections"]],
        "journal": row["journal"],
        "journal_iso": row["journal_iso"],
        "volume": row["volume"],
        "issue": row["issue"],
        "pub_year": row["pub_year"],
        "entrez_date": row["entrez_date"],
        "authors": row["authors"],
        "doi": row["doi"],
        "pmcid": row["pmcid"],
        "languages": row["languages"],
        "publication_types": row["publication_types"],
        "mesh": [{k: m[k] for k in ("descriptor", "major", "qualifiers")} for m in row["mesh"]],
        "keywords": row["keywords"],
        "citation_status": row["citation_status"],
        "retracted": row["retracted"],
        "errata": row["errata"],
    }


def test_lxml_and_biopython_agree_on_every_fixture(eutils_dir):
    files = sorted(eutils_dir.glob("pubmed*.xml"))
    assert len(files) >= 6
    compared = 0
    for path in files:
        with open(path, "rb") as handle:
            reference = Entrez.read(handle)["PubmedArticle"]
        rows = list(parse_pubmed_xml(path))
        assert len(rows) == len(reference), path.name
        for row, article in zip(rows, reference, strict=True):
            assert ours(row) == biopython_row(article), f"{path.name} PMID {row['pmid']}"
            compared += 1
    assert compared >= 8


def test_fixture_fields_read_as_pubmed_shows_them(eutils_dir):
    (row,) = parse_pubmed_xml(eutils_dir / "pubmed4.xml")
    assert row["pmid"] == "27797938"
    assert row["title"].startswith("Leucocyte telomere length, genetic variants at the TERT gene")
    assert [s["label"] for s in row["abstract_sections"]] == [
        "OBJECTIVE",
        "DESIGN",
        "RESULTS",
        "CONCLUSIONS",
    ]
    assert row["abstract"].startswith("OBJECTIVE: Telomere shortening")
    assert (row["journal"], row["journal_iso"], row["volume"], row["issue"]) == (
        "Gut",
        "Gut",
        "66",
        "6",
    )
    assert (row["pages"], row["pub_year"], row["pub_date"]) == ("1116-1122", 2017, "2017-06")
    assert (row["epub_date"], row["entrez_date"]) == ("2016-10-21", "2016-11-01")
    assert (row["doi"], row["pmcid"]) == ("10.1136/gutjnl-2016-312510", "PMC5442267")
    assert row["authors"][:2] == ["Bao Y", "Prescott J"]
    adeno = next(m for m in row["mesh"] if m["descriptor"] == "Adenocarcinoma")
    assert adeno == {
        "descriptor": "Adenocarcinoma",
        "ui": "D000230",
        "major": True,  # major through its qualifiers
        "qualifiers": ["epidemiology", "genetics"],
    }
    assert row["citation_status"] == "MEDLINE" and not row["retracted"]


def test_collective_author_is_kept(eutils_dir):
    (row,) = parse_pubmed_xml(eutils_dir / "pubmed7.xml")
    assert "Canadian Respiratory Research Network" in row["authors"]


def test_season_date(eutils_dir):
    first = next(iter(parse_pubmed_xml(eutils_dir / "pubmed1.xml")))
    assert (first["pub_year"], first["pub_date"], first["pub_date_text"]) == (
        1990,
        "1990",
        "1990 Spring",
    )


SYNTHETIC = b"""<?xml version="1.0"?>
<PubmedArticleSet>
<PubmedArticle><MedlineCitation Status="In-Process" Owner="NLM"><PMID Version="1">99000001</PMID>
<Article><Journal><JournalIssue><Volume>1</Volume><PubDate><MedlineDate>2020 Jul-Aug</MedlineDate>
</PubDate></JournalIssue><Title>SYNTHETIC Journal</Title></Journal>
<ArticleTitle>SYNTHETIC test record with <i>italic</i> and H<sub>2</sub>O</ArticleTitle>
<Abstract><AbstractText>Plain abstract, no label.</AbstractText></Abstract>
<Language>eng</Language><PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType>
<PublicationType UI="D016441">Retracted Publication</PublicationType></PublicationTypeList></Article>
<CommentsCorrectionsList>
<CommentsCorrections RefType="RetractionIn"><RefSource>SYNTHETIC notice</RefSource><PMID Version="1">99000002</PMID></CommentsCorrections>
<CommentsCorrections RefType="ErratumIn"><RefSource>SYNTHETIC erratum</RefSource><PMID Version="1">99000003</PMID></CommentsCorrections>
<CommentsCorrections RefType="ExpressionOfConcernIn"><RefSource>SYNTHETIC concern</RefSource><PMID Version="1">99000004</PMID></CommentsCorrections>
</CommentsCorrectionsList></MedlineCitation>
<PubmedData><History><PubMedPubDate PubStatus="entrez"><Year>2020</Year><Month>8</Month><Day>1</Day></PubMedPubDate></History>
<ArticleIdList><ArticleId IdType="pubmed">99000001</ArticleId></ArticleIdList></PubmedData></PubmedArticle>
<PubmedBookArticle><BookDocument><PMID Version="1">99000005</PMID><Book><BookTitle>SYNTHETIC book</BookTitle>
<PubDate><Year>2019</Year></PubDate></Book><ArticleTitle>SYNTHETIC chapter</ArticleTitle></BookDocument>
<PubmedBookData><History><PubMedPubDate PubStatus="entrez"><Year>2019</Year><Month>01</Month><Day>02</Day></PubMedPubDate></History></PubmedBookData></PubmedBookArticle>
<PubmedBookArticle><BookDocument></BookDocument></PubmedBookArticle>
</PubmedArticleSet>"""


def test_medline_date_retraction_erratum_concern_and_books():
    stats = ParseStats()
    article, book = parse_pubmed_xml(SYNTHETIC, stats=stats)
    assert (stats.articles, stats.books, stats.skipped) == (1, 1, 1)
    assert article["title"] == "SYNTHETIC test record with italic and H2O"
    assert (article["pub_year"], article["pub_date"], article["pub_date_text"]) == (
        2020,
        "2020-07",
        "2020 Jul-Aug",
    )
    assert article["retracted"] and article["retraction_notices"] == ["99000002"]
    assert article["errata"] == ["99000003"]
    assert article["expression_of_concern"] and article["concern_notices"] == ["99000004"]
    assert article["citation_status"] == "In-Process" and article["entrez_date"] == "2020-08-01"
    assert article["abstract"] == "Plain abstract, no label."
    assert (book["pmid"], book["article_kind"], book["title"], book["pub_year"]) == (
        "99000005",
        "book",
        "SYNTHETIC chapter",
        2019,
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2020 Jul-Aug", (2020, "2020-07")),
        ("1998 Dec-1999 Jan", (1998, "1998-12")),
        ("2000 Spring", (2000, "2000")),
        ("2015", (2015, "2015")),
        ("Winter", (None, "")),
    ],
)
def test_date_from_text(text, expected):
    assert date_from_text(text) == expected


def test_xxe_is_not_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = f"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [
  <!ENTITY xxe SYSTEM "file://{secret}">
  <!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<PubmedArticleSet><PubmedArticle><MedlineCitation Status="MEDLINE"><PMID>99000010</PMID>
<Article><ArticleTitle>SYNTHETIC &xxe; title &lol3;</ArticleTitle></Article></MedlineCitation>
</PubmedArticle></PubmedArticleSet>""".encode()
    (row,) = parse_pubmed_xml(doc)
    assert "TOP-SECRET" not in row["title"]
    assert "lollol" not in row["title"]  # internal entities not expanded either
    assert row["title"].startswith("SYNTHETIC") and len(row["title"]) < 60


def test_malformed_xml_names_the_line():
    with pytest.raises(ParseError, match="malformed XML at line"):
        list(parse_pubmed_xml(SYNTHETIC[:700]))


def test_content_hash_changes_with_content_only():
    row = next(iter(parse_pubmed_xml(SYNTHETIC)))
    same = dict(row, source="nbib")
    assert content_hash(same) == row["content_hash"]
    changed = dict(row, mesh=[{"descriptor": "Humans", "ui": "", "major": False, "qualifiers": []}])
    assert content_hash(changed) != row["content_hash"]


def test_medline_export_parses_into_the_same_shape(medline_dir):
    rows = [r for p in sorted(medline_dir.glob("*.txt")) for r in parse_medline(p)]
    assert len(rows) >= 4
    first = next(r for r in rows if r["pmid"] == "12230038")
    assert first["title"] == "The Bio* toolkits--a brief overview."
    assert (first["pub_year"], first["pub_date"], first["entrez_date"]) == (
        2002,
        "2002-09",
        "2002-09-17",
    )
    assert (
        first["journal"] == "Briefings in bioinformatics"
        and first["journal_iso"] == "Brief Bioinform"
    )
    assert first["authors"] == ["Mangalam H"] and first["citation_status"] == "MEDLINE"
    majors = {m["descriptor"] for m in first["mesh"] if m["major"]}
    assert majors == {"Computational Biology", "Programming Languages", "Software"}
    assert all(set(r) == set(RECORD_FIELDS.names) for r in rows)
    assert all(r["source"] == "nbib" for r in rows)


def test_medline_without_pmid_is_a_clear_error():
    with pytest.raises(ParseError, match="valid PMID"):
        list(parse_medline(io.StringIO("TI  - SYNTHETIC no pmid\n")))


def test_records_frame_has_the_schema_dtypes(eutils_dir):
    rows = [r for p in sorted(eutils_dir.glob("pubmed*.xml")) for r in parse_pubmed_xml(p)]
    frame = records_frame(rows + rows[:1])
    assert list(frame.columns) == RECORD_FIELDS.names
    assert frame["pmid"].is_unique and len(frame) == len(rows)
    assert str(frame["pub_year"].dtype) == "Int32"
    assert frame["retracted"].dtype == bool


# -- the one-pass reader (issue 12) keeps find()'s first-match rules ---------------------------


def _edited_pubmed4(
    eutils_dir: Path,
    edit: Callable[[etree._Element], None],
    stats: ParseStats | None = None,
) -> list[dict]:
    """The real pubmed4.xml record after ``edit(article_element)``, parsed by parse_pubmed_xml."""
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
    root = etree.parse(str(eutils_dir / "pubmed4.xml"), parser).getroot()
    edit(root.find("PubmedArticle"))
    return list(parse_pubmed_xml(etree.tostring(root), stats=stats))


def _sub(
    parent: etree._Element,
    tag: str,
    text: str | None = None,
    index: int | None = None,
    **attrib: str,
) -> etree._Element:
    """A new child ``tag`` of ``parent`` (at ``index``, else last)."""
    el = etree.Element(tag, attrib)
    el.text = text
    parent.insert(len(parent) if index is None else index, el)
    return el


def test_first_match_rules_survive_duplicated_elements(eutils_dir):
    def edit(art):
        citation = art.find("MedlineCitation")
        article = citation.find("Article")
        issue = article.find("Journal/JournalIssue")
        _sub(issue, "Volume", "999")  # a second Volume: the first one counts
        issue.insert(0, etree.Comment("a comment among the children changes nothing"))
        doi = article.find("ELocationID")
        _sub(article, "ELocationID", "10.9/invalid", article.index(doi), EIdType="doi", ValidYN="N")
        date = article.find("ArticleDate")
        later = _sub(article, "ArticleDate", None, article.index(date) + 1, DateType="Electronic")
        for tag, text in (("Year", "2017"), ("Month", "01"), ("Day", "02")):
            _sub(later, tag, text)
        keywords = _sub(citation, "KeywordList", Owner="NLM")
        _sub(keywords, "Keyword", "SYNTHETIC second list")
        history = _sub(art.find("PubmedData"), "History", index=0)
        early = _sub(history, "PubMedPubDate", PubStatus="entrez")
        for tag, text in (("Year", "2001"), ("Month", "02"), ("Day", "03")):
            _sub(early, tag, text)

    (row,) = _edited_pubmed4(eutils_dir, edit)
    assert row["volume"] == "66"
    assert row["doi"] == "10.1136/gutjnl-2016-312510"  # the invalid ELocationID is skipped
    assert row["epub_date"] == "2017-01-02"  # the last electronic date, as before
    assert row["keywords"] == ["PANCREATIC CANCER", "SYNTHETIC second list"]
    assert row["entrez_date"] == "2001-02-03"  # the first History's entrez date
    assert row["pmcid"] == "PMC5442267"


def test_doi_falls_back_to_the_article_id_list(eutils_dir):
    def edit(art):
        article = art.find("MedlineCitation/Article")
        article.remove(article.find("ELocationID"))

    (row,) = _edited_pubmed4(eutils_dir, edit)
    assert row["doi"] == "10.1136/gutjnl-2016-312510"


@pytest.mark.parametrize("pmid, problem", [(None, "no PMID"), ("027797938", "malformed PMID")])
def test_entry_without_a_good_pmid_is_skipped_and_named(eutils_dir, pmid, problem):
    def edit(art):
        citation = art.find("MedlineCitation")
        if pmid is None:
            citation.remove(citation.find("PMID"))
        else:
            citation.find("PMID").text = pmid
            _sub(citation, "PMID", "27797938")  # only the first PMID is the citation's

    stats = ParseStats()
    assert _edited_pubmed4(eutils_dir, edit, stats) == []
    assert stats.skipped == 1 and problem in stats.problems[0]
    assert "PubmedArticle at line" in stats.problems[0]


WHITESPACE = [chr(c) for c in range(0x110000) if chr(c).isspace()]


def test_every_kind_of_whitespace_collapses_to_one_space():
    """The cheap "nothing to squash" check must never miss a whitespace character."""
    # what the check relies on, for this Python's Unicode tables: only " " is printable
    assert [c for c in WHITESPACE if c.isprintable()] == [" "]
    entries = "".join(
        f"<PubmedArticle><MedlineCitation><PMID>{99000100 + i}</PMID><Article>"
        f"<ArticleTitle>SYNTHETIC &#{ord(c)};title&#{ord(c)};&#{ord(c)};end </ArticleTitle>"
        "</Article></MedlineCitation></PubmedArticle>"
        for i, c in enumerate(WHITESPACE)
        if c not in "\x1c\x1d\x1e\x1f\x0b\x0c"  # not allowed in XML 1.0
    )
    rows = list(parse_pubmed_xml(f"<PubmedArticleSet>{entries}</PubmedArticleSet>".encode()))
    assert len(rows) == len(WHITESPACE) - 6
    assert {r["title"] for r in rows} == {"SYNTHETIC title end"}


def test_unprintable_non_space_characters_are_kept():
    doc = (
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>99000200</PMID><Article>"
        "<ArticleTitle> SYNTHETIC zero&#x200b;width </ArticleTitle>"
        "</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"
    )
    (row,) = parse_pubmed_xml(doc.encode())
    assert row["title"] == "SYNTHETIC zero\u200bwidth"


MATH_DOC = b"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [<!ENTITY ent "expanded">]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>99000300</PMID><Article>
<ArticleTitle>SYNTHETIC</ArticleTitle><Abstract><AbstractText>Peak <mml:math
xmlns:mml="http://www.w3.org/1998/Math/MathML"> <mml:msub> <mml:mi> V </mml:mi>
<mml:mi>O2</mml:mi> </mml:msub><!-- layout --></mml:math>max rose<!-- c --> (<sup>n <mml:math
xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:mn>3</mml:mn> <mml:mo>+</mml:mo>
<mml:mn>1</mml:mn></mml:math> x</sup>) &ent; <?pi text?>end</AbstractText></Abstract>
</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"""


def test_mathml_is_compacted_where_it_stands():
    """Formulas lose their layout spaces, in place; comments and PIs are not text; an
    unexpanded entity keeps its name (as ``itertext`` gives it)."""
    (row,) = parse_pubmed_xml(MATH_DOC)
    assert row["abstract"] == "Peak VO2max rose (n 3+1 x) &ent; end"


def test_fixture_formulas_read_as_one_token(eutils_dir):
    (row,) = parse_pubmed_xml(eutils_dir / "pubmed7.xml")
    assert "inhaled He3/Xe129MRI ventilation" in row["abstract"]
    (row,) = parse_pubmed_xml(eutils_dir / "pubmed6.xml")
    assert "velocity at MLSS (VMLSS)" in row["abstract"]
