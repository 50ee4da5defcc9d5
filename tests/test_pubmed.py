"""The E-utilities client against a real HTTP server on 127.0.0.1 serving recorded answers."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
import requests_cache

from evidence.errors import FetchError, OfflineMiss
from evidence.pubmed import MAX_ESEARCH_IDS, PubMed, check_body, parse_esearch
from evidence.records import parse_pubmed_xml
from evidence.settings import Settings, load_settings
from tests.fake_eutils import FakeEutils, Fault, PubMedIndex, articles_from, synthetic_hits

TERM = '"synthetic"[tiab]'


@pytest.fixture
def server():
    with FakeEutils() as srv:
        yield srv


@pytest.fixture
def index(server, eutils_dir) -> PubMedIndex:
    idx = PubMedIndex(articles_from(sorted(eutils_dir.glob("pubmed*.xml")))).install(server)
    idx.add_search(TERM, sorted(idx.articles))
    return idx


def settings_for(server: FakeEutils, tmp_path: Path, **kw) -> Settings:
    base = dict(
        data_dir=tmp_path,
        base_url=server.base_url,
        email="tests@example.org",
        backoff_factor=0.01,
        backoff_max=0.05,
        max_retries=3,
        timeout=5,
    )
    return load_settings({**base, **kw}, env={})


def run_search_fetch(client: PubMed, term: str = TERM) -> list[str]:
    result = client.esearch(term)
    rows = []
    for body in client.efetch_history(result.webenv, result.query_key, result.count, 3):
        rows.extend(parse_pubmed_xml(body))
    return [r["pmid"] for r in rows]


def test_search_fetch__returns_fixture_records(server, index, tmp_path):
    client = PubMed(settings_for(server, tmp_path))
    pmids = run_search_fetch(client)
    assert sorted(pmids) == sorted(index.articles)
    efetches = server.calls("efetch")
    assert [c.params["retstart"] for c in efetches] == ["0", "3", "6"]
    assert all(c.params["WebEnv"].startswith("MCID_") for c in efetches)
    assert client.stats.network == 1 + len(efetches)


def test_second_identical_run__makes_zero_network_requests(server, index, tmp_path):
    settings = settings_for(server, tmp_path)
    first = run_search_fetch(PubMed(settings))
    seen = len(server.log)
    again = PubMed(settings)
    assert run_search_fetch(again) == first
    assert len(server.log) == seen
    assert again.stats.network == 0
    assert again.stats.cache_hits == 1 + len(server.calls("efetch"))


def test_etiquette__tool_email_and_api_key_on_every_request(server, index, tmp_path):
    client = PubMed(settings_for(server, tmp_path, api_key="secret-key", tool="clinic-tracker"))
    run_search_fetch(client)
    assert server.log
    for call in server.log:
        assert call.params["tool"] == "clinic-tracker"
        assert call.params["email"] == "tests@example.org"
        assert call.params["api_key"] == "secret-key"
    assert client.settings.requests_per_second == 10.0


def test_recorded_esearch_with_history(server, eutils_dir, tmp_path):
    server.recorded("esearch", eutils_dir / "esearch2.xml")
    # Recorded with retmax=100: a page is checked against min(retmax, Count - retstart).
    client = PubMed(settings_for(server, tmp_path))
    result = client.esearch("cancer", mindate="2025/01/01", retmax=100)
    assert result.count == 42249
    assert result.webenv == "MCID_6927d6e7fee3e90f880ec190" and result.query_key == "1"
    assert len(result.ids) == 100 and result.ids[0] == "41297076"
    params = server.calls("esearch")[0].params
    assert params["usehistory"] == "y" and params["datetype"] == "edat"
    assert params["mindate"] == "2025/01/01" and params["maxdate"]  # open end closed at today


def test_zero_hits_is_a_result_not_an_error(eutils_dir):
    result = parse_esearch((eutils_dir / "esearch8.xml").read_bytes())
    assert result.count == 0 and result.ids == []
    assert any("PhraseNotFound" in w for w in result.warnings)


def test_paging__search_ids_collects_every_page(server, index, tmp_path):
    client = PubMed(settings_for(server, tmp_path))
    result = client.search_ids(TERM, page_size=3)
    assert result.ids == sorted(index.articles)
    assert [c.params["retstart"] for c in server.calls("esearch")] == ["0", "3", "6"]


def test_search_ids__splits_by_entrez_date_past_the_cap(server, index, tmp_path, monkeypatch):
    monkeypatch.setattr("evidence.pubmed.MAX_ESEARCH_IDS", 4)
    index.esearch_cap = 4  # the server refuses to page past its cap, like PubMed
    dated = [(p, f"2000/{n + 1:02d}/15") for n, p in enumerate(sorted(index.articles))]
    index.add_search(TERM, dated)
    client = PubMed(settings_for(server, tmp_path))
    result = client.search_ids(TERM, mindate="2000/01/01", maxdate="2000/12/31")
    assert result.count == len(index.articles) and sorted(result.ids) == sorted(index.articles)
    assert not any("incomplete" in w for w in result.warnings)
    assert all(int(c.params["retstart"]) < 4 for c in server.calls("esearch"))
    assert result.requests == len(server.calls("esearch")) and result.min_requests == 2


def test_search_ids__one_day_over_the_cap_is_an_error_naming_it(
    server, index, tmp_path, monkeypatch
):
    monkeypatch.setattr("evidence.pubmed.MAX_ESEARCH_IDS", 4)
    index.esearch_cap = 4
    index.add_search(TERM, [(p, "2000/01/02") for p in sorted(index.articles)])
    client = PubMed(settings_for(server, tmp_path))
    expected = rf"{len(index.articles)} PMIDs have edat 2000/01/02, more than the 4 PubMed serves"
    with pytest.raises(FetchError, match=expected):
        client.search_ids(TERM, mindate="2000/01/01", maxdate="2000/01/03")


def test_retry_after_429__waits_then_succeeds(server, index, tmp_path):
    server.faults.append(Fault(429, b'{"error":"API rate limit exceeded"}', {"Retry-After": "1"}))
    client = PubMed(settings_for(server, tmp_path))
    started = time.monotonic()
    result = client.esearch(TERM)
    assert result.count == len(index.articles)
    calls = server.calls("esearch")
    assert len(calls) == 2
    assert calls[1].at - calls[0].at >= 0.95
    assert time.monotonic() - started >= 0.95
    assert client.stats.retries == 1 and client.stats.network == 2


def test_rate_limit_json_body_with_200__is_retried(server, index, tmp_path):
    server.faults.append(Fault(200, b'{"error":"API rate limit exceeded","count":"11"}'))
    assert PubMed(settings_for(server, tmp_path)).esearch(TERM).count == len(index.articles)
    assert len(server.calls("esearch")) == 2


def test_repeated_500s__end_in_a_clear_error(server, index, tmp_path):
    server.faults.extend(Fault(500) for _ in range(10))
    client = PubMed(settings_for(server, tmp_path, max_retries=2))
    with pytest.raises(FetchError) as err:
        client.esearch(TERM)
    message = str(err.value)
    assert "esearch.fcgi" in message and "gave up after 3 attempts" in message and "500" in message
    assert "tests@example.org" not in message  # credentials are not echoed
    assert len(server.calls("esearch")) == 3


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried(server, index, tmp_path, status):
    server.faults.append(Fault(status))
    assert PubMed(settings_for(server, tmp_path)).esearch(TERM).count == len(index.articles)


def test_other_4xx_fails_at_once(server, index, tmp_path):
    server.faults.append(Fault(400, b"bad request"))
    with pytest.raises(FetchError, match="HTTP 400"):
        PubMed(settings_for(server, tmp_path)).esearch(TERM)
    assert len(server.calls("esearch")) == 1


def test_error_body__raises_and_is_not_cached(server, eutils_dir, tmp_path):
    server.recorded("epost", eutils_dir / "epost2.xml")
    server.recorded("esearch", eutils_dir / "epost3.xml")  # an <ERROR> answer to a GET
    client = PubMed(settings_for(server, tmp_path))
    with pytest.raises(FetchError, match="Invalid db name specified: nothing"):
        client.epost(["1", "2"])
    for _ in range(2):
        with pytest.raises(FetchError, match="Empty ID list"):
            client.esearch(TERM)
    assert len(server.calls("esearch")) == 2  # the error was never served from the cache


def test_truncated_body__raises_and_is_not_cached(server, index, tmp_path):
    server.faults.append(Fault(200, b"x" * 50_000, truncate_to=100, utility="esearch"))
    client = PubMed(settings_for(server, tmp_path, max_retries=0))
    with pytest.raises(FetchError, match="truncated"):
        client.esearch(TERM)
    assert client.esearch(TERM).count == len(index.articles)  # went to the network again
    assert len(server.calls("esearch")) == 2


def test_malformed_xml_with_full_length__raises_and_is_not_cached(server, index, tmp_path):
    good = index.efetch({"id": ",".join(sorted(index.articles))})[2]
    server.faults.append(Fault(200, good[: len(good) // 2], utility="efetch"))
    client = PubMed(settings_for(server, tmp_path))
    with pytest.raises(FetchError, match="truncated or malformed XML"):
        list(client.efetch_ids(sorted(index.articles)))
    bodies = list(client.efetch_ids(sorted(index.articles)))
    assert len(list(parse_pubmed_xml(bodies[0]))) == len(index.articles)
    assert len(server.calls("efetch")) == 2


def test_limiter__no_second_holds_more_than_3_starts_across_threads(server, index, tmp_path):
    client = PubMed(settings_for(server, tmp_path))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: client.esearch(f"{TERM} AND burst{n}"), range(10)))
    times = sorted(c.at for c in server.calls("esearch"))
    assert len(times) == 10
    # Any 4 consecutive starts span at least a second, so no 1-s window holds 4.
    spans = [b - a for a, b in zip(times, times[3:], strict=False)]
    assert min(spans) >= 1.0, spans
    assert times[2] - times[0] < 0.9  # a burst of 3 is not spaced out: only the 4th waits


def test_cache_hits_are_not_throttled(server, index, tmp_path):
    settings = settings_for(server, tmp_path)
    PubMed(settings).esearch(TERM)
    client = PubMed(settings)
    started = time.monotonic()
    for _ in range(10):
        client.esearch(TERM)
    assert time.monotonic() - started < 1 / 3
    assert client.stats.cache_hits == 10 and client.stats.network == 0


def test_offline_mode__answers_from_cache_and_names_the_misses(server, index, tmp_path):
    online = settings_for(server, tmp_path)
    PubMed(online).esearch(TERM)
    offline = PubMed(settings_for(server, tmp_path, offline=True))
    before = len(server.log)
    assert offline.esearch(TERM).count == len(index.articles)
    with pytest.raises(OfflineMiss, match="not in the cache") as err:
        offline.esearch('"never asked"[tiab]')
    assert "never+asked" in str(err.value) or "never%20asked" in str(err.value)
    assert offline.stats.offline_misses == [err.value.request]
    assert len(server.log) == before


def test_long_id_lists_go_through_epost(server, index, tmp_path):
    ids = sorted(index.articles)
    padded = ids + [str(10**8 + n) for n in range(400)]  # unknown PMIDs: PubMed skips them
    client = PubMed(settings_for(server, tmp_path))
    rows = [r for body in client.efetch_ids(padded, batch_size=500) for r in parse_pubmed_xml(body)]
    assert sorted(r["pmid"] for r in rows) == ids
    posts = server.calls("epost")
    assert len(posts) == 1 and posts[0].method == "POST"
    assert len(posts[0].params["id"].split(",")) == len(padded)


def test_short_id_lists_use_cached_get(server, index, tmp_path):
    settings = settings_for(server, tmp_path)
    list(PubMed(settings).efetch_ids(sorted(index.articles)))
    again = PubMed(settings)
    list(again.efetch_ids(sorted(index.articles)))
    assert server.calls("epost") == [] and again.stats.network == 0


def test_check_body__json_error_is_an_error():
    with pytest.raises(FetchError, match="Invalid API key"):
        check_body(b'{"error": "Invalid API key"}', "GET x")
    with pytest.raises(FetchError, match="empty"):
        check_body(b"", "GET x")


# -- complete topic pulls past PubMed's esearch cap -------------------------------------------
BIG = '"synthetic big"[tiab]'


@pytest.fixture
def big(index) -> list[tuple[str, str]]:
    hits = synthetic_hits(25_000, start=date(2001, 1, 1), days=3_000)  # to 2009/03
    index.add_search(BIG, hits)
    return hits


def test_search_ids__all_25000_pmids_in_near_the_fewest_requests(server, big, tmp_path):
    client = PubMed(settings_for(server, tmp_path, api_key="k"))  # 10/s: a quicker test
    result = client.search_ids(BIG, mindate="2001/01/01", maxdate="2009/12/31")
    assert result.count == 25_000 and len(result.ids) == 25_000
    assert set(result.ids) == {p for p, _ in big}
    calls = server.calls("esearch")
    assert all(int(c.params["retstart"]) < MAX_ESEARCH_IDS for c in calls)
    assert all(c.params["datetype"] == "edat" for c in calls)
    assert result.requests == len(calls) and result.min_requests == 3
    assert result.requests <= result.min_requests + 1, result.requests
    assert not any("incomplete" in w for w in result.warnings)


def test_search_ids__open_window_past_the_cap_is_complete(server, big, tmp_path):
    client = PubMed(settings_for(server, tmp_path, api_key="k"))
    result = client.search_ids(BIG)
    assert set(result.ids) == {p for p, _ in big} and len(result.ids) == 25_000
    # Open at the bottom, the windows start in 1700: localising 8 busy years in 3 empty
    # centuries costs about one window per level of splitting, never a re-asked window.
    assert result.requests <= result.min_requests + 10, result.requests
    asked = [(c.params.get("mindate"), c.params.get("maxdate")) for c in server.calls("esearch")]
    assert len(asked) == len(set(asked))


def test_fake_pubmed_refuses_retstart_past_its_cap_like_pubmed(server, big, tmp_path):
    client = PubMed(settings_for(server, tmp_path))
    with pytest.raises(FetchError, match="HTTP 400.*'retstart' cannot be larger than 9998"):
        client.esearch(BIG, retstart=MAX_ESEARCH_IDS, retmax=10)
    assert len(client.esearch(BIG, retmax=10_000).ids) == MAX_ESEARCH_IDS  # capped, whole


# -- re-checks and the cache format ----------------------------------------------------------
def test_fresh_efetch__asks_ncbi_and_stores_the_new_answer(server, index, tmp_path):
    settings = settings_for(server, tmp_path)
    ids = sorted(index.articles)
    old = b"".join(PubMed(settings).efetch_ids(ids))
    index.articles[ids[0]].find("MedlineCitation/Article/ArticleTitle").text = "Retracted: x"
    client = PubMed(settings)
    assert b"".join(client.efetch_ids(ids)) == old  # the cache answers a plain fetch
    new = b"".join(client.efetch_ids(ids, fresh=True))
    assert b"Retracted: x" in new and len(server.calls("efetch")) == 2
    assert client.stats.fresh_network == 1 and client.stats.as_dict()["fresh_network_requests"] == 1
    assert b"".join(client.efetch_ids(ids)) == new  # stored: the next plain fetch sees it
    assert len(server.calls("efetch")) == 2 and client.stats.cache_hits == 2


def test_fresh_efetch_offline__is_an_offline_miss(server, index, tmp_path):
    ids = sorted(index.articles)
    list(PubMed(settings_for(server, tmp_path)).efetch_ids(ids))
    offline = PubMed(settings_for(server, tmp_path, offline=True))
    before = len(server.log)
    assert list(offline.efetch_ids(ids))  # cached: fine offline
    with pytest.raises(OfflineMiss, match="not in the cache"):
        list(offline.efetch_ids(ids, fresh=True))
    assert len(server.log) == before and len(offline.stats.offline_misses) == 1


def test_cache_is_json_and_bodies_round_trip_bit_exactly(server, index, tmp_path):
    settings = settings_for(server, tmp_path)
    ids = sorted(index.articles)
    original = index.efetch({"id": ",".join(ids)})[2]
    assert b"".join(PubMed(settings).efetch_ids(ids)) == original
    again = PubMed(settings)
    assert b"".join(again.efetch_ids(ids)) == original and again.stats.cache_hits == 1
    with closing(sqlite3.connect(settings.cache_path)) as db:
        values = [row[0] for row in db.execute("SELECT value FROM responses")]
    assert len(values) == 1
    stored = json.loads(values[0])  # JSON, not a pickle: reading it runs no code
    assert base64.b64decode(stored["_content"]) == original


def test_a_cache_pickled_by_an_older_version__is_cleared_not_read(server, index, tmp_path, caplog):
    settings = settings_for(server, tmp_path)
    old = requests_cache.CachedSession(str(settings.cache_path), backend="sqlite")  # pickle
    old.get(f"{server.base_url}esearch.fcgi", params={"db": "pubmed", "term": TERM})
    old.close()
    with closing(sqlite3.connect(settings.cache_path)) as db:
        assert db.execute("SELECT substr(value, 1, 1) FROM responses").fetchone() == (b"\x80",)
    client = PubMed(settings)
    assert len(client.session.cache.responses) == 0
    assert client.esearch(TERM).count == len(index.articles) and client.stats.network == 1
    assert "deserialize" not in caplog.text
