"""In a real headless Chromium: an editor stays signed in across a reload, and signing out
ends the session (the cookie no longer signs anyone in). Reuses test_browser's server fixture.
"""

from __future__ import annotations

from tests.dashboard_store import EDITOR, EDITOR_PASSWORD
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, server, settled  # noqa: F401

SIGNED_IN = f"Signed in as {EDITOR} (editor)"


def test_an_editor_stays_signed_in_across_a_reload(server) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    url, _ = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/history")
            settled(page)
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_role("textbox", name="User name").fill(EDITOR)
            sidebar.get_by_role("textbox", name="Password").fill(EDITOR_PASSWORD)
            sidebar.get_by_role("button", name="Sign in").click()
            sidebar.get_by_text(SIGNED_IN).wait_for(timeout=120_000)
            page.wait_for_function(
                "() => document.cookie.includes('evidence_session=')", timeout=60_000
            )
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert cookies["evidence_session"]["sameSite"] == "Strict"
            assert EDITOR_PASSWORD not in str(cookies)

            page.reload()
            settled(page)
            sidebar.get_by_text(SIGNED_IN).wait_for(timeout=120_000)

            sidebar.get_by_role("button", name="Sign out").click()
            sidebar.get_by_role("button", name="Sign in").wait_for(timeout=120_000)
            page.reload()
            settled(page)
            sidebar.get_by_role("button", name="Sign in").wait_for(timeout=120_000)
            assert sidebar.get_by_text(SIGNED_IN).count() == 0

            # a copy of the old cookie signs no one in: the server revoked its session
            fresh = browser.new_context()
            old = cookies["evidence_session"]["value"]
            fresh.add_cookies([{"name": "evidence_session", "value": old, "url": url}])
            other = fresh.new_page()
            other.goto(f"{url}/history")
            settled(other)
            other_sidebar = other.get_by_test_id("stSidebar")
            other_sidebar.get_by_role("button", name="Sign in").wait_for(timeout=120_000)
            assert other_sidebar.get_by_text(SIGNED_IN).count() == 0
        finally:
            browser.close()
