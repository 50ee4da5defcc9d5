"""Records from the shared PubMed fixtures (efetch XML and MEDLINE), for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evidence.records import parse_medline, parse_pubmed_xml, records_frame


def pubmed_fixture_records(shared: Path) -> pd.DataFrame:
    """Every record of the shared efetch XML and MEDLINE fixtures, one row each."""
    rows = [
        r
        for p in sorted((shared / "fixtures/eutils").glob("pubmed*.xml"))
        for r in parse_pubmed_xml(p)
    ]
    rows += [
        r
        for p in sorted((shared / "fixtures/medline").glob("pubmed_result*.txt"))
        for r in parse_medline(p)
    ]
    return records_frame(rows)
