"""Fault probes for the whole refresh: one world, one list of probes, one judge.

Shared by `tests/test_refresh_faults.py` (in process, through `evidence.cli.main`) and
`benchmarks/faults.py` (each probe through the real `evidence refresh` command). A probe sets
up one fault on a loopback E-utilities server or in the data folder; the judge then checks
what an operator relies on: the exit code, the store byte for byte, no temporary files, no
credential in anything printed or written, a report that names the problem, and, once the
fault is gone, a healthy run that succeeds (so nothing bad was cached or half-stored).
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

from evidence.claims import load_claims
from evidence.pipeline import build_default_store
from evidence.refresh import plan_queries
from tests.conftest import copy_default_data
from tests.fake_eutils import (
    FakeEutils,
    PubMedIndex,
    articles_from,
    bad_id,
    curated_articles,
    drop_article,
    echo_request,
    empty_article_set,
    hang,
    html_page,
    reset,
    short_idlist,
    strip_pmid,
    trickle,
)

API_KEY = "probe-SECRET-0123456789abcdef"
EMAIL = "operator+probe@clinic.example"
SYNTHETIC_FIRST = 90_000_001
EPOST_ARTICLES = 300  # enough PMIDs that one efetch batch goes by POST (epost)


@dataclass
class World:
    """A data folder with the default store, and a fake PubMed that knows every PMID asked."""

    server: FakeEutils
    index: PubMedIndex
    data_dir: Path
    env: dict[str, str]
    synthetic: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    code: int
    stderr: str


Runner = Callable[[World, list[str]], Outcome]


def make_template(path: Path) -> Path:
    """A data folder with the bundled default store built once (copied for every probe)."""
    copy_default_data(path)
    build_default_store(path)
    return path


def synthetic_articles(fixtures: dict, n: int) -> dict:
    """``n`` clearly made-up articles (PMIDs from 90000001, SYNTHETIC titles) for volume."""
    model = fixtures[sorted(fixtures)[0]]
    out = {}
    for i in range(n):
        pmid = str(SYNTHETIC_FIRST + i)
        article = copy.deepcopy(model)
        article.find("MedlineCitation/PMID").text = pmid
        article.find("MedlineCitation/Article/ArticleTitle").text = f"SYNTHETIC probe article {i}"
        for aid in article.iterfind("PubmedData/ArticleIdList/ArticleId"):
            if aid.get("IdType") == "pubmed":
                aid.text = pmid
        out[pmid] = article
    return out


@contextlib.contextmanager
def world(
    template: Path, target: Path, eutils_dir: Path, *, volume: bool = False
) -> Iterator[World]:
    """Serve the fixture articles to every topic query; ``volume`` adds synthetic articles."""
    shutil.copytree(template, target)
    with FakeEutils() as server:
        fixtures = articles_from(sorted(eutils_dir.glob("pubmed*.xml")))
        articles = dict(fixtures)
        synthetic = synthetic_articles(fixtures, EPOST_ARTICLES) if volume else {}
        articles.update(synthetic)
        index = PubMedIndex(articles).install(server)
        index.also_serves = curated_articles(target / "corpus" / "curated_evidence.jsonl")
        for name, term in plan_queries(load_claims(target / "claims.yaml"), ()):
            if name.startswith("topic:"):
                index.add_search(term, [(p, "2020/01/01") for p in sorted(articles)])
        env = {
            "EVIDENCE_BASE_URL": server.base_url,
            "EVIDENCE_EMAIL": EMAIL,
            "EVIDENCE_API_KEY": API_KEY,
            "EVIDENCE_BACKOFF_FACTOR": "0.01",
            "EVIDENCE_BACKOFF_MAX": "0.05",
            "EVIDENCE_MAX_RETRIES": "1",
            "EVIDENCE_CONNECT_TIMEOUT": "1",
            "EVIDENCE_TIMEOUT": "1",
            "EVIDENCE_TOTAL_TIMEOUT": "2",
        }
        if volume:
            env["EVIDENCE_BATCH_SIZE"] = str(EPOST_ARTICLES + 100)
        yield World(server, index, target, env, sorted(synthetic))


# -- running the command -----------------------------------------------------------------------
def run_in_process(w: World, args: list[str]) -> Outcome:
    """`evidence.cli.main` with the world's environment; stderr captured."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from evidence.cli import main

    saved = {k: os.environ.get(k) for k in w.env}
    os.environ.update(w.env)
    err = io.StringIO()
    try:
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            code = main(["refresh", "--data-dir", str(w.data_dir), *args])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Outcome(code, err.getvalue())


