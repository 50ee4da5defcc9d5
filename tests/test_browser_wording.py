"""The wording check in a real headless Chromium: the content view served by `streamlit run`
shows a flagged claim's flag, reason and copyable suggestion; a screenshot is saved to
test-artifacts/wording/content.png.

Uses test_browser.py's server (same data, same Debian chromium and arguments); skips with the
reason where chromium or playwright is missing. Waits on what the page shows, never on time.
"""

from __future__ import annotations

from pathlib import Path

from evidence import views, wording
from evidence.store import Store
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, REPO, settled
from tests.test_browser import server as server  # noqa: F401  (the fixture, reused)

ARTIFACTS = REPO / "test-artifacts" / "wording"
POST = "tms-emotional-blunting.md"


def _check(data: Path, claim_id: str) -> wording.WordingCheck:
    registry = views.load_registry(data)
    verdicts = views.current_verdicts(Store.open(data / "store").snapshot(), registry=registry)
    return next(c for c in wording.check_post(verdicts, registry, POST) if c.claim_id == claim_id)


def test_content_view_shows_a_wording_flag_in_chromium(server) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    url, data = server
    c16 = _check(data, "C16")  # "Most people begin to notice changes within a few weeks."
    assert c16.flagged
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "content.png"
    shot.unlink(missing_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/content")
            page.get_by_text("Wording check for editors").wait_for(timeout=120_000)
            settled(page)
            flag = page.get_by_text("C16 FLAG", exact=True)
            flag.scroll_into_view_if_needed()
            expect(flag).to_be_visible()
            expect(page.get_by_text(c16.reason, exact=True)).to_be_visible()
            code = page.locator('[data-testid="stCode"]').filter(has_text="PMID 17978325")
            expect(code).to_have_count(1)
            expect(code).to_contain_text("The evidence does not show that most patients")
            # The mark in the post itself, on C16's sentence.
            mark = page.locator("mark").filter(has_text="Most people begin to notice changes")
            expect(mark).to_contain_text("C16\u00a0\u2691")
            # Streamlit scrolls inside its main block, so a full-page shot would hold only the
            # viewport: make the viewport as tall as that block to capture the post and flags.
            height = page.evaluate(
                """() => Math.max(document.body.scrollHeight,
                    ...[...document.querySelectorAll('[data-testid="stMain"], section.main')]
                        .map(e => e.scrollHeight))"""
            )
            page.set_viewport_size({"width": 1400, "height": min(int(height) + 100, 16_000)})
            settled(page)
            expect(page.get_by_role("heading", name="Content view")).to_be_in_viewport()
            expect(flag).to_be_in_viewport()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 0
