"""Recall and precision of the claim extractor on the clinic's post against C01-C17's quotes.

A claim counts as found when some proposed sentence overlaps its quote's character span in the
post; a proposal counts as a claim when it overlaps any claim's quote span. Quotes spanning two
sentences are found by either sentence.

Usage: python benchmarks/extract_claims.py [--claims data/claims.yaml] [--verbose]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evidence.claims import load_claims
from evidence.content import read_post
from evidence.extraction import propose_claims, score

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=Path, default=REPO / "data" / "claims.yaml")
    parser.add_argument("--verbose", action="store_true", help="list misses and extra proposals")
    args = parser.parse_args(argv)
    registry = load_claims(args.claims)
    print(__doc__.split("\n\n")[1].replace("\n", " "))
    for name in sorted({c.content for c in registry.claims}):
        post = read_post(registry.content_dir / name)
        spans = {c.id: registry.spans[c.id] for c in registry.claims if c.content == name}
        proposals = propose_claims(post.text)
        result = score(proposals, spans)
        print(
            f"{name}: recall {result.recall:.2f} ({len(result.found)}/{len(spans)} claims found), "
            f"precision {result.precision:.2f} "
            f"({result.n_true_proposals}/{result.n_proposals} proposals are claims)"
        )
        print(f"  missed: {', '.join(result.missed) or 'none'}")
        if args.verbose:
            for p in result.extra:
                print(f"  not a registered claim: {p.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