def run_command(w: World, args: list[str]) -> Outcome:
    """The real `evidence refresh` in its own process, as cron runs it."""
    cmd = [sys.executable, "-m", "evidence.cli", "refresh", "--data-dir", str(w.data_dir), *args]
    env = {**os.environ, **w.env}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    return Outcome(proc.returncode, proc.stderr)


# -- what must hold ------------------------------------------------------------------------------
def store_fingerprint(data_dir: Path) -> dict[str, str]:
    """sha256 of every file of the store (the lock file aside): unchanged means byte for byte."""
    root = data_dir / "store"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def leftovers(data_dir: Path) -> list[str]:
    return [str(p) for p in data_dir.rglob("*") if p.name.endswith(".tmp")]


def secrets_in(text: str) -> list[str]:
    found = []
    for secret in (API_KEY, EMAIL):
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form.lower() in text.lower():
                found.append(form)
    return found


def latest_report(data_dir: Path) -> tuple[dict, str]:
    reports = sorted((data_dir / "reports").glob("refresh-*.json"))
    if not reports:
        return {}, ""
    md = reports[-1].with_suffix(".md")
    return json.loads(reports[-1].read_text()), md.read_text() if md.exists() else ""


@dataclass(frozen=True)
class Probe:
    name: str
    arrange: Callable[[World], None]
    says: str  # words the report's error (and stderr) must contain, case-insensitive
    args: tuple[str, ...] = ()
    volume: bool = False
    store_damage: bool = False  # the fault is in the store itself: no healthy re-run to expect
    needs_root: bool = False
    status: str = "failed"
    code: int = 1


def _faults(*faults) -> Callable[[World], None]:
    def arrange(w: World) -> None:
        w.server.faults.extend(faults)

    return arrange


def _fixture_pmid(w: World) -> str:
    return sorted(p for p in w.index.articles if p not in w.synthetic)[0]


def _drop(w: World) -> None:
    w.server.faults.append(drop_article(_fixture_pmid(w)))


def _corrupt_table(w: World) -> None:
    manifest = json.loads((w.data_dir / "store" / "manifest.json").read_text())
    path = w.data_dir / "store" / manifest["tables"]["links"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _hostile_manifest(w: World) -> None:
    path = w.data_dir / "store" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["tables"]["records"] = "../../../../../../../../etc/passwd"
    path.write_text(json.dumps(manifest))


def _deadline(w: World) -> None:
    w.env["EVIDENCE_RUN_DEADLINE_MINUTES"] = "0.03"  # ~2 s: the hang below outlasts it
    w.env["EVIDENCE_TOTAL_TIMEOUT"] = "30"
    w.server.faults.append(hang("efetch"))


PROBES: tuple[Probe, ...] = (
    Probe("hang: efetch never answers", _faults(*[hang("efetch")] * 2), "gave up after 2 attempts"),
    Probe(
        "trickle: one byte at a time",
        _faults(*[trickle("efetch", 0.2)] * 2),
        "no complete answer within",
    ),
    Probe("reset: esearch connection reset", _faults(*[reset("esearch")] * 2), "gave up"),
    Probe("html-200: esearch", _faults(*[html_page("esearch")] * 2), "html"),
    Probe("html-200: efetch", _faults(*[html_page("efetch")] * 2), "html"),
    Probe("html-200: epost", _faults(*[html_page("epost")] * 2), "html", volume=True),
    Probe("empty PubmedArticleSet", _faults(empty_article_set()), "did not return"),
    Probe("missing PMID in efetch", _drop, "did not return 1 of"),
    Probe(
        "missing PMID, --allow-partial",
        _drop,
        "",
        args=("--allow-partial",),
        status="partial",
        code=0,
    ),
    Probe("article without a PMID", _faults(strip_pmid()), "did not return 1 of"),
    Probe("esearch Count > IDs returned", _faults(*[short_idlist()] * 2), "esearch"),
    Probe("esearch <Id>12a</Id>", _faults(bad_id("12a")), "malformed pmid '12a'"),
    Probe("4xx page echoing the API key", _faults(echo_request(400, "esearch")), "http 400"),
    Probe("run deadline", _deadline, "run deadline"),
    Probe("disk full (tmpfs)", lambda w: None, "", needs_root=True),
    Probe("corrupt table file", _corrupt_table, "store check", store_damage=True),
    Probe("hostile manifest path", _hostile_manifest, "manifest", store_damage=True),
)


# -- disk full: the data folder on a tiny tmpfs ----------------------------------------------------
@contextlib.contextmanager
def full_disk(data_dir: Path, spare_kib: int = 64) -> Iterator[bool]:
    """Move ``data_dir`` onto a tmpfs with ``spare_kib`` free; yields False where mount fails."""
    used = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    size_kib = used // 1024 + 512 + spare_kib  # tmpfs counts whole pages per file
    staging = data_dir.with_name(data_dir.name + ".staging")
    data_dir.rename(staging)
    data_dir.mkdir()
    mounted = False
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(data_dir)],
            check=True,
            capture_output=True,
        )
        mounted = True
    except (OSError, subprocess.CalledProcessError):
        data_dir.rmdir()
        staging.rename(data_dir)
        yield False
        return
    try:
        shutil.copytree(staging, data_dir, dirs_exist_ok=True)
        filler = data_dir / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as fh:
            while True:  # take all but spare_kib
                stat = os.statvfs(data_dir)
                free = stat.f_bavail * stat.f_frsize - spare_kib * 1024
                if free <= 0:
                    break
                fh.write(b"\0" * min(free, 1 << 20))
        yield True
    finally:
        if mounted:
            kept = data_dir.with_name(data_dir.name + ".after")
            shutil.copytree(data_dir, kept, ignore=shutil.ignore_patterns("filler"))
            # lazy: an in-process run may still hold the HTTP cache's SQLite file open
            subprocess.run(["umount", "-l", str(data_dir)], check=False, capture_output=True)
            data_dir.rmdir()
            kept.rename(data_dir)
            shutil.rmtree(staging, ignore_errors=True)


