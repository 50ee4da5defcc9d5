"""Add (or reset) a dashboard editor in ``<data_dir>/editors.json``.

The password is read without echo (or from stdin with --password-stdin, for scripts) and only its
salted scrypt hash is written. Usage:

    evidence add-editor alice [--email alice@clinic.example] [--oidc-only]
        [--data-dir DIR] [--password-stdin]
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from .auth import MIN_PASSWORD, add_editor, editors_path
from .errors import EvidenceError
from .settings import load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="evidence add-editor", description=__doc__.splitlines()[0]
    )
    parser.add_argument("name", help="user name the editor signs in with")
    parser.add_argument("--email", default="", help="e-mail that makes an OIDC user an editor")
    parser.add_argument(
        "--oidc-only", action="store_true", help="no password: sign in only through OIDC"
    )
    parser.add_argument("--data-dir", type=Path, help="data folder (default: from settings)")
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    args = parser.parse_args(argv)
    try:
        data_dir = args.data_dir or load_settings().data_dir
        password: str | None = None
        if not args.oidc_only:
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\r\n")
            else:
                password = getpass.getpass(f"Password for {args.name} (min {MIN_PASSWORD}): ")
                if getpass.getpass("Repeat password: ") != password:
                    print("error: the passwords differ", file=sys.stderr)
                    return 2
        path = editors_path(data_dir)
        add_editor(path, args.name, password, args.email)
    except (ValueError, EvidenceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"editor {args.name} saved in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
