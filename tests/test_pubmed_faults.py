"""Faults of the HTTP layer against the real loopback server: each ends in the right error (or,
for an efetch answer lacking records, the body returned), nothing bad is cached, no message
carries a credential, and hangs and trickles end within a bound set by the timeouts."""

from __future__ import annotations

import time
from urllib.parse import quote, quote_plus

import pytest

from evidence.errors import ConfigError, FetchError
from evidence.pubmed import DeadlineExceeded, PubMed, redact
from evidence.records import ParseStats, parse_pubmed_xml
from evidence.settings import Settings, load_settings, replace
from tests.fake_eutils import (
    XML,
    FakeEutils,
    Fault,
    PubMedIndex,
    articles_from,
    bad_id,
    drop_article,
    echo_request,
    empty_article_set,
    hang,
    html_page,
    reset,
    short_idlist,
    strip_pmid,
    trickle,
)

TERM = '"synthetic"[tiab]'
API_KEY = "0123456789abcdef-SECRET"
EMAIL = "it+tracker@clinic.example"
ATTEMPTS = 2  # max_retries=1
TOTAL = 1.0  # seconds per attempt in all (total_timeout)
# Generous: a loaded 2-core machine may be slow, but a hang must never last.
BOUND = 3 * ATTEMPTS * TOTAL


@pytest.fixture
def server():
    with FakeEutils() as srv:
        yield srv


@pytest.fixture
def index(server, eutils_dir) -> PubMedIndex:
    idx = PubMedIndex(articles_from(sorted(eutils_dir.glob("pubmed*.xml")))).install(server)
    idx.add_search(TERM, sorted(idx.articles))
    return idx


@pytest.fixture
def settings(server, tmp_path) -> Settings:
    return load_settings(
        {
            "data_dir": tmp_path,
            "base_url": server.base_url,
            "email": EMAIL,
            "api_key": API_KEY,
            "backoff_factor": 0.01,
            "backoff_max": 0.05,
            "max_retries": ATTEMPTS - 1,
            "connect_timeout": 0.5,
            "timeout": 0.5,
            "total_timeout": TOTAL,
        },
        env={},
    )


def cached(client: PubMed) -> int:
    return len(client.session.cache.responses)


def assert_no_secrets(text: str) -> None:
    for secret in (API_KEY, EMAIL):
        for form in (secret, quote(secret, safe=""), quote_plus(secret)):
            assert form.lower() not in text.lower(), text


def assert_healthy_rerun(client: PubMed, server: FakeEutils, index: PubMedIndex) -> None:
    """After a bad answer, the same request goes to the network and is then cached."""
    before = len(server.log)
    assert client.esearch(TERM).count == len(index.articles)
    assert len(server.log) == before + 1 and cached(client) == 1


# -- transport: hang, trickle, reset -----------------------------------------------------------
def test_hang__times_out_retries_and_names_the_request(server, index, settings):
    server.faults.extend(hang("esearch") for _ in range(ATTEMPTS))
    client = PubMed(settings)
    started = time.monotonic()
    with pytest.raises(FetchError) as err:
        client.esearch(TERM)
    assert time.monotonic() - started < BOUND
    message = str(err.value)
    assert "esearch.fcgi" in message and f"gave up after {ATTEMPTS} attempts" in message
    assert "timed out" in message.lower() or "no complete answer" in message
    assert_no_secrets(message)
    assert len(server.calls("esearch")) == ATTEMPTS and client.stats.retries == ATTEMPTS - 1
    assert cached(client) == 0
    assert_healthy_rerun(client, server, index)


def test_trickle__the_total_bound_cuts_a_slow_answer(server, index, settings):
    # One byte every 0.05 s keeps every read under the 0.5 s read timeout, forever.
    server.faults.extend(trickle("efetch", interval=0.05) for _ in range(ATTEMPTS))
    client = PubMed(settings)
    started = time.monotonic()
    with pytest.raises(FetchError, match=f"no complete answer within {TOTAL:g} s") as err:
        list(client.efetch_ids(sorted(index.articles)))
    assert time.monotonic() - started < BOUND
    assert_no_secrets(str(err.value))
    assert cached(client) == 0
    bodies = list(client.efetch_ids(sorted(index.articles)))  # healthy: network, then cached
    assert len(list(parse_pubmed_xml(bodies[0]))) == len(index.articles) and cached(client) == 1


def test_trickle_within_the_bound__is_a_normal_answer(server, index, settings):
    server.faults.append(trickle("esearch", interval=0.001))
    # ~600 bytes at 1 ms each, slower on a loaded machine: a total bound with room to spare.
    client = PubMed(replace(settings, total_timeout=30))
    assert client.esearch(TERM).count == len(index.articles)
    assert client.stats.retries == 0 and cached(client) == 1


