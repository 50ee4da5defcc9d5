"""Issue 10: input checks that let bad data in.

One PMID rule in every reader (efetch XML, .nbib, curated JSONL/CSV, the editor's PMID box), CSV
rows that lose cells, line numbers of multi-line CSV rows, non-UTF-8 files, and BibTeX/RIS values
that could add fields. Everything goes through the real parsers and, for imports, a real store.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
from pathlib import Path

import bibtexparser
import pandas as pd
import pytest
from lxml import etree

from evidence import citations, views
from evidence.curated import CuratedError, read_curated
from evidence.errors import ParseError
from evidence.imports import fetch_pmids, import_file
from evidence.pmids import check_pmid, is_pmid
from evidence.records import ParseStats, parse_medline, parse_pubmed_xml
from evidence.settings import Settings, load_settings
from evidence.store import Store
from tests import store_synthetic as syn

BAD_PMIDS = ["²", "١٢٣", "0", "0123", "123456789", " 12", "12a", "-5"]
GOOD_PMIDS = ["1", "12345678"]
CLAIMS = {"C01", "C02", "C03"}
HEADER = "pmid,claim,stance,note\n"


# --- the rule itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_PMIDS)
def test_rule_refuses(value: str) -> None:
    assert not is_pmid(value)
    with pytest.raises(ParseError, match=r"^somewhere: malformed PMID"):
        check_pmid(value, "somewhere")


@pytest.mark.parametrize("value", GOOD_PMIDS)
def test_rule_accepts(value: str) -> None:
    assert is_pmid(value) and check_pmid(value, "somewhere") == value


def test_rule_accepts_every_real_pmid(eutils_dir: Path, medline_dir: Path) -> None:
    """NCBI's own answers and NLM's 2016 baseline sample: every PMID element obeys the rule."""
    with gzip.open(medline_dir / "medline16n0902.xml.gz") as handle:
        pmids = [el.text for el in etree.parse(handle).iter("PMID")]
    for path in sorted(eutils_dir.glob("*.xml")):
        tree = etree.parse(str(path), etree.XMLParser(load_dtd=False, no_network=True))
        pmids += [el.text for el in tree.iter("PMID")]  # not <Id>: some answers are other dbs'
    assert len(pmids) > 4000 and all(is_pmid(p) for p in pmids)


def test_real_exports_parse_without_problems(eutils_dir: Path, medline_dir: Path) -> None:
    stats = ParseStats()
    rows = [
        r for p in sorted(eutils_dir.glob("pubmed*.xml")) for r in parse_pubmed_xml(p, stats=stats)
    ]
    assert len(rows) >= 8 and (stats.skipped, stats.problems) == (0, [])
    assert len([r for p in sorted(medline_dir.glob("*.txt")) for r in parse_medline(p)]) >= 4


# --- efetch XML --------------------------------------------------------------------------------


def efetch(pmid: str, *, notice: str = "90000009", kind: str = "ErratumIn") -> bytes:
    """SYNTHETIC entries: the 2nd article (line 5) and the book (line 10) carry ``pmid``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<PubmedArticleSet>
