"""Weekly refresh entry point: `python scripts/refresh.py [--offline] [--full] ...`.

Same as `evidence refresh`; see `evidence refresh --help`.
"""

from __future__ import annotations

import sys

from evidence.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["refresh", *sys.argv[1:]]))