def test_connection_reset__is_retried(server, index, settings):
    server.faults.append(reset("esearch"))
    client = PubMed(settings)
    assert client.esearch(TERM).count == len(index.articles)
    assert client.stats.retries == 1 and len(server.calls("esearch")) == 2
    server.faults.extend(reset("esearch") for _ in range(ATTEMPTS))
    with pytest.raises(FetchError, match="ConnectionError") as err:
        client.esearch(f"{TERM} AND other")
    assert_no_secrets(str(err.value))
    assert cached(client) == 1  # only the healthy answer


# -- bodies: wrong type, wrong root, short, malformed ------------------------------------------
def _call(client: PubMed, utility: str, index: PubMedIndex) -> object:
    if utility == "esearch":
        return client.esearch(TERM)
    if utility == "epost":
        return client.epost(sorted(index.articles))
    return list(client.efetch_ids(sorted(index.articles)))


@pytest.mark.parametrize("utility", ["esearch", "efetch", "epost"])
def test_html_with_status_200__is_an_error_and_not_cached(server, index, settings, utility):
    server.faults.append(html_page(utility))
    client = PubMed(settings)
    with pytest.raises(FetchError, match="expected XML, got text/html") as err:
        _call(client, utility, index)
    assert_no_secrets(str(err.value))
    assert cached(client) == 0
    _call(client, utility, index)  # the healthy answer is asked again
    assert len(server.calls(utility)) == 2


@pytest.mark.parametrize(
    ("utility", "body"),
    [
        ("esearch", b"<ePostResult><QueryKey>1</QueryKey><WebEnv>W</WebEnv></ePostResult>"),
        ("efetch", b"<eSearchResult><Count>1</Count><IdList><Id>1</Id></IdList></eSearchResult>"),
        ("epost", b"<PubmedArticleSet></PubmedArticleSet>"),
    ],
)
def test_xml_with_the_wrong_root__is_an_error(server, index, settings, utility, body):
    server.faults.append(Fault(200, body, dict(XML), utility=utility))
    client = PubMed(settings)
    with pytest.raises(FetchError, match="expected <"):
        _call(client, utility, index)
    assert cached(client) == 0


def test_html_served_as_xml__is_an_error(server, index, settings):
    page = b"<html><body>Service unavailable</body></html>"
    server.faults.append(Fault(200, page, dict(XML), utility="esearch"))
    client = PubMed(settings)
    with pytest.raises(FetchError, match="HTML page"):
        client.esearch(TERM)
    assert cached(client) == 0


def test_empty_article_set_from_the_history_server__is_an_error(server, index, settings):
    server.faults.extend(empty_article_set() for _ in range(ATTEMPTS))
    client = PubMed(settings)
    result = client.esearch(TERM)
    with pytest.raises(FetchError, match="empty <PubmedArticleSet/> where 3 records"):
        list(client.efetch_history(result.webenv, result.query_key, result.count, 3))
    assert len(server.calls("efetch")) == ATTEMPTS
    assert cached(client) == 1  # the esearch answer only


def test_empty_article_set_for_ids__is_returned_not_cached(server, index, settings):
    # PubMed's own answer for PMIDs it does not have: the caller names them all as missing.
    server.faults.append(empty_article_set())
    client = PubMed(settings)
    bodies = list(client.efetch_ids(sorted(index.articles)))
    assert list(parse_pubmed_xml(bodies[0])) == [] and cached(client) == 0
    list(client.efetch_ids(sorted(index.articles)))
    assert len(server.calls("efetch")) == 2 and cached(client) == 1


def test_efetch_missing_a_pmid__returned_for_the_caller_but_not_cached(server, index, settings):
    pmids = sorted(index.articles)
    server.faults.append(drop_article(pmids[0]))
    client = PubMed(settings)
    body = b"".join(client.efetch_ids(pmids))
    returned = {r["pmid"] for r in parse_pubmed_xml(body)}
    assert set(pmids) - returned == {pmids[0]}  # the caller can name the missing PMID
    assert cached(client) == 0
    again = b"".join(client.efetch_ids(pmids))  # the network again, complete this time
    assert {r["pmid"] for r in parse_pubmed_xml(again)} == set(pmids)
    assert len(server.calls("efetch")) == 2 and cached(client) == 1
    b"".join(client.efetch_ids(pmids))
    assert len(server.calls("efetch")) == 2 and client.stats.cache_hits == 1


