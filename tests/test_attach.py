"""An editor attaches a PMID the store lacks: fetched from PubMed (loopback server), then linked;
with PubMed unreachable (a closed port, a name that does not resolve) it fails at once, in words."""

from __future__ import annotations

import socket

import pytest

from evidence import views
from evidence.auth import EDITOR, NotAllowed, User
from evidence.curation import PubMedUnavailable
from evidence.pipeline import build_default_store
from evidence.pubmed import HostUnreachable, PubMed
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


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "base_url",
    [
        pytest.param("closed", id="connection-refused"),
        pytest.param("http://pubmed.invalid/entrez/eutils/", id="name-does-not-resolve"),
    ],
)
def test_unreachable_pubmed_fails_at_once_in_words_and_stores_nothing(data_dir, base_url):
    if base_url == "closed":
        base_url = f"http://127.0.0.1:{_closed_port()}/entrez/eutils/"
    store = build_default_store(data_dir)
    # the settings of an unattended refresh: 5 retries with backoff (16 s and more offline)
    settings = load_settings(
        {"data_dir": data_dir, "base_url": base_url, "email": "tests@example.org"}, env={}
    )
    assert settings.max_retries == 5 and not settings.offline
    version, runs = store.version, len(store.read("runs"))
    with pytest.raises(PubMedUnavailable) as refused:
        views.attach_pmid(store, ALICE, "C03", "12345", settings=settings)
    assert str(refused.value) == (
        "PubMed could not be reached (offline?). PMID 12345 is not in the store; try again "
        "when online or import it from a .nbib file."
    )
    assert "Errno" not in str(refused.value) and "HTTPConnection" not in str(refused.value)
    # one attempt, no retry and so no backoff sleep: the transport says how many it made
    cause = refused.value.__cause__
    assert isinstance(cause, HostUnreachable)
    assert cause.reason.startswith("gave up after 1 attempt:"), cause.reason
    assert store.version == version and len(store.read("runs")) == runs


def test_an_unattended_client_still_retries_an_unreachable_server(data_dir):
    settings = load_settings(
        {
            "data_dir": data_dir,
            "base_url": f"http://127.0.0.1:{_closed_port()}/entrez/eutils/",
            "email": "tests@example.org",
            "max_retries": 2,
            "backoff_factor": 0.01,
            "backoff_max": 0.05,
        },
        env={},
    )
    client = PubMed(settings)
    with pytest.raises(HostUnreachable, match="gave up after 3 attempts"):
        list(client.efetch_ids(["12345"]))
    assert client.stats.network == 3 and client.stats.retries == 2
