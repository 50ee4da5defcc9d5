"""Every dashboard page and both published outputs in a real headless Chromium at 1400x1000,
checked for what a reader sees; screenshots in test-artifacts/pages/.

- the overview's first screen (no scrolling) holds all 17 claims with their verdicts, in the
  order attention -> weakest -> strongest, each a link to its claim page; /overview and / both
  serve it; Streamlit's developer toolbar ("Deploy") is not shown;
- the claim page: ?claim=C99 says so and links back; PubMed and DOI links on screen; the
  evidence pyramid has a bar per evidence level present (C01, C03);
- no page shows "None", a snake_case header or name, raw JSON, a midnight "00:00:00" or "1
  studies";
- the evidence brief and the post with references, downloaded from the dashboard and opened in
  the browser, cite the deciding studies in full (the same AMA strings as `evidence.citations`).

The app runs as the README's first command runs it (from the repository root, so
.streamlit/config.toml applies), and must listen on 127.0.0.1 only. Skips with the reason where
Debian's chromium or playwright is missing. Waits on what the page shows, never on time.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence import citations, claim_view, overview_view, views
from evidence.cited_post import cite_post
from evidence.content import read_post
from evidence.reference import Reference
from evidence.store import Store
from tests.dashboard_store import make_data_dir
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, REPO, settled, streamlit_server

ARTIFACTS = REPO / "test-artifacts" / "pages"
WIDTH, HEIGHT = 1400, 1000
TIMEOUT = 120_000  # ms; a loaded 2-core machine can take long to run a page
POST = "tms-emotional-blunting.md"
# Page -> a locator that is visible once the page's content is drawn.
PAGES = {
    "overview": "tr[data-claim]",
    "content": "mark",
    "claim?claim=C03": '[data-testid="stVegaLiteChart"]',
    "claim?claim=C14": '[data-testid="stVegaLiteChart"]',
    "claim?claim=C07": '[data-testid="stDataFrame"]',
    "literature": '[data-testid="stDataFrame"]',
    "citations": '[data-testid="stCode"]',
    "history": '[data-testid="stDataFrame"]',
}
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
EMPTY_CELLS = {"None", "none", "nan", "NaN", "<NA>", "NaT", "null"}


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (Linux /proc), hex as the kernel has
    them ("0100007F" = 127.0.0.1, "00000000" = every IPv4 interface)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`streamlit run dashboards/app.py` from the repository root, as the README starts it (no
    --server.address: the address comes from .streamlit/config.toml)."""
    tmp = tmp_path_factory.mktemp("pages")
    data = make_data_dir(tmp)
    with streamlit_server(data, tmp, cwd=REPO) as (url, port):
        yield url, data, port


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    if ARTIFACTS.exists():  # no screenshot of an earlier run passes for this one's
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT}, accept_downloads=True
    )
    p = context.new_page()
    p.set_default_timeout(TIMEOUT)
    try:
        yield p
    finally:
        context.close()


def _open(page, url: str, ready: str) -> None:
    page.goto(url)
    page.locator(ready).filter(visible=True).first.wait_for(timeout=TIMEOUT)
    settled(page)


def _truth(data: Path):
    snap = Store.open(data / "store").snapshot()
    verdicts = views.current_verdicts(snap, registry=views.load_registry(data))
    return snap, verdicts


def _main_text(page) -> str:
    """The main block's visible text; Material icons (drawn from ligatures such as
    "keyboard_arrow_right", seen as an arrow) are left out."""
    text = page.locator('[data-testid="stMain"]').inner_text()
    icons = page.locator('[data-testid="stMain"] [data-testid="stIconMaterial"]')
    for name in set(icons.all_text_contents()):
        text = text.replace(name, " ")
    return text


