"""Shared fixtures: where ../shared lives, and skips with a reason when it does not."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("EVIDENCE_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared (or $EVIDENCE_SHARED); skips the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: set EVIDENCE_SHARED to the shared folder to run this test")
    return path


@pytest.fixture
def eutils_dir() -> Path:
    return shared_path("fixtures", "eutils")


@pytest.fixture
def medline_dir() -> Path:
    return shared_path("fixtures", "medline")


def copy_default_data(target: Path) -> Path:
    """A data folder holding the repo's claims, posts and curated corpus (no store yet)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "data/claims.yaml", target / "claims.yaml")
    shutil.copytree(REPO / "data/content", target / "content")
    shutil.copytree(REPO / "data/corpus", target / "corpus")
    return target


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return copy_default_data(tmp_path / "data")
