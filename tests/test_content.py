"""Posts: listing, reading Markdown and HTML, finding quotes, cutting segments for colouring."""

from __future__ import annotations

import pytest

from evidence.content import (
    find_quote,
    highlight_segments,
    list_posts,
    quote_spans,
    read_post,
)
from evidence.errors import ParseError

MD = (
    "---\ntitle: SYNTHETIC\n---\n\n# Heading\n\n"
    "First  **bold**\nclaim here. Second \u201cquoted\u201d one.\n"
)


def test_list_posts__only_posts_sorted(tmp_path):
    for name in ("b.md", "a.html", "notes.txt", "c.markdown"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "sub.md").mkdir()
    assert list_posts(tmp_path) == ["a.html", "b.md", "c.markdown"]
    assert list_posts(tmp_path / "absent") == []


def test_read_post__markdown_keeps_raw_text(tmp_path):
    (tmp_path / "p.md").write_text(MD, encoding="utf-8")
    post = read_post(tmp_path / "p.md")
    assert post.text == MD
    assert post.name == "p.md"
    assert MD[post.body_start :].startswith("\n# Heading")


def test_read_post__html_uses_visible_text(tmp_path):
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body><h1>Head</h1>"
        "<p>One <b>bold</b> claim.</p><script>var x=1;</script><p>Two.</p></body></html>"
    )
    (tmp_path / "p.html").write_text(html, encoding="utf-8")
    post = read_post(tmp_path / "p.html")
    assert "var x" not in post.text and "p{}" not in post.text
    assert "One bold claim." in post.text
    assert post.text.index("Head") < post.text.index("One") < post.text.index("Two.")
    assert "Head\n\nOne" in post.text
    assert find_quote(post.text, "One bold claim.") is not None


def test_read_post__bad_file_is_named(tmp_path):
    with pytest.raises(ParseError, match="p.txt"):
        read_post(tmp_path / "p.txt")
    with pytest.raises(ParseError, match="cannot read post"):
        read_post(tmp_path / "absent.md")
    (tmp_path / "latin.md").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ParseError, match="latin.md"):
        read_post(tmp_path / "latin.md")


def test_find_quote__normalises_whitespace_emphasis_and_typography():
    s, e = find_quote(MD, "First bold claim here.")
    assert MD[s:e] == "First  **bold**\nclaim here."
    s, e = find_quote(MD, 'Second "quoted" one.')
    assert MD[s:e] == "Second \u201cquoted\u201d one."
    assert find_quote(MD, "Third one.") is None
    assert find_quote(MD, "   ") is None


def test_quote_spans__by_claim_id():
    spans = quote_spans(MD, {"C1": "claim here.", "C2": "absent"})
    assert MD[slice(*spans["C1"])] == "claim here."
    assert spans["C2"] is None


def test_highlight_segments__rejoin_to_text_and_label_quotes():
    spans = quote_spans(MD, {"C2": 'Second "quoted" one.', "C1": "First bold claim here."})
    segments = highlight_segments(MD, spans)
    assert "".join(s for s, _ in segments) == MD
    labelled = [(s, c) for s, c in segments if c]
    assert [c for _, c in labelled] == ["C1", "C2"]
    assert labelled[0][0].startswith("First")


def test_highlight_segments__overlap_goes_to_first_and_start_skips():
    text = "abcdefghij"
    segments = highlight_segments(text, [(2, 6, "B"), (0, 4, "A"), (8, 20, "C")], start=1)
    assert segments == [("bcd", "A"), ("ef", "B"), ("gh", None), ("ij", "C")]
    assert highlight_segments(text, {}) == [(text, None)]
