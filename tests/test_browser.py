"""End to end in a real headless Chromium: the app served by `streamlit run`, a claim opened,
its verdict read, injected script/img payloads checked inert, a screenshot of every page saved.

Skips (with the reason) where Debian's chromium or the playwright package is missing; browsers
are never downloaded (no `playwright install`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from evidence.store import Store
from tests.dashboard_store import XSS_PMID, make_data_dir

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("EVIDENCE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = ["overview", "content", "claim?claim=C07", "literature", "citations", "history"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(data: Path, logs: Path, *, cwd: Path, extra: tuple[str, ...] = ()):
    """`streamlit run dashboards/app.py` on a free port of 127.0.0.1 over ``data``, from ``cwd``
    (the repository root reads .streamlit/config.toml, as the README's command does); yields
    its URL and port once its health endpoint answers."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    port = _free_port()
    env = {**os.environ, "EVIDENCE_DATA_DIR": str(data)}
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO / "dashboards" / "app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
        *extra,
    ]
    log_path = logs / "streamlit.log"
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded 2-core machine can be slow to start it
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    pytest.fail("streamlit did not start:\n" + log_path.read_text())
                time.sleep(0.3)  # polling the health endpoint, not waiting a fixed time
        yield url, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def server(tmp_path: Path):
    data = make_data_dir(tmp_path)
    extra = ("--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false")
    with streamlit_server(data, tmp_path, cwd=tmp_path, extra=extra) as (url, _):
        yield url, data


def settled(page) -> None:
    """Wait until Streamlit has finished the script run and drawn what it produced.

    Streamlit shows its status widget while a script runs and marks elements of the previous
    run stale (``data-stale="true"``) until they are redrawn; charts are drawn into a canvas or
    SVG after that. Waiting on those states, not on a fixed time, holds on a loaded machine.
    """
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidget"]')
              && !document.querySelector('[data-stale="true"]')
              && [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
                   .every(c => c.querySelector('canvas, svg'))""",
        timeout=120_000,
    )


def test_claim_page_in_chromium(server) -> None:
    from playwright.sync_api import sync_playwright

    url, data = server
    grade = Store.open(data / "store").read("verdicts").set_index("claim_id").at["C07", "grade"]
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            page.goto(f"{url}/claim?claim=C07")
            page.get_by_text(f"Verdict: {grade}", exact=False).filter(visible=True).first.wait_for(
                timeout=120_000
            )
            settled(page)
            # The SYNTHETIC study's expander: its title must be visible as literal text.
            page.get_by_text(f"PMID {XSS_PMID}", exact=False).filter(visible=True).first.click()
            # The title is also in the evidence table's hidden grid cells: wait for a visible one.
            payload = page.get_by_text("<script>window.__xss=1</script>", exact=False)
            payload = payload.filter(visible=True).first
            payload.wait_for(timeout=60_000)
            assert page.evaluate("typeof window.__xss") == "undefined"
            assert page.locator("img[src='x']").count() == 0
            assert not dialogs
            page.screenshot(path=str(ARTIFACTS / "claim.png"), full_page=True)

            for name in PAGES:
                if name.startswith("claim"):
                    continue
                page.goto(f"{url}/{'' if name == 'overview' else name}")  # the default page is /
                page.locator("h1").first.wait_for(timeout=120_000)
                settled(page)
                assert page.get_by_text("Page not found").count() == 0, name
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            assert page.evaluate("typeof window.__xss") == "undefined"
        finally:
            browser.close()
    assert sorted(p.name for p in ARTIFACTS.iterdir()) == sorted(
        f"{n.split('?')[0]}.png" for n in PAGES
    )