<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">90000001</PMID>
<Article><ArticleTitle>SYNTHETIC neighbour</ArticleTitle></Article></MedlineCitation></PubmedArticle>
<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">{pmid}</PMID>
<Article><ArticleTitle>SYNTHETIC article under test</ArticleTitle></Article>
<CommentsCorrectionsList><CommentsCorrections RefType="{kind}"><RefSource>SYNTHETIC notice</RefSource>
<PMID Version="1">{notice}</PMID></CommentsCorrections></CommentsCorrectionsList>
</MedlineCitation></PubmedArticle>
<PubmedBookArticle><BookDocument><PMID Version="1">{pmid}</PMID>
<ArticleTitle>SYNTHETIC chapter under test</ArticleTitle></BookDocument></PubmedBookArticle>
</PubmedArticleSet>""".encode()


@pytest.mark.parametrize("value", BAD_PMIDS)
def test_efetch_entry_with_a_bad_pmid_is_skipped_and_named(value: str) -> None:
    stats = ParseStats()
    rows = list(parse_pubmed_xml(efetch(value), stats=stats))
    assert [r["pmid"] for r in rows] == ["90000001"]  # the rest of the batch is kept
    assert (stats.articles, stats.books, stats.skipped) == (1, 0, 2)
    article, book = stats.problems
    assert article.startswith(f"PubMed XML: PubmedArticle at line 5: malformed PMID {value!r}")
    assert book.startswith(f"PubMed XML: PubmedBookArticle at line 10: malformed PMID {value!r}")


@pytest.mark.parametrize("value", GOOD_PMIDS)
def test_efetch_good_pmids_are_read(value: str) -> None:
    stats = ParseStats()
    rows = list(parse_pubmed_xml(efetch(value, notice=value), stats=stats))
    assert [r["pmid"] for r in rows] == ["90000001", value, value]
    assert rows[1]["errata"] == [value] and rows[2]["article_kind"] == "book"
    assert stats.skipped == 0 and stats.problems == []


@pytest.mark.parametrize("value", BAD_PMIDS)
@pytest.mark.parametrize(
    ("kind", "flag", "column"),
    [
        ("RetractionIn", "retracted", "retraction_notices"),
        ("ExpressionOfConcernIn", "expression_of_concern", "concern_notices"),
        ("ErratumIn", None, "errata"),
    ],
)
def test_efetch_bad_notice_pmid_keeps_the_article_and_its_flag(value, kind, flag, column) -> None:
    stats = ParseStats()
    rows = list(parse_pubmed_xml(efetch("90000002", notice=value, kind=kind), stats=stats))
    article = rows[1]
    assert article["pmid"] == "90000002" and article[column] == []  # not stored as a PMID
    if flag:
        assert article[flag] is True  # a retraction is never lost to a malformed notice
    assert stats.skipped == 0
    (problem,) = stats.problems
    assert f"{kind} notice with malformed PMID {value!r} ignored" in problem
    assert problem.startswith("PubMed XML: CommentsCorrections at line 7: ")


def test_efetch_notice_without_a_pmid_is_flagged_but_stores_no_citation_text() -> None:
    body = efetch("90000002", kind="RetractionIn").replace(
        b'<PMID Version="1">90000009</PMID>', b""
    )
    stats = ParseStats()
    article = list(parse_pubmed_xml(body, stats=stats))[1]
    assert article["retracted"] is True and article["retraction_notices"] == []
    assert stats.problems == []


# --- MEDLINE / .nbib ---------------------------------------------------------------------------


def nbib(tmp_path: Path, pmid: str, *, name: str = "export.nbib") -> Path:
    path = tmp_path / name
    path.write_text(
        "PMID- 90000001\nTI  - SYNTHETIC first record\n\n"
        f"PMID- {pmid}\nTI  - SYNTHETIC record under test\n      (continued title)\n\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("value", BAD_PMIDS)
def test_nbib_bad_pmid_names_file_and_line(tmp_path: Path, value: str) -> None:
    path = nbib(tmp_path, value)
    with pytest.raises(ParseError) as info:
        list(parse_medline(path))
    assert str(info.value).startswith(f"{path}:4: malformed PMID {value!r}")


@pytest.mark.parametrize("value", GOOD_PMIDS)
def test_nbib_good_pmids(tmp_path: Path, value: str) -> None:
    rows = list(parse_medline(nbib(tmp_path, value)))
    assert [r["pmid"] for r in rows] == ["90000001", value]


@pytest.mark.parametrize("value", ["²", "١٢٣", "0", "0123", "123456789", "12a"])
def test_nbib_bad_notice_pmids_are_not_stored(tmp_path: Path, value: str) -> None:
    path = tmp_path / "notices.nbib"
    path.write_text(
        "PMID- 90000001\nTI  - SYNTHETIC retracted record\n"
        f"RIN - SYNTHETIC J. 2020;1:1. PMID: {value}\n"
        "EIN - SYNTHETIC J. 2020;1:2. PMID: 90000003\n",
        encoding="utf-8",
    )
    (row,) = parse_medline(path)
    assert row["retracted"] and row["retraction_notices"] == []
    assert row["errata"] == ["90000003"]


def test_nbib_indented_line_before_any_field_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "odd.nbib"
    path.write_text("PMID- 90000001\nTI  - SYNTHETIC\n\n      stray continuation\n")
    with pytest.raises(ParseError, match=rf"^{re.escape(str(path))}:4: not PubMed \(MEDLINE\)"):
        list(parse_medline(path))


# --- curated JSONL and CSV ---------------------------------------------------------------------


def jsonl_entry(pmid: object, claim: str = "C01") -> str:
    return json.dumps(
        {
            "pmid": pmid,
            "title": "SYNTHETIC curated record",
            "claims": [{"claim": claim, "stance": "supports", "why": "SYNTHETIC why"}],
        },
        ensure_ascii=False,
    )


@pytest.mark.parametrize("value", [*BAD_PMIDS, 0, 123456789, -5, True, None])
def test_jsonl_bad_pmid_names_file_line_and_field(tmp_path: Path, value: object) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(f"{jsonl_entry('90000001')}\n\n{jsonl_entry(value)}\n", encoding="utf-8")
    with pytest.raises(CuratedError) as info:
        read_curated(path, CLAIMS)
    assert (info.value.line, info.value.field) == (3, "pmid")
    assert str(info.value).startswith(f"{path}:3: field 'pmid': malformed PMID ")
    assert "expected 1-8 ASCII digits, no leading zero" in str(info.value)


@pytest.mark.parametrize("value", [*GOOD_PMIDS, 1, 12345678])
def test_jsonl_good_pmids(tmp_path: Path, value: object) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(jsonl_entry(value) + "\n", encoding="utf-8")
    assert read_curated(path, CLAIMS).records["pmid"].tolist() == [str(value)]


@pytest.mark.parametrize("value", BAD_PMIDS)
def test_csv_bad_pmid_names_file_line_and_field(tmp_path: Path, value: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        f'{HEADER}90000001,C01,supports,"SYNTHETIC\nnote"\n{value},C02,supports,SYNTHETIC\n',
        encoding="utf-8",
    )
    with pytest.raises(CuratedError) as info:
        read_curated(path, CLAIMS)
    assert str(info.value).startswith(f"{path}:4: field 'pmid': malformed PMID {value!r}")


@pytest.mark.parametrize("value", GOOD_PMIDS)
def test_csv_good_pmids(tmp_path: Path, value: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{HEADER}{value},C02,supports,SYNTHETIC\n", encoding="utf-8")
    assert read_curated(path, CLAIMS).records["pmid"].tolist() == [value]


def test_csv_row_with_more_cells_than_the_header_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        f"{HEADER}90000001,C01,supports,SYNTHETIC fine\n"
        "90000002,C01,supports,SYNTHETIC note, cut at an unquoted comma\n",
        encoding="utf-8",
    )
    with pytest.raises(CuratedError) as info:
        read_curated(path, CLAIMS)
    assert str(info.value) == (
        f"{path}:3: field '(row)': 5 cells, header has 4; quote fields that contain commas"
    )


def test_csv_short_rows_and_spreadsheet_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{HEADER}90000001,C01,supports\n,,,\n\n", encoding="utf-8")
    got = read_curated(path, CLAIMS)
    assert got.records["pmid"].tolist() == ["90000001"] and got.links["note"].tolist() == [""]


def test_csv_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(codecs.BOM_UTF8 + f"{HEADER}90000001,C01,supports,SYNTHETIC\n".encode())
    assert read_curated(path, CLAIMS).records["pmid"].tolist() == ["90000001"]


# A quoted note over three physical lines (2-4); the row after it starts on line 5.
MULTILINE = (
    HEADER + '90000001,C01,supports,"SYNTHETIC note\nover three\nlines"\n'
    '90000002,C02,mixed,"SYNTHETIC\n\nnote with a blank line"\n'  # lines 5-7
)


@pytest.mark.parametrize(
    ("row", "reason", "field"),
    [
        ("90000001,C01,mixed,SYNTHETIC again", "claim C01 judged twice for PMID 90000001", "claim"),
        ("90000001,C01,mixed,SYNTHETIC again", "(first on line 2)", "claim"),
        ("90000002,C99,mixed,SYNTHETIC", "unknown claim id 'C99'", "claim"),
        ("90000002,C03,agrees,SYNTHETIC", "unknown stance 'agrees'", "stance"),
        ("x90000003,C03,mixed,SYNTHETIC", "malformed PMID 'x90000003'", "pmid"),
    ],
)
def test_csv_errors_name_the_line_a_multiline_row_starts_on(tmp_path, row, reason, field) -> None:
    path = tmp_path / "c.csv"
    path.write_text(MULTILINE + row + "\n", encoding="utf-8")
    with pytest.raises(CuratedError) as info:
        read_curated(path, CLAIMS)
    assert str(info.value).startswith(f"{path}:8: field {field!r}: ")
    assert reason in str(info.value)


def test_csv_differing_values_name_both_starting_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "pmid,claim,stance,note,title\n"
        '90000001,C01,supports,"SYNTHETIC\nnote",\n'  # lines 2-3, no title
        '90000001,C02,mixed,"SYNTHETIC\nnote",SYNTHETIC A\n'  # lines 4-5: the title is given
        "90000001,C03,mixed,SYNTHETIC,SYNTHETIC B\n",  # line 6
        encoding="utf-8",
    )
    with pytest.raises(CuratedError) as info:
        read_curated(path, CLAIMS)
    assert str(info.value).startswith(f"{path}:6: field 'title': differs from line 4 ")


def test_csv_quote_never_closed_is_an_error_not_a_swallowed_row(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        f'{HEADER}90000001,C01,supports,"SYNTHETIC never closed\n90000002,C02,mixed,SYNTHETIC\n',
        encoding="utf-8",
    )
    with pytest.raises(
        CuratedError, match=rf"^{re.escape(str(path))}:2: field '\(row\)': malformed"
    ):
        read_curated(path, CLAIMS)


def test_jsonl_duplicate_pmid_names_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        f"{jsonl_entry('90000001')}\n\n{jsonl_entry('90000001', 'C02')}\n", encoding="utf-8"
    )
    with pytest.raises(CuratedError, match=r":3: field 'pmid': PMID 90000001 already on line 1$"):
        read_curated(path, CLAIMS)


# --- the editor's PMID box ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [v for v in BAD_PMIDS if v.strip() == v])
def test_editor_pmid_refused(value: str) -> None:
    for typed in (value, f"PMID: {value}", f"  {value}  "):
        with pytest.raises(ValueError, match="is not a PMID"):
            views.parse_pmid(typed)


@pytest.mark.parametrize("value", GOOD_PMIDS)
def test_editor_pmid_accepted_with_prefix_and_spaces(value: str) -> None:
    for typed in (value, f"PMID: {value}", f"pmid {value}", f" \t{value} \n", "PMID:" + value):
        assert views.parse_pmid(typed) == value
    assert views.parse_pmid(" 12") == "12"  # spaces around are the box's, not the PMID's


# --- imports through a real store --------------------------------------------------------------


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return load_settings({"data_dir": data_dir}, env={})


def tables(settings: Settings) -> tuple[int, dict[str, pd.DataFrame]]:
    store = Store.open(settings.store_dir)
    snap = store.snapshot()
    return store.version, {name: snap[name] for name in snap}


def seeded(settings: Settings) -> tuple[int, dict[str, pd.DataFrame]]:
    """A store holding one SYNTHETIC curated record, made by a good import."""
    good = settings.data_dir / "good.csv"
    good.write_text(f"{HEADER}90000001,C01,supports,SYNTHETIC seed\n", encoding="utf-8")
    import_file(settings, good, actor="test")
    return tables(settings)


def assert_unchanged(settings: Settings, before: tuple[int, dict[str, pd.DataFrame]]) -> None:
    version, frames = tables(settings)
    assert version == before[0]
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, before[1][name], obj=name)


NBIB_LATIN1 = b"PMID- 90000002\nTI  - SYNTHETIC ok\n\nPMID- 90000003\nTI  - SYNTHETIC caf\xe9\n"
NOT_UTF8 = {  # name: (content, line of the first byte that is not UTF-8)
    "bad.csv": (
        HEADER.encode() + b"90000002,C01,supports,SYNTHETIC ok\n"
        b"90000003,C01,supports,SYNTHETIC caf\xe9\n",
        3,
    ),
    "bad.jsonl": (
        jsonl_entry("90000002").encode()
        + b"\n\n"
        + jsonl_entry("90000003").encode().replace(b"SYN", b"\xffSYN"),
        3,
    ),
    "bad.nbib": (NBIB_LATIN1, 5),
    "bad.txt": (NBIB_LATIN1, 5),
}


@pytest.mark.parametrize("name", NOT_UTF8)
def test_non_utf8_file_names_file_line_and_byte_and_writes_nothing(settings, name) -> None:
    before = seeded(settings)
    content, line = NOT_UTF8[name]
    bad = settings.data_dir / name
    bad.write_bytes(content)
    offset = next(i for i, byte in enumerate(content) if byte >= 0x80)
    with pytest.raises(ParseError) as info:
        import_file(settings, bad, actor="test")
    message = str(info.value)
    assert message.startswith(f"{bad}:{line}: ")
    assert f"not UTF-8 text (byte 0x{content[offset]:02x} at byte offset {offset})" in message
    assert_unchanged(settings, before)


def test_non_utf8_first_import_creates_no_store(settings: Settings) -> None:
    bad = settings.data_dir / "bad.csv"
    bad.write_bytes(NOT_UTF8["bad.csv"][0])
    with pytest.raises(CuratedError):
        import_file(settings, bad, actor="test")
    assert not (settings.store_dir / "manifest.json").exists()


def test_offsets_count_a_bom_and_utf16_is_named(tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes(codecs.BOM_UTF8 + HEADER.encode() + b"90000001,C01,supports,\xe9\n")
    with pytest.raises(CuratedError, match=r":2: field '\(file\)': not UTF-8 text \(byte 0xe9 at"):
        read_curated(bom, CLAIMS)
    with pytest.raises(CuratedError) as info:
        read_curated(bom, CLAIMS)
    assert f"at byte offset {len(codecs.BOM_UTF8) + len(HEADER) + 22})" in str(info.value)
    utf16 = tmp_path / "utf16.nbib"
    utf16.write_text("PMID- 90000001\n", encoding="utf-16")
    with pytest.raises(ParseError, match="UTF-16 text; save it as UTF-8"):
        list(parse_medline(utf16))


BAD_PMID_FILES = {
    "pmid.csv": f"{HEADER}90000002,C01,supports,SYNTHETIC\n0123,C01,supports,SYNTHETIC\n",
    "pmid.jsonl": f"{jsonl_entry('90000002')}\n{jsonl_entry('0123')}\n",
    "pmid.nbib": "PMID- 90000002\nTI  - SYNTHETIC\n\nPMID- 0123\nTI  - SYNTHETIC\n",
}


@pytest.mark.parametrize("name", BAD_PMID_FILES)
def test_bad_pmid_in_any_import_writes_nothing(settings: Settings, name: str) -> None:
    before = seeded(settings)
    bad = settings.data_dir / name
    bad.write_text(BAD_PMID_FILES[name], encoding="utf-8")
    with pytest.raises(ParseError, match=rf"^{re.escape(str(bad))}:\d+: .*malformed PMID '0123'"):
        import_file(settings, bad, actor="test")
    assert_unchanged(settings, before)


def test_import_of_a_bom_csv_and_an_empty_file(settings: Settings) -> None:
    bom = settings.data_dir / "excel.csv"
    bom.write_bytes(codecs.BOM_UTF8 + f"{HEADER}90000004,C02,mixed,SYNTHETIC\n".encode())
    import_file(settings, bom, actor="test")
    version, frames = tables(settings)
    assert frames["records"]["pmid"].tolist() == ["90000004"]
    empty = settings.data_dir / "empty.nbib"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ParseError, match="no records found"):
        import_file(settings, empty, actor="test")
    assert tables(settings)[0] == version


def test_fetch_refuses_a_malformed_pmid_before_asking_ncbi(settings: Settings) -> None:
    with pytest.raises(ParseError, match="malformed PMID '0123'"):
        fetch_pmids(settings, ["0123"], actor="test")


# --- BibTeX and RIS exports --------------------------------------------------------------------

HOSTILE = "1--2}, note = {INJECTED} @misc{evil, title = {INJECTED"
BIB_FIELDS = {
    "author",
    "title",
    "journal",
    "shortjournal",
    "year",
    "volume",
    "number",
    "pages",
    "doi",
    "pmid",
    "url",
}


def hostile_record(field: str, value: str) -> dict:
    fields = dict(
        authors=["Doe JA", "SYNTHETIC Study Group"],
        title="SYNTHETIC export record",
        journal="SYNTHETIC Journal",
        volume="12",
        issue="3",
        pages="101-9",
        pub_year=2020,
        doi="10.0000/synthetic.1",
        abstract="SYNTHETIC abstract.",
    )
    if field == "authors":
        fields["authors"] = [f"{value} AB", value]  # a family name and a collective name
    else:
        fields[field] = value
    return syn.record(1, **fields)


def literal_fields(text: str) -> list[str]:
    """Field names of the one entry, split as BibTeX/biber do: braces counted, backslash ignored."""
    body = text[text.index("{") + 1 :]
    depth, names, part = 0, [], ""
    for i, ch in enumerate(body):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            assert not body[i + 1 :].strip(), "text after the entry's closing brace"
            break
        if ch == "," and depth == 0:
            names.append(part)
            part = ""
        else:
            part += ch
    names.append(part)
    return [n.split("=", 1)[0].strip() for n in names[1:]]  # names[0] is the key


@pytest.mark.parametrize(
    "field", ["title", "journal", "volume", "issue", "pages", "doi", "authors"]
)
@pytest.mark.parametrize("value", [HOSTILE, "SYNTHETIC }", "SYNTHETIC {", "SYNTHETIC \\", "}\n{"])
def test_bibtex_value_cannot_close_its_field_or_add_one(field: str, value: str) -> None:
    text = citations.to_bibtex(syn.records([hostile_record(field, value)]))
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    (entry,) = library.entries
    assert set(entry.fields_dict) == BIB_FIELDS
    assert sorted(literal_fields(text)) == sorted(BIB_FIELDS)
    name = {"issue": "number", "authors": "author"}.get(field, field)
    if "INJECTED" in value:
        assert entry[name].count("INJECTED") == (4 if field == "authors" else 2)


def test_bibtex_key_and_family_names_cannot_break_the_entry() -> None:
    row = syn.record(1, authors=["Smith and Jones AB", "Doe, Jr AB"])
    text = citations.to_bibtex(syn.records([dict(row, pmid="1}, note={INJECTED")]))
    (entry,) = bibtexparser.parse_string(text).entries
    assert "note" not in entry.fields_dict and re.fullmatch(r"pmid[\w.:-]+", entry.key)
    assert entry["author"].startswith("{Smith and Jones}, A. B. and {Doe, Jr}, A. B.")


RIS_HOSTILE = "SYNTHETIC\nN1  - INJECTED\r\nER  - \u2028TY  - JOUR\x0bAB  - x\x85KW  - y"


@pytest.mark.parametrize(
    "field", ["title", "journal", "volume", "issue", "pages", "doi", "authors", "abstract"]
)
def test_ris_value_cannot_start_a_new_tag(field: str) -> None:
    text = citations.to_ris(syn.records([hostile_record(field, RIS_HOSTILE)]))
    assert len(text.splitlines()) == text.count("\n")  # "\n" is the only line break in the file
    lines = [line for line in text.split("\n") if line]
    tags = [line[:6] for line in lines]
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]  - ", t) for t in tags), lines
    assert tags.count("TY  - ") == 1 and tags.count("ER  - ") == 1 and tags[-1] == "ER  - "
    assert "N1  - " not in tags and "KW  - " not in tags
    assert sum("INJECTED" in line for line in lines) == (2 if field == "authors" else 1)


def test_retraction_text_shows_only_well_formed_notice_pmids() -> None:
    rows = syn.records(
        [
            syn.record(1, retracted=True, retraction_notices=["Lancet. 2020;1:1", "90000009"]),
            syn.record(2, retracted=True, retraction_notices=["0123"]),
        ]
    )
    first, second = citations.format_references(rows, "AMA")
    assert first.endswith("Retraction in: PMID 90000009.")
    assert second.endswith("Retracted publication.")
