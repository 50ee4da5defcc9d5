"""An editor attaches a PMID the store lacks: fetched from PubMed (loopback server), then linked."""

from __future__ import annotations

import pytest

from evidence import views
from evidence.auth import EDITOR, NotAllowed, User
from evidence.pipeline import build_default_store
from evidence.settings import load_settings
from tests.fake_eutils import FakeEutils, PubMedIndex, articles_from

ALICE = User("alice", EDITOR, "password")
VIEWER = User("anonymous")
PMID = "27797938"  # a real record from the efetch fixtures (pubmed4.xml)


@pytest.fixture
def world(data_dir, eutils_dir):
    with FakeEutils() as server:
        PubMedIndex(articles_from(sorted(eutils_dir.glob("pubmed*.xml")))).install(server)
        settings = load_settings(
            {"data_dir": data_dir, "base_url": server.base_url, "email": "tests@example.org"},
            env={},
        )
        yield server, settings, build_default_store(data_dir)


def test_unknown_pmid_is_fetched_linked_and_audited(world):
    server, settings, store = world
    verdict = views.attach_pmid(
        store, ALICE, "C03", f"PMID: {PMID}", stance="background", settings=settings
    )
    assert verdict.claim_id == "C03"
    snap = store.snapshot()
    record = snap["records"].set_index("pmid").loc[PMID]
    assert record["source"] == "efetch" and record["abstract"].startswith("OBJECTIVE:")
    link = snap["links"].set_index(["claim_id", "pmid"]).loc[("C03", PMID)]
    assert (link["stance"], link["stance_origin"]) == ("background", "curator")
    audit = snap["audit"]
    assert audit.iloc[-1]["actor"] == "alice" and audit.iloc[-1]["pmid"] == PMID
    assert snap["runs"].iloc[-1]["mode"] == "editor fetch"
    assert [c.utility for c in server.log] == ["efetch"]


def test_pmid_pubmed_does_not_know_is_refused(world):
    _, settings, store = world
    version = store.version
    with pytest.raises(ValueError, match="PubMed has no record with PMID 99999999"):
        views.attach_pmid(store, ALICE, "C03", "99999999", settings=settings)
    assert store.version == version


def test_offline_or_viewer_never_fetches(world):
    server, settings, store = world
    offline = load_settings({"data_dir": settings.data_dir, "offline": True}, env={})
    with pytest.raises(ValueError, match="not in the store"):
        views.attach_pmid(store, ALICE, "C03", PMID, settings=offline)
    with pytest.raises(NotAllowed):
        views.attach_pmid(store, VIEWER, "C03", PMID, settings=settings)
    assert server.log == []
