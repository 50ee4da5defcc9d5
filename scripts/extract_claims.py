"""Propose draft claims from a post (Markdown or HTML) for an editor to trim.

Usage: python scripts/extract_claims.py POST.md|POST.html [-o DRAFT.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evidence.content import read_post
from evidence.errors import EvidenceError
from evidence.extraction import draft_yaml, propose_claims


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("post", type=Path, help="the post, .md or .html")
    parser.add_argument("-o", "--output", type=Path, help="write the draft here (default: stdout)")
    parser.add_argument("--prefix", default="D", help="id prefix of the drafts (default: D)")
    args = parser.parse_args(argv)
    try:
        post = read_post(args.post)
    except EvidenceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    proposals = propose_claims(post.text)
    draft = draft_yaml(proposals, post.name, prefix=args.prefix)
    if args.output:
        args.output.write_text(draft, encoding="utf-8")
        print(f"{len(proposals)} draft claims written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(draft)
    return 0


if __name__ == "__main__":
    sys.exit(main())