def test_article_without_a_pmid__returned_but_not_cached(server, index, settings):
    server.faults.append(strip_pmid())
    client = PubMed(settings)
    stats = ParseStats()
    rows = [
        r
        for b in client.efetch_ids(sorted(index.articles))
        for r in parse_pubmed_xml(b, stats=stats)
    ]
    assert len(rows) == len(index.articles) - 1 and stats.skipped == 1
    assert cached(client) == 0


def test_esearch_count_larger_than_its_ids__is_retried_then_an_error(server, index, settings):
    server.faults.append(short_idlist())
    client = PubMed(settings)
    assert client.esearch(TERM).ids == sorted(index.articles)  # retried: the second was whole
    assert client.stats.retries == 1
    server.faults.extend(short_idlist() for _ in range(ATTEMPTS))
    with pytest.raises(FetchError, match="lists 4 PMIDs where 5 were due") as err:
        client.esearch(TERM, retmax=5)  # a page of 5: 4 listed
    assert_no_secrets(str(err.value))
    assert cached(client) == 1  # only the whole answer


def test_esearch_id_that_is_not_a_pmid__is_an_error_naming_it(server, index, settings):
    server.faults.append(bad_id("12a"))
    client = PubMed(settings)
    with pytest.raises(FetchError, match="malformed PMID '12a'"):
        client.search_ids(TERM)
    assert cached(client) == 0
    assert_healthy_rerun(client, server, index)


# -- secrets ---------------------------------------------------------------------------------
def test_4xx_page_echoing_the_request__leaves_no_credential_in_the_message(server, index, settings):
    server.faults.append(echo_request(400, "esearch"))
    client = PubMed(settings)
    with pytest.raises(FetchError, match="HTTP 400") as err:
        client.esearch(TERM)
    message = str(err.value)
    assert "Your request" in message and "api_key=***" in message
    assert_no_secrets(message)
    assert_no_secrets(repr(err.value.__cause__) + repr(err.value.__context__))
    assert len(server.calls("esearch")) == 1  # a 4xx is not retried


def test_redact__raw_encoded_and_parameter_forms(settings):
    text = (
        f"key {API_KEY} {API_KEY.upper()} mail {EMAIL} {quote(EMAIL, safe='')} "
        f"{quote_plus(EMAIL).lower()} ?api_key=partial-0123&email=someone%40else"
    )
    clean = redact(text, settings)
    assert_no_secrets(clean)
    assert "partial-0123" not in clean and "someone" not in clean
    assert redact("nothing to hide", settings) == "nothing to hide"


def test_the_cache_keeps_no_credentials(server, index, settings):
    client = PubMed(settings)
    client.esearch(TERM)
    list(client.efetch_ids(sorted(index.articles)))
    client.session.close()
    raw = settings.cache_path.read_bytes()
    for secret in (API_KEY, EMAIL, quote_plus(EMAIL)):
        assert secret.encode() not in raw


# -- the run deadline ------------------------------------------------------------------------
def test_past_the_deadline__no_request_starts(server, index, settings):
    client = PubMed(settings, deadline=time.monotonic() - 1)
    with pytest.raises(DeadlineExceeded, match="run deadline reached: not starting") as err:
        client.esearch(TERM)
    assert isinstance(err.value, FetchError) and server.log == []
    assert_no_secrets(str(err.value))


def test_retry_after_past_the_deadline__is_not_waited_for(server, index, settings):
    server.faults.append(Fault(429, b"slow down", {"Retry-After": "30"}))
    client = PubMed(settings, deadline=time.monotonic() + 5)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="not waiting 30.0 s to retry"):
        client.esearch(TERM)
    assert time.monotonic() - started < 3 and len(server.log) == 1


def test_a_hang_is_cut_at_the_deadline(server, index, tmp_path):
    slow = load_settings(
        {"data_dir": tmp_path, "base_url": server.base_url, "timeout": 30, "total_timeout": 60},
        env={},
    )
    server.faults.append(hang("esearch"))
    client = PubMed(slow, deadline=time.monotonic() + 1)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        client.esearch(TERM)
    assert time.monotonic() - started < 3 * 1.0 and len(server.log) == 1


def test_default_deadline_comes_from_settings(server, settings):
    before = time.monotonic()
    client = PubMed(settings)
    assert before + 120 * 60 <= client.deadline <= time.monotonic() + 120 * 60


@pytest.mark.parametrize(
    "name", ["connect_timeout", "timeout", "total_timeout", "run_deadline_minutes"]
)
@pytest.mark.parametrize("value", [0, -1, "nan"])
def test_time_limits_must_be_positive(name, value):
    with pytest.raises(ConfigError, match=f"invalid setting '{name}': must be greater than 0"):
        load_settings({name: value}, env={})