def _full_shot(page, path: Path) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so the viewport
    is made as tall as that block first (then set back)."""
    height = page.evaluate(
        """() => Math.max(document.body.scrollHeight,
            ...[...document.querySelectorAll('[data-testid="stMain"]')].map(e => e.scrollHeight))"""
    )
    page.set_viewport_size({"width": WIDTH, "height": min(int(height) + 100, 16_000)})
    settled(page)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    settled(page)


def test_dashboard_listens_on_localhost_only(server) -> None:
    _, _, port = server
    addresses = _listening_addresses(port)
    if not addresses:
        pytest.skip("no /proc/net/tcp on this system to read listening sockets from")
    assert addresses == {"0100007F"}, addresses  # 127.0.0.1 and nothing else


def test_overview_first_screen_holds_every_claim_with_its_verdict(server, page) -> None:
    url, data, _ = server
    snap, verdicts = _truth(data)
    screen = overview_view.first_screen(overview_view.overview_table(snap, verdicts))
    for path in ("/overview", "/"):
        _open(page, url + path, "tr[data-claim]")
        assert page.get_by_text("Page not found").count() == 0, path
        rows = page.locator("tr[data-claim]")
        assert rows.count() == 17
        ids = [r.get_attribute("data-claim") for r in rows.all()]
        assert ids == list(screen["claim_id"]), path
        for row, claim_id in zip(rows.all(), ids, strict=True):
            box = row.bounding_box()
            assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT, (
                f"{claim_id} is not on the first screen: {box}"
            )
            assert box["x"] + box["width"] <= WIDTH
            cells = row.locator("td").all_inner_texts()
            assert cells[0] == claim_id and cells[2] == verdicts[claim_id].grade
            assert cells[4].endswith(screen.set_index("claim_id").at[claim_id, "standing"])
        scrolled = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]').scrollTop"
        )
        assert scrolled == 0
        assert page.get_by_text("Deploy", exact=True).count() == 0  # toolbarMode = viewer
    page.screenshot(path=str(ARTIFACTS / "overview-first-screen.png"))


def test_claim_link_opens_that_claim_with_pubmed_and_doi_on_screen(server, page) -> None:
    url, data, _ = server
    _open(page, f"{url}/overview", "tr[data-claim]")
    page.locator('tr[data-claim="C03"] a').first.click()
    page.wait_for_url(re.compile(r"/claim\?claim=C03$"))
    page.get_by_text("C03: SSRIs and similar antidepressants").wait_for(timeout=TIMEOUT)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=TIMEOUT)
    settled(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    box = grid.bounding_box()
    assert box is not None and box["x"] + box["width"] <= WIDTH
    # The grid draws on a canvas and keeps an accessible copy of the columns it has drawn in
    # the visible region (columns scrolled off to the side are not in it).
    headers = grid.locator('[role="columnheader"]')
    headers.first.wait_for(state="attached", timeout=TIMEOUT)
    shown = headers.all_text_contents()
    assert shown[:2] == ["PMID", "DOI"], shown  # the links' columns, on screen without scrolling
    cells = grid.locator("td").all_text_contents()
    assert cells[0].startswith("https://pubmed.ncbi.nlm.nih.gov/"), cells[:2]
    # The deciding studies in the details are links to PubMed.
    page.get_by_text("Details: deciding studies").click()
    _, verdicts = _truth(data)
    first = verdicts["C03"].deciding[0].pmid
    link = page.locator(f'a[href="https://pubmed.ncbi.nlm.nih.gov/{first}/"]').filter(visible=True)
    link.first.wait_for(timeout=TIMEOUT)
    assert link.first.inner_text() == f"PMID {first}"
    # The page's own permalink is shown to share.
    code = page.locator('[data-testid="stCode"]').filter(has_text="claim?claim=C03")
    assert code.first.inner_text().strip() == f"{url}/claim?claim=C03"


def test_unknown_claim_is_an_error_with_a_way_back(server, page) -> None:
    url, _, _ = server
    _open(page, f"{url}/claim?claim=C99", "text=No claim C99")
    assert page.get_by_text("Verdict:").count() == 0  # no other claim shown instead
    page.screenshot(path=str(ARTIFACTS / "claim-C99.png"))
    page.get_by_text("Back to the claims overview").click()
    page.locator("tr[data-claim]").first.wait_for(timeout=TIMEOUT)


def _bar_bands(png: bytes, colours: list[str], min_height: int = 18) -> list[int]:
    """Heights of the horizontal bands of a chart image holding bar colours (legend swatches,
    a few pixels tall, are below ``min_height``)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    rgb = [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in colours]
    width, height = image.size
    pixels = image.load()

    def coloured(y: int) -> bool:
        for x in range(0, width, 2):
            p = pixels[x, y]
            if any(all(abs(p[i] - c[i]) <= 10 for i in range(3)) for c in rgb):
                return True
        return False

    bands, run = [], 0
    for y in range(height):
        if coloured(y):
            run += 1
        elif run:
            bands.append(run)
            run = 0
    if run:
        bands.append(run)
    return [b for b in bands if b >= min_height]


@pytest.mark.parametrize("claim_id", ["C01", "C03"])
def test_evidence_pyramid_has_a_bar_per_level(server, page, claim_id: str) -> None:
    url, data, _ = server
    snap, verdicts = _truth(data)
    evidence = views.claim_detail(snap, claim_id, verdicts[claim_id]).evidence
    levels = claim_view.evidence_pyramid(evidence)["level"].nunique()
    assert levels >= 3
    _open(page, f"{url}/claim?claim={claim_id}", '[data-testid="stVegaLiteChart"]')
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    chart.scroll_into_view_if_needed()
    settled(page)
    box = chart.bounding_box()
    assert box is not None and box["x"] + box["width"] <= WIDTH
    shot = chart.screenshot(path=str(ARTIFACTS / f"pyramid-{claim_id}.png"))
    bands = _bar_bands(shot, list(views.STANCE_COLOURS.values())[:4])
    assert len(bands) == levels, f"{claim_id}: bars {bands}, levels {levels}"


