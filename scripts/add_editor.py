"""Add (or reset) a dashboard editor: same as `evidence add-editor`; see its --help."""

from __future__ import annotations

import sys

from evidence.add_editor import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
