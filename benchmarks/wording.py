"""Wording check on the clinic's post: each claim's wording, verdict, flag and suggestion, and the
flags' precision and recall against the hand labels in tests/wording_labels.yaml.

The labels were written before the rules, from the post sentences and the verdicts; the rules
were then written and tuned on the same 17 sentences, so the figures are in-sample. The
ablations show what each post-specific rule buys (and what the one disputed table cell costs).
The store is the bundled curated evidence, built into a temp folder.

Run: /work/venv/bin/python benchmarks/wording.py [--repeat 5]
Last line: ``wording: precision=0.xx recall=0.xx``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evidence import views, wording  # noqa: E402
from evidence.pipeline import build_default_store  # noqa: E402
from evidence.store import Store  # noqa: E402
from tests.conftest import copy_default_data  # noqa: E402

POST = "tms-emotional-blunting.md"
LABELS = REPO / "tests" / "wording_labels.yaml"


def scores(flagged: set[str], truth: set[str]) -> tuple[float, float]:
    hit = len(flagged & truth)
    return (hit / len(flagged) if flagged else 0.0, hit / len(truth) if truth else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of check_post")
    args = ap.parse_args()
    labels = yaml.safe_load(LABELS.read_text(encoding="utf-8"))["labels"]
    truth = {cid for cid, label in labels.items() if label["flag"]}

    with tempfile.TemporaryDirectory() as tmp:
        data = copy_default_data(Path(tmp) / "data")
        build_default_store(data, data / "store")
        registry = views.load_registry(data)
        assert registry is not None
        verdicts = views.current_verdicts(Store.open(data / "store").snapshot(), registry=registry)
        rules = wording.load_rules()
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            checks = wording.check_post(verdicts, registry, POST, rules=rules)
            times.append(time.perf_counter() - t0)

        print(f"{POST}: {len(checks)} claims")
        print(f"{'claim':<6}{'wording':<13}{'verdict':<19}{'certainty':<10}{'allowed':<12}"
              f"{'flag':<6}label")  # fmt: skip
        for c in checks:
            label = "yes" if c.claim_id in truth else "no"
            agree = "" if c.flagged == (c.claim_id in truth) else "  <- disagrees"
            print(f"{c.claim_id:<6}{c.strength:<13}{c.grade:<19}{c.certainty:<10}{c.allowed:<12}"
                  f"{c.status:<6}{label}{agree}")  # fmt: skip
            print(textwrap.fill(c.sentence, 100, initial_indent="      post:    ",
                                subsequent_indent=" " * 15))  # fmt: skip
            print(textwrap.fill(c.reason, 100, initial_indent="      reason:  ",
                                subsequent_indent=" " * 15))  # fmt: skip
            if c.suggestion:
                print(textwrap.fill(c.suggestion, 100, initial_indent="      suggest: ",
                                    subsequent_indent=" " * 15))  # fmt: skip

        print()
        print("ablations (same labels; precision / recall / flagged):")
        variants = {
            "as shipped": rules,
            "no premise rule (back_reference: [])": replace(rules, back_reference=frozenset()),
            'no "you can" exception (not_hedges: [])': replace(rules, not_hedges=()),
            "no research rule (research: [])": replace(rules, research=()),
            "Supported x very low allows hedged": replace(
                rules,
                allowed={
                    **rules.allowed,
                    "Supported": {**rules.allowed["Supported"], "very low": "hedged"},
                },
            ),
        }
        for name, variant in variants.items():
            got = {
                c.claim_id
                for c in wording.check_post(verdicts, registry, POST, rules=variant)
                if c.flagged
            }
            p, r = scores(got, truth)
            print(f"  {name:<42} {p:.2f} / {r:.2f} / {','.join(sorted(got))}")

    flagged = {c.claim_id for c in checks if c.flagged}
    p, r = scores(flagged, truth)
    tp = len(flagged & truth)
    print()
    print(f"check_post on the post: best {min(times) * 1000:.0f} ms of {args.repeat} runs")
    print(
        f"flagged {len(flagged)}, labelled should-flag {len(truth)}, agreeing {tp}; "
        f"false positives {sorted(flagged - truth)}, misses {sorted(truth - flagged)}"
    )
    print(f"wording: precision={p:.2f} recall={r:.2f}")


if __name__ == "__main__":
    main()