def test_every_page_speaks_words_not_internals(server, page) -> None:
    url, _, _ = server
    for name, ready in PAGES.items():
        _open(page, f"{url}/{name}", ready)
        assert page.get_by_text("Page not found").count() == 0, name
        shot = ARTIFACTS / f"{name.replace('?claim=', '-')}.png"
        headers = page.locator('[data-testid="stDataFrame"] [role="columnheader"]')
        for header in headers.all_text_contents():
            assert "_" not in header and not SNAKE.search(header), (name, header)
        cells = page.locator('[data-testid="stDataFrame"] td').all_text_contents()
        assert not EMPTY_CELLS & {c.strip() for c in cells}, name
        text = _main_text(page)
        assert not re.search(r"\bNone\b", text), name
        assert not SNAKE.search(text), (name, SNAKE.findall(text)[:5])
        assert not re.search(r'[{\[]\s*"\w+"\s*:', text), name  # no raw JSON
        assert "00:00:00" not in text, name
        assert not re.search(r"(?<![\d,.])1 (?:studies|claims|records|parts)\b", text), name
        assert not re.search(r"(?m)^\s*- ", text), name  # a list item shows as a bullet
        _full_shot(page, shot)


def _normal(text: str) -> str:
    return " ".join(text.split())


def _ama(snap, pmids: list[str]) -> list[str]:
    records = citations.stored_records(snap, pmids)
    assert sorted(records["pmid"]) == sorted(pmids)
    return [citations.cite(Reference.from_row(r), "AMA") for r in records.to_dict("records")]


def _download(page, button: str, target: Path) -> Path:
    with page.expect_download(timeout=TIMEOUT) as info:
        page.get_by_role("button", name=button).click()
    info.value.save_as(str(target))
    return target


def test_evidence_brief_and_post_with_references_cite_in_full(server, page) -> None:
    url, data, _ = server
    snap, verdicts = _truth(data)
    v = verdicts["C03"]
    deciding = list(dict.fromkeys([d.pmid for d in v.deciding]))
    assert len(deciding) >= 2

    # The brief, downloaded from the claim page (its "print" button) and opened in the browser.
    _open(page, f"{url}/claim?claim=C03", '[data-testid="stDownloadButton"]')
    brief = _download(
        page, "Download the evidence brief (print-ready HTML)", ARTIFACTS / "brief-C03.html"
    )
    page.goto(brief.as_uri())
    page.locator("h1").wait_for(timeout=TIMEOUT)
    text = _normal(page.locator("body").inner_text())
    assert "Evidence brief C03" in text and v.grade in text
    for reference in _ama(snap, deciding):
        assert _normal(reference) in text, reference
    page.screenshot(path=str(ARTIFACTS / "brief-C03.png"), full_page=True)

    # The post with references, from the Citations page.
    _open(page, f"{url}/citations", '[data-testid="stSelectbox"]')
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="Post with references").click()
    button = "Download post with references (.html, print-ready)"
    page.get_by_role("button", name=button).wait_for(timeout=TIMEOUT)
    settled(page)
    post = _download(page, button, ARTIFACTS / "post-with-references.html")
    cited = cite_post(snap, verdicts, read_post(data / "content" / POST), "AMA")
    assert cited.references
    page.goto(post.as_uri())
    page.locator("h1").wait_for(timeout=TIMEOUT)
    text = _normal(page.locator("body").inner_text())
    for reference in _ama(snap, [r.pmid for r in cited.references]):
        assert _normal(reference) in text, reference
    page.screenshot(path=str(ARTIFACTS / "post-with-references.png"), full_page=True)


def test_literature_row_opens_its_linked_claims(server, page) -> None:
    from evidence import literature_view

    url, data, _ = server
    table = literature_view.literature_table(Store.open(data / "store").snapshot())
    first = table.iloc[0]
    claims = literature_view.linked_claims(first["claims"])
    assert claims
    _open(page, f"{url}/literature", '[data-testid="stDataFrame"]')
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.locator("td").first.wait_for(state="attached", timeout=TIMEOUT)
    assert grid.locator("td").first.text_content() == first["pubmed_url"]
    box = grid.bounding_box()
    assert box is not None
    # The selection box of the first row: left edge of the grid, one header row down.
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)
    link = page.locator(f'a[href="./claim?claim={claims[0]}"]').filter(visible=True)
    link.first.wait_for(timeout=TIMEOUT)
    assert page.get_by_text(f"PubMed {first['pmid']}").count() == 1
    link.first.click()
    page.wait_for_url(re.compile(rf"/claim\?claim={claims[0]}$"))
    page.get_by_text(f"{claims[0]}: ").first.wait_for(timeout=TIMEOUT)