def judge(probe: Probe, w: World, run: Runner) -> list[str]:
    """Run ``probe`` in world ``w``; return what did not hold (empty = held)."""
    probe.arrange(w)
    before = store_fingerprint(w.data_dir)
    problems: list[str] = []
    if probe.needs_root:
        with full_disk(w.data_dir) as mounted:
            if not mounted:
                return [f"skipped: cannot mount a tmpfs here (errno {errno.EPERM})"]
            out = run(w, list(probe.args))
    else:
        out = run(w, list(probe.args))
    report, md = latest_report(w.data_dir)
    if out.code != probe.code:
        problems.append(f"exit {out.code}, expected {probe.code}: {out.stderr.strip()[-300:]}")
    if probe.status != "partial" and store_fingerprint(w.data_dir) != before:
        problems.append("the store changed")
    if leftovers(w.data_dir):
        problems.append(f"temporary files left: {leftovers(w.data_dir)}")
    shown = out.stderr + json.dumps(report) + md
    if secrets_in(shown):
        problems.append(f"a credential was shown: {secrets_in(shown)}")
    if "Traceback" in out.stderr:
        problems.append("a traceback was printed without --debug")
    if (
        probe.code
        and len([ln for ln in out.stderr.splitlines() if ln.startswith("evidence:")]) != 1
    ):
        problems.append(f"expected one 'evidence:' line on stderr, got {out.stderr!r}")
    if probe.says and probe.says.lower() not in out.stderr.lower():
        problems.append(f"stderr does not say {probe.says!r}: {out.stderr.strip()[-300:]}")
    writable = probe.needs_root  # a full disk may leave no room for the report either
    if report:
        if report.get("status") != probe.status:
            problems.append(f"report status {report.get('status')!r}, expected {probe.status!r}")
        if probe.says and probe.says.lower() not in report.get("error", "").lower():
            problems.append(f"report error does not say {probe.says!r}: {report.get('error')!r}")
        if probe.status == "partial" and not report.get("missing_pmids"):
            problems.append("a partial run's report names no missing PMID")
    elif not writable:
        problems.append("no report was written")
    if problems or probe.store_damage:
        return problems
    # The fault is gone: a healthy run must now succeed and hold every PMID PubMed has.
    w.server.faults.clear()
    w.env.pop("EVIDENCE_RUN_DEADLINE_MINUTES", None)
    again = run(w, [])
    if again.code != 0:
        problems.append(f"healthy re-run failed: {again.stderr.strip()[-300:]}")
        return problems
    from evidence.store import Store

    stored = set(Store.open(w.data_dir / "store").snapshot().key_frame("records", ["pmid"])["pmid"])
    missing = sorted(set(w.index.articles) - stored)
    if missing:
        problems.append(f"after a healthy re-run {len(missing)} PMIDs are still missing")
    return problems
