"""The E-utilities client against a real HTTP server on 127.0.0.1 serving recorded answers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from evidence.errors import FetchError, OfflineMiss
from evidence.pubmed import PubMed, check_body, parse_esearch
from evidence.records import parse_pubmed_xml
from evidence.settings import Settings, load_settings
from tests.fake_eutils import FakeEutils, Fault, PubMedIndex, articles_from

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
    result = PubMed(settings_for(server, tmp_path)).esearch("cancer", mindate="2025/01/01")
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


def test_paging_stops_where_pubmed_stops_serving(server, index, tmp_path, monkeypatch):
    monkeypatch.setattr("evidence.pubmed.MAX_ESEARCH_IDS", 4)
    result = PubMed(settings_for(server, tmp_path)).search_ids(TERM, page_size=3)
    assert result.count == len(index.articles) and result.ids == sorted(index.articles)[:4]
    assert any("truncated" in w for w in result.warnings)


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


def test_limiter__keeps_a_burst_at_or_under_3_per_second(server, index, tmp_path):
    client = PubMed(settings_for(server, tmp_path))
    for n in range(7):
        client.esearch(f"{TERM} AND burst{n}")
    times = [c.at for c in server.calls("esearch")]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 1 / 3 - 0.02, gaps
    assert (len(times) - 1) / (times[-1] - times[0]) <= 3.05


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
