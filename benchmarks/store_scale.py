"""Store cost against size: fold 100 new records, one curator edit, overview and claim page.

For each size (default 1k, 10k, 100k, 300k SYNTHETIC records, see `scale_corpus`) a base store
is built in temporary folders: the default store (17 claims of data/claims.yaml + the 67 curated
records, through `pipeline.build_default_store`), then the synthetic records folded in by one
`apply_batch` commit, each size on top of a copy of the previous one, so tagging runs once per
record. Then, ``--runs`` times per size, each in a fresh process on a fresh copy of the base
store:

- fold-100: 100 new SYNTHETIC records folded through `pipeline.apply_batch` inside
  `Store.update`, as a refresh commits them (a `runs` row appended). By default ("weekly") 80
  have PMIDs of the coming week (just above the store's range), 15 PMIDs of the past year and 5
  PMIDs spread over 1..41,000,000; ``--fold-mix spread`` spreads all 100 over the range (the
  worst case for a store partitioned by PMID range);
- edit: `Store.curate` setting a curator stance (and a note) on an existing curated C03 link;
- overview: `Store.open(...).snapshot()` + `views.current_verdicts` +
  `overview_view.overview_table`, and
  claim page: a fresh snapshot + `views.claim_detail` for C03 (verdicts from the overview step),
  as the dashboard computes them on an empty cache.

Per measurement: wall time of the operation alone (not imports, not `Store.open`); peak RSS =
the child's own absolute high-water mark (VmHWM, from process start, imports included; not a
difference); bytes written = sum of the sizes of the files under the store folder that the
operation created or modified (its write() byte count is printed alongside). Min and median of
the runs are printed, goals judged on the median.

Base stores are built through the public path (so tables the pipeline maintains exist), but
their links' stance suggestions come from cue-LR, which is quick; the measured folds use the
suggester installed (MiniLM-LR when its weights are, whose load counts in the fold's memory).
On the code before issue 12 (one file per table, relevance re-scored over every record) a fold
at 100k takes about a minute and 3 GB, and the default run with 300k takes well over half an
hour: run ``--sizes 1000,10000,100000`` there.

Run:  python benchmarks/store_scale.py [--sizes 1000,10000,100000,300000] [--runs 3]
      [--fold-mix weekly|spread] [--cache DIR]
--cache keeps the base stores in DIR and reuses them while the code they depend on is unchanged
(key: a hash of evidence/, these scripts and the bundled data); without it all is temporary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DATA = REPO / "data"
SIZES = (1_000, 10_000, 100_000, 300_000)
FOLD_N = 100
EDIT_CLAIM = PAGE_CLAIM = "C03"
EDIT_NOTE = "SYNTHETIC benchmark edit"
BASE_NOW = "2026-11-27T00:00:00+00:00"
FOLD_NOW = "2026-12-04T00:00:00+00:00"
GOAL_AT = 100_000
GROWTH = (10_000, 300_000)
GOALS = {  # (operation, metric) -> limit at GOAL_AT records
    ("fold", "seconds"): 3.0,
    ("fold", "peak_mb"): 500.0,
    ("edit", "seconds"): 0.3,
    ("edit", "peak_mb"): 200.0,
    ("edit", "bytes"): 100_000,
}
GROWTH_LIMIT = 2.0
CHANGED = "the code under evidence/ changed during this run: figures may mix code versions"
PATHS = {"store_dir", "batch_file", "prev_store", "out_store"}  # child parameters that are paths


# ----- measuring, in the child -----------------------------------------------------------------


def _proc_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_mb() -> float:
    """This process's own peak RSS. VmHWM, not ru_maxrss: on Linux ru_maxrss carries the
    parent's peak across fork + exec, so a child started by a big parent would report that."""
    kb = _proc_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def rss_mb() -> float | None:
    kb = _proc_kb("VmRSS")
    return None if kb is None else kb / 1024


def wchar() -> int | None:
    """Bytes this process has passed to write() so far (Linux)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def scan(root: Path) -> dict[str, tuple[int, int, int]]:
    """path -> (size, mtime_ns, inode) of every file under ``root``."""
    out = {}
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            out[path] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def written(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]):
    """(bytes, files) of the files created or modified between two scans."""
    changed = [p for p, s in after.items() if before.get(p) != s]
    return sum(after[p][0] for p in changed), len(changed)


def _measured(store_dir: Path, operation) -> dict[str, Any]:
    """Run ``operation()`` with time, peak RSS and bytes written measured around it."""
    before, rss_before, w0 = scan(store_dir), rss_mb(), wchar()
    c0, t0 = time.process_time(), time.perf_counter()
    operation()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    peak = peak_mb()
    w1 = wchar()
    nbytes, nfiles = written(before, scan(store_dir))
    return {
        "seconds": seconds,
        "cpu_s": cpu,
        "peak_mb": peak,
        "rss_before_mb": rss_before,
        "bytes": nbytes,
        "files": nfiles,
        "wchar": None if w0 is None or w1 is None else w1 - w0,
    }


def _records_count(store_dir: Path) -> int:
    from evidence import views
    from evidence.store import Store

    return len(views.columns(Store.open(store_dir).snapshot(), "records", ["pmid"]))


def _batch(records):
    """A batch of ``records`` against the bundled claims, as `evidence refresh` builds it."""
    from evidence.claims import claims_frame, load_claims
    from evidence.pipeline import Batch

    registry = load_claims(DATA / "claims.yaml")
    return Batch(
        records=records,
        claims=claims_frame(registry),
        topic_queries={k: t.query for k, t in registry.topics.items()},
        registry=registry,
        checked=set(records["pmid"]),
    )


def child_fold(store_dir: Path, batch_file: Path, base_records: int) -> dict[str, Any]:
    import pandas as pd

    from evidence.pipeline import apply_batch, run_row
    from evidence.store import Store

    records = pd.read_pickle(batch_file)
    batch = _batch(records)
    now = pd.Timestamp(FOLD_NOW)
    run_id = "bench-fold"

    def change(snap):
        frames = dict(apply_batch(snap, batch, run_id, now))
        row = run_row(run_id, now, now, mode="benchmark fold", new_records=len(records))
        frames["runs"] = pd.concat([snap["runs"], row], ignore_index=True)
        return frames

    t0 = time.perf_counter()
    store = Store.open(store_dir)
    open_s = time.perf_counter() - t0
    out = _measured(store_dir, lambda: store.update(change, actor="benchmark fold"))
    out["open_s"] = open_s
    out["suggester"] = suggester()
    after = _records_count(store_dir)  # after the peak was read
    if after != base_records + len(records):
        raise SystemExit(f"fold: {base_records} records + {len(records)} new gave {after}")
    return out


def child_edit(store_dir: Path, pmid: str, stance: str) -> dict[str, Any]:
    from evidence.store import Store

    t0 = time.perf_counter()
    store = Store.open(store_dir)
    open_s = time.perf_counter() - t0
    out = _measured(
        store_dir,
        lambda: store.curate("benchmark curator", EDIT_CLAIM, pmid, stance=stance, note=EDIT_NOTE),
    )
    out["open_s"] = open_s
    links = Store.open(store_dir).snapshot()["links"]
    hit = links[links["claim_id"].eq(EDIT_CLAIM) & links["pmid"].eq(pmid)]
    if len(hit) != 1 or hit["stance"].iloc[0] != stance:
        raise SystemExit(f"edit: {EDIT_CLAIM}/{pmid} does not hold stance {stance!r} afterwards")
    return out


def child_views(store_dir: Path) -> dict[str, Any]:
    from evidence import overview_view, views
    from evidence.store import Store

    t0 = time.perf_counter()
    snap = Store.open(store_dir).snapshot()
    verdicts = views.current_verdicts(snap, registry=views.load_registry(DATA))
    table = overview_view.overview_table(snap, verdicts)
    overview_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fresh = Store.open(store_dir).snapshot()
    detail = views.claim_detail(fresh, PAGE_CLAIM, verdicts[PAGE_CLAIM])
    claim_s = time.perf_counter() - t0
    return {
        "overview_s": overview_s,
        "claim_s": claim_s,
        "peak_mb": peak_mb(),
        "claims": len(table),
        "claim_studies": len(detail.evidence),
    }


def child_build(
    size: int, prev_store: Path | None, prev_size: int, out_store: Path, n_max: int
) -> dict[str, Any]:
    """The base store of ``size`` synthetic records (+ the default store), one fold commit."""
    import pandas as pd
    from scale_corpus import FOLD_MIXES, SyntheticCorpus, curated_pmids

    from evidence import views
    from evidence.pipeline import apply_batch, build_default_store, run_row
    from evidence.schema import CURATOR_STANCES
    from evidence.store import Store

    t_start = time.perf_counter()
    if prev_store is None:
        build_default_store(DATA, out_store)
    else:
        shutil.copytree(prev_store, out_store)
    corpus = SyntheticCorpus(n_max, curated_pmids())
    t0 = time.perf_counter()
    records = corpus.store_records(prev_size, size)
    generate_s = time.perf_counter() - t0
    for mix in FOLD_MIXES:
        corpus.fold_records(FOLD_N, mix).to_pickle(out_store.parent / f"fold-{mix}.pkl")

    batch = _batch(records)
    now = pd.Timestamp(BASE_NOW)
    run_id = f"bench-base-{size}"
    n_new = len(records)

    def change(snap):
        frames = dict(apply_batch(snap, batch, run_id, now))
        row = run_row(run_id, now, now, mode="benchmark base", new_records=n_new)
        frames["runs"] = pd.concat([snap["runs"], row], ignore_index=True)
        return frames

    base_suggester = _cheap_suggester()
    t0 = time.perf_counter()
    Store.open(out_store).update(change, actor="benchmark base build")
    fold_s = time.perf_counter() - t0
    records = batch = None  # free them before reading the store back

    snap = Store.open(out_store).snapshot()
    n_records = len(views.columns(snap, "records", ["pmid"]))
    links = snap["links"]
    mine = links[links["claim_id"].eq(EDIT_CLAIM) & links["stance_origin"].eq("curator")]
    target = mine.sort_values("pmid").iloc[0]
    new_stance = next(s for s in ("mixed", *CURATOR_STANCES) if s != target["stance"])
    sizes = [st[0] for st in scan(out_store).values()]
    return {
        "records": n_records,
        "links": len(links),
        "linked_records": links["pmid"].nunique(),
        "page_links": int(links["claim_id"].eq(PAGE_CLAIM).sum()),
        "store_bytes": sum(sizes),
        "store_files": len(sizes),
        "edit_pmid": str(target["pmid"]),
        "edit_from": str(target["stance"]),
        "edit_to": new_stance,
        "generate_s": generate_s,
        "fold_s": fold_s,
        "build_s": time.perf_counter() - t_start,
        "peak_mb": peak_mb(),
        "base_suggester": base_suggester,
    }


def suggester() -> str:
    """The stance suggester a fold uses here (MiniLM-LR only when its weights are installed)."""
    try:
        from evidence.stance import available_methods

        return available_methods()[0]
    except (ImportError, AttributeError, IndexError):
        return "unknown"


def _cheap_suggester() -> str:
    """In the base-build process only: suggest with cue-LR rather than MiniLM-LR (~50 ms a link,
    the bulk of building 100k+ records). A base store's links then carry cue-LR suggestions; the
    measured folds use whatever is installed. Harmless if the stance module changes."""
    try:
        from evidence import stance_minilm

        stance_minilm.installed = lambda: False
    except ImportError:
        pass
    return suggester()


def child_main(argv: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    op, params = argv[0], json.loads(argv[1])
    p = {k: (Path(v) if v else None) if k in PATHS else v for k, v in params.items()}
    if op == "build":
        out = child_build(p["size"], p["prev_store"], p["prev_size"], p["out_store"], p["n_max"])
    elif op == "fold":
        out = child_fold(p["store_dir"], p["batch_file"], p["base_records"])
    elif op == "edit":
        out = child_edit(p["store_dir"], p["pmid"], p["stance"])
    elif op == "views":
        out = child_views(p["store_dir"])
    else:
        raise SystemExit(f"unknown child operation {op!r}")
    print(json.dumps(out))


# ----- orchestrating, in the parent ------------------------------------------------------------


class ChildFailed(RuntimeError):
    pass


def run_child(op: str, **params: Any) -> dict[str, Any]:
    """One operation in a fresh interpreter; its last stdout line is the JSON result."""
    args = {k: str(v) if isinstance(v, Path) else v for k, v in params.items()}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", op, json.dumps(args)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        tail = "\n".join(proc.stderr.strip().splitlines()[-12:])
        raise ChildFailed(f"{op} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def code_key() -> str:
    """Hash of what a base store depends on, so a cached one is reused only for the same code."""
    h = hashlib.sha256()
    paths = sorted((REPO / "evidence").rglob("*.py")) + sorted((REPO / "evidence").rglob("*.yaml"))
    paths += [Path(__file__), Path(__file__).with_name("scale_corpus.py")]
    paths += [DATA / "claims.yaml", DATA / "corpus" / "curated_evidence.jsonl"]
    for path in paths:
        h.update(str(path.relative_to(REPO)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def build_bases(sizes: list[int], work: Path, n_max: int) -> dict[int, dict[str, Any]]:
    key = code_key()
    bases: dict[int, dict[str, Any]] = {}
    prev: tuple[Path, int] | None = None
    for n in sizes:
        folder = work / f"base-{key}-{n}-from-{prev[1] if prev else 0}"
        info_file = folder / "build.json"
        if info_file.is_file():
            info = json.loads(info_file.read_text())
            note = "reused from the cache"
        else:
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            try:
                info = run_child(
                    "build",
                    size=n,
                    prev_store=prev[0] if prev else "",
                    prev_size=prev[1] if prev else 0,
                    out_store=folder / "store",
                    n_max=n_max,
                )
            except ChildFailed as e:
                print(f"  base {n:>7,}: {e}\n  (this size and larger ones are left out)")
                shutil.rmtree(folder, ignore_errors=True)
                break
            info_file.write_text(json.dumps(info))
            note = (
                f"built in {info['build_s']:.0f} s (generate {info['generate_s']:.0f} s, fold "
                f"{info['fold_s']:.0f} s, peak {info['peak_mb']:.0f} MB; suggestions by "
                f"{info['base_suggester']})"
            )
        info["store"] = str(folder / "store")
        bases[n] = info
        print(
            f"  base {n:>7,}: {info['records']:,} records, {info['links']:,} links "
            f"({info['linked_records']:,} records linked, {info['page_links']} on "
            f"{PAGE_CLAIM}), {info['store_bytes'] / 1e6:.1f} MB in {info['store_files']} files; "
            f"{note}",
            flush=True,
        )
        prev = (folder / "store", n)
    return bases


def measure(base: dict[str, Any], work: Path, op: str, fold_mix: str) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix=f"{op}-", dir=work))
    store_dir = scratch / "store"
    try:
        shutil.copytree(base["store"], store_dir)
        if op == "fold":
            return run_child(
                "fold",
                store_dir=store_dir,
                batch_file=Path(base["store"]).parent / f"fold-{fold_mix}.pkl",
                base_records=base["records"],
            )
        if op == "edit":
            return run_child("edit", store_dir=store_dir, pmid=base["edit_pmid"],
                             stance=base["edit_to"])  # fmt: skip
        return run_child("views", store_dir=store_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def fmt_bytes(n: float) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.0f} KB" if n >= 1e3 else f"{n:.0f} B"


def summary(values: list[float]) -> tuple[float, float] | None:
    return (min(values), statistics.median(values)) if values else None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child_main(argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="comma-separated numbers of synthetic records (default %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument("--cache", type=Path, help="keep base stores here and reuse them")
    parser.add_argument(
        "--fold-mix",
        choices=("weekly", "spread"),
        default="weekly",
        help="PMIDs of the 100 folded records: weekly = 80 of the coming week, 15 of the past "
        "year, 5 spread over 1..41,000,000 (default); spread = all 100 spread",
    )
    args = parser.parse_args(argv)
    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    if not sizes or sizes[0] <= 0:
        parser.error("--sizes needs positive numbers")

    print(
        f"store_scale: SYNTHETIC records (PMIDs spread over 1..41,000,000) on top of the default "
        f"store (17 claims, 67 curated records); {args.runs} runs per figure, min / median, each "
        "in a fresh process on a fresh copy of the base store. Peak RSS is the measuring "
        "process's absolute peak (VmHWM; imports included), not a difference. Fold: "
        + (
            "80 PMIDs of the coming week (above the range), 15 of the past year, 5 spread."
            if args.fold_mix == "weekly"
            else "all 100 PMIDs spread over the range (worst case for PMID-range partitions)."
        ),
        flush=True,
    )
    started = time.perf_counter()
    tmp = None
    if args.cache:
        work = args.cache
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="store-scale-")
        work = Path(tmp.name)
    results: dict[int, dict[str, list[dict[str, Any]]]] = {}
    errors: dict[tuple[int, str], str] = {}
    key = code_key()
    changed = False
    try:
        bases = build_bases(sizes, work, max(sizes))
        for n in bases:
            results[n] = {"fold": [], "edit": [], "views": []}
            for run in range(1, args.runs + 1):
                parts = []
                for op in ("fold", "edit", "views"):
                    if (n, op) in errors:
                        continue
                    if not changed and code_key() != key:
                        changed = True
                        print(f"  WARNING: {CHANGED} (noticed at {n:,}, run {run})", flush=True)
                    try:
                        m = measure(bases[n], work, op, args.fold_mix)
                    except ChildFailed as e:
                        errors[(n, op)] = str(e)
                        print(f"  {n:>7,} run {run}: {e}", flush=True)
                        continue
                    results[n][op].append(m)
                    if op == "views":
                        parts.append(
                            f"overview {m['overview_s']:.2f} s, claim page {m['claim_s']:.2f} s"
                        )
                    else:
                        parts.append(
                            f"{op} {m['seconds']:.2f} s (CPU {m['cpu_s']:.2f} s) "
                            f"{m['peak_mb']:.0f} MB "
                            f"{fmt_bytes(m['bytes'])} in {m['files']} files"
                        )
                if parts:
                    print(f"  {n:>7,} run {run}: " + "; ".join(parts), flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    report(list(bases), bases, results, errors)
    if changed:
        print(f"WARNING: {CHANGED}")
    state = f"{key}, changed during the run" if changed else key
    print(f"(whole run {time.perf_counter() - started:.0f} s; code {state})")
    print(last_line(results))


def stat(results, n: int, op: str, metric: str) -> tuple[float, float] | None:
    runs = results.get(n, {}).get(op, [])
    return summary([r[metric] for r in runs if r.get(metric) is not None])


def report(sizes, bases, results, errors) -> None:
    def cell(n, op, metric, kind):
        s = stat(results, n, op, metric)
        if s is None:
            return "error" if (n, op) in errors else "–"
        if kind == "s":
            return f"{s[0]:.2f} / {s[1]:.2f}"
        if kind == "mb":
            return f"{s[0]:.0f} / {s[1]:.0f}"
        return f"{fmt_bytes(s[0])} / {fmt_bytes(s[1])}"

    print()
    print(
        "| records | links | store | fold-100 s | fold-100 peak MB | fold-100 written "
        "| edit s | edit peak MB | edit written | overview s | claim page s |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in sizes:
        b = bases[n]
        print(
            f"| {b['records']:,} | {b['links']:,} | {b['store_bytes'] / 1e6:.0f} MB "
            f"| {cell(n, 'fold', 'seconds', 's')} | {cell(n, 'fold', 'peak_mb', 'mb')} "
            f"| {cell(n, 'fold', 'bytes', 'b')} | {cell(n, 'edit', 'seconds', 's')} "
            f"| {cell(n, 'edit', 'peak_mb', 'mb')} | {cell(n, 'edit', 'bytes', 'b')} "
            f"| {cell(n, 'views', 'overview_s', 's')} | {cell(n, 'views', 'claim_s', 's')} |"
        )
    print("(each cell: min / median)")
    for n in sizes:
        extra = []
        for op in ("fold", "edit"):
            rb = stat(results, n, op, "rss_before_mb")
            wc = stat(results, n, op, "wchar")
            op_s = stat(results, n, op, "open_s")
            cpu = stat(results, n, op, "cpu_s")
            if rb and wc and op_s and cpu:
                extra.append(
                    f"{op}: CPU {cpu[0]:.2f} / {cpu[1]:.2f} s, RSS before the operation "
                    f"{rb[1]:.0f} MB, write() {fmt_bytes(wc[1])}, Store.open {op_s[1]:.2f} s"
                )
        f = results.get(n, {}).get("fold", [])
        if f:
            extra.append(f"fold suggester {f[0].get('suggester')}")
        v = results.get(n, {}).get("views", [])
        if v:
            extra.append(
                f"views: peak {statistics.median(r['peak_mb'] for r in v):.0f} MB, "
                f"{v[0]['claim_studies']} studies on {PAGE_CLAIM}"
            )
        if extra:
            print(f"  {n:>7,}: " + "; ".join(extra))
    for (n, op), message in errors.items():
        print(f"  {n:>7,} {op} failed: {message.strip().splitlines()[-1]}")

    print()
    labels = {"seconds": ("s", "{:.2f} s"), "peak_mb": ("MB", "{:.0f} MB")}
    for (op, metric), limit in GOALS.items():
        name = "fold 100 records" if op == "fold" else "curator edit"
        if metric == "bytes":
            want, fmt = f"<= {fmt_bytes(limit)} written", fmt_bytes
        else:
            unit, pattern = labels[metric]
            want = f"<= {limit:g} {unit}" + (" peak RSS" if metric == "peak_mb" else "")
            fmt = pattern.format
        s = stat(results, GOAL_AT, op, metric)
        if s is None:
            print(f"goal {name} at {GOAL_AT:,} {want}: not shown ({GOAL_AT:,} not measured)")
            continue
        verdict = "met" if s[1] <= limit else "NOT met"
        print(f"goal {name} at {GOAL_AT:,} {want}: median {fmt(s[1])} -> goal {verdict}")
    lo, hi = GROWTH
    for op in ("fold", "edit"):
        name = "fold 100 records" if op == "fold" else "curator edit"
        for metric in ("seconds", "peak_mb", "bytes"):
            a, b = stat(results, lo, op, metric), stat(results, hi, op, metric)
            label = {"seconds": "time", "peak_mb": "peak RSS", "bytes": "bytes written"}[metric]
            if a is None or b is None:
                top = max((n for n in sizes if n > lo and stat(results, n, op, metric)), default=0)
                c = stat(results, top, op, metric) if top else None
                seen = f"; {lo:,} -> {top:,}: x{c[1] / a[1]:.2f}" if a and c and a[1] > 0 else ""
                print(
                    f"goal {name} {label} grows <= {GROWTH_LIMIT:g}x from {lo:,} to {hi:,}: "
                    f"not shown ({hi:,} not measured{seen})"
                )
                continue
            ratio = b[1] / a[1] if a[1] > 0 else float("inf")
            verdict = "met" if ratio <= GROWTH_LIMIT else "NOT met"
            print(
                f"goal {name} {label} grows <= {GROWTH_LIMIT:g}x from {lo:,} to {hi:,}: "
                f"x{ratio:.2f} (medians) -> goal {verdict}"
            )


def last_line(results) -> str:
    def value(op: str, metric: str, pattern: str) -> str:
        s = stat(results, GOAL_AT, op, metric)
        return "n/a" if s is None else pattern.format(s[1])

    return (
        f"store_scale: fold100_100k_s={value('fold', 'seconds', '{:.2f}')} "
        f"fold100_100k_mb={value('fold', 'peak_mb', '{:.0f}')} "
        f"edit_100k_s={value('edit', 'seconds', '{:.3f}')} "
        f"edit_100k_mb={value('edit', 'peak_mb', '{:.0f}')} "
        f"edit_100k_bytes={value('edit', 'bytes', '{:.0f}')}"
    )


if __name__ == "__main__":
    main()
