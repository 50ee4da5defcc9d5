"""Editors file, password hashing, sign-in limiting (concurrency, memory bound, no lockout),
sessions across a reload, and the add-editor command."""

from __future__ import annotations

import io
import json
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evidence import add_editor as add_editor_cmd
from evidence import auth, sessions
from evidence.errors import ConfigError

PASSWORD = "correct horse battery"


def test_hash_is_salted_and_verifies_only_the_right_password() -> None:
    a, b = auth.hash_password(PASSWORD), auth.hash_password(PASSWORD)
    assert a != b and a.startswith("scrypt$") and PASSWORD not in a
    assert auth.verify_password(PASSWORD, a) and auth.verify_password(PASSWORD, b)
    assert not auth.verify_password(PASSWORD + "!", a)
    assert not auth.verify_password(PASSWORD, "scrypt$broken")
    assert not auth.verify_password(PASSWORD, "")


def test_editors_file_holds_hashes_only_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "editors.json"
    auth.add_editor(path, "alice", PASSWORD, "alice@clinic.example")
    auth.add_editor(path, "carol", None, "carol@clinic.example")
    text = path.read_text()
    assert PASSWORD not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    editors = auth.load_editors(path)
    assert set(editors) == {"alice", "carol"} and editors["carol"].password_hash == ""
    assert auth.verify_password(PASSWORD, editors["alice"].password_hash)
    with pytest.raises(ValueError, match="too short"):
        auth.add_editor(path, "dave", "short")
    with pytest.raises(ValueError, match="invalid editor name"):
        auth.add_editor(path, "bad name", PASSWORD)
    (tmp_path / "bad.json").write_text(json.dumps({"editors": ["x"]}))
    with pytest.raises(ConfigError, match="bad.json"):
        auth.load_editors(tmp_path / "bad.json")
    assert auth.load_editors(tmp_path / "missing.json") == {}


def _editors(tmp_path: Path) -> dict[str, auth.Editor]:
    path = tmp_path / "editors.json"
    auth.add_editor(path, "alice", PASSWORD)
    auth.add_editor(path, "carol", None, "carol@clinic.example")
    return auth.load_editors(path)


def test_sign_in_and_the_delay_after_failures(tmp_path: Path) -> None:
    editors = _editors(tmp_path)
    now = [1000.0]
    limiter = auth.SignInLimiter(free_failures=3, base_delay=10, clock=lambda: now[0])

    user = auth.sign_in(editors, "alice", PASSWORD, limiter)
    assert user == auth.User("alice", auth.EDITOR, "password") and user.can_edit
    with pytest.raises(auth.NotAllowed):
        auth.sign_in(editors, "carol", "", limiter)  # OIDC-only editors have no password
    with pytest.raises(auth.NotAllowed):
        auth.sign_in(editors, "nobody", PASSWORD, limiter)
    for _ in range(3):
        with pytest.raises(auth.NotAllowed, match="wrong user name or password"):
            auth.sign_in(editors, "alice", "wrong password!", limiter)
    with pytest.raises(auth.TooManyAttempts) as refused:
        auth.sign_in(editors, "alice", PASSWORD, limiter)  # even the right one, for now
    assert refused.value.retry_after == 10
    now[0] += 10
    with pytest.raises(auth.NotAllowed, match="wrong user name or password"):
        auth.sign_in(editors, "alice", "wrong password!", limiter)
    assert limiter.retry_after("client:local", "alice") == 20  # each failure doubles the wait
    now[0] += 20
    assert auth.sign_in(editors, "alice", PASSWORD, limiter).can_edit
    assert limiter.retry_after("client:local", "alice") == 0  # success forgets the failures


def test_parallel_attempts_cannot_race_past_the_limit(tmp_path: Path) -> None:
    editors = _editors(tmp_path)
    limiter = auth.SignInLimiter(free_failures=3, base_delay=3600)
    threads = 24
    start = threading.Barrier(threads)

    def attempt(_: int) -> str:
        start.wait()
        try:
            auth.sign_in(editors, "alice", "wrong password!", limiter, client="10.0.0.9")
        except auth.TooManyAttempts:
            return "refused"
        except auth.NotAllowed:
            return "checked"
        return "signed in"

    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(attempt, range(threads)))
    # every password check is counted before the next may start: at most the free failures
    # were checked, the rest refused unchecked (check-then-record would let all 24 through)
    assert 1 <= outcomes.count("checked") <= 3
    assert outcomes.count("refused") == threads - outcomes.count("checked")


def test_tracked_names_are_bounded_and_forgotten(tmp_path: Path) -> None:
    now = [0.0]
    limiter = auth.SignInLimiter(max_entries=50, forget_after=600, clock=lambda: now[0])
    for i in range(1000):  # a spray of names from many addresses
        limiter.begin(f"client:10.0.{i // 250}.{i % 250}", f"name{i}")
        limiter.end(f"client:10.0.{i // 250}.{i % 250}", f"name{i}", ok=False)
        limiter.trust(f"name{i}", f"device-{i}")
    assert len(limiter) <= 2 * 50
    now[0] += 601
    limiter.begin("client:local", "alice")  # any attempt forgets what has been idle too long
    limiter.end("client:local", "alice", ok=True)
    assert limiter.retry_after("client:10.0.3.249", "name999") == 0
    assert len(limiter) == 50  # only the trusted devices (kept for 30 days) remain


def test_a_guesser_elsewhere_never_locks_the_editor_out(tmp_path: Path) -> None:
    editors = _editors(tmp_path)
    limiter = auth.SignInLimiter(free_failures=3, base_delay=3600)
    for _ in range(3):
        with pytest.raises(auth.NotAllowed):
            auth.sign_in(editors, "alice", "guess guess!", limiter, client="203.0.113.7")
    with pytest.raises(auth.TooManyAttempts):
        auth.sign_in(editors, "alice", "guess guess!", limiter, client="203.0.113.7")
    # alice, from her own address, is not slowed by the guesser
    assert auth.sign_in(editors, "alice", PASSWORD, limiter, client="192.0.2.10").can_edit


def test_a_guesser_behind_the_same_address_never_locks_the_editors_browser_out(
    tmp_path: Path,
) -> None:
    editors = _editors(tmp_path)
    limiter = auth.SignInLimiter(free_failures=3, base_delay=3600)
    proxy = "127.0.0.1"  # behind a reverse proxy every browser has the proxy's address
    assert auth.sign_in(editors, "alice", PASSWORD, limiter, client=proxy, device="alices-laptop")
    for _ in range(3):
        with pytest.raises(auth.NotAllowed):
            auth.sign_in(editors, "alice", "guess guess!", limiter, client=proxy, device="x")
    with pytest.raises(auth.TooManyAttempts):
        auth.sign_in(editors, "alice", PASSWORD, limiter, client=proxy, device="another")
    # the browser alice signed in from before has its own count: her password still works
    user = auth.sign_in(editors, "alice", PASSWORD, limiter, client=proxy, device="alices-laptop")
    assert user.can_edit
    # a device trusted for alice is not trusted for another name
    assert limiter.client_for("bob", proxy, "alices-laptop") == f"client:{proxy}"


def test_a_session_survives_a_reload_until_it_expires_or_is_revoked(tmp_path: Path) -> None:
    editors = _editors(tmp_path)
    now = [0.0]
    table = sessions.SessionTable(ttl=3600, max_sessions=3, clock=lambda: now[0])
    alice = auth.User("alice", auth.EDITOR, "password")
    token = table.issue(alice)
    assert sessions.well_formed(token) and token not in repr(table._live)
    assert table.user(token, editors) == alice  # a reload sends the cookie back
    assert table.user(token + "x", editors) is None
    assert table.user("'; drop", editors) is None
    with pytest.raises(ValueError):
        table.issue(auth.User("bob"))  # a viewer has nothing to remember
    assert table.user(token, {}) is None  # no longer an editor
    table.revoke(token)
    assert table.user(token, editors) is None
    late = table.issue(alice)
    now[0] += 3601
    assert table.user(late, editors) is None  # expired
    for _ in range(10):
        table.issue(alice)
    assert len(table) == 3  # bounded


def test_cookie_scripts_write_only_tokens() -> None:
    token = sessions.new_token()
    script = sessions.cookie_script(sessions.SESSION_COOKIE, token, 60)
    assert f"evidence_session={token}; Max-Age=60; Path=/; SameSite=Strict" in script
    assert "Max-Age=0" in sessions.cookie_script(sessions.SESSION_COOKIE, None, 60)
    with pytest.raises(ValueError):
        sessions.cookie_script(sessions.SESSION_COOKIE, "x'; alert(1); '", 60)


def test_viewers_are_refused_writes() -> None:
    with pytest.raises(auth.NotAllowed, match="viewer"):
        auth.require_editor(auth.User("bob"))
    assert auth.require_editor(auth.User("alice", auth.EDITOR)) == "alice"


def test_oidc_users_are_editors_only_when_listed() -> None:
    editors = {"carol": auth.Editor("carol", "", "Carol@Clinic.example")}
    assert auth.oidc_user(editors, "carol@clinic.example").can_edit
    assert not auth.oidc_user(editors, "eve@elsewhere.example").can_edit
    assert auth.oidc_configured({"auth": {"redirect_uri": "x"}})
    assert not auth.oidc_configured({})


def test_add_editor_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert add_editor_cmd.main(["alice", "--data-dir", str(tmp_path), "--password-stdin"]) == 0
    editors = auth.load_editors(tmp_path / "editors.json")
    assert auth.verify_password(PASSWORD, editors["alice"].password_hash)
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert add_editor_cmd.main(["bob", "--data-dir", str(tmp_path), "--password-stdin"]) == 2
    assert "too short" in capsys.readouterr().err
    assert (
        add_editor_cmd.main(
            ["carol", "--data-dir", str(tmp_path), "--oidc-only", "--email", "carol@clinic.example"]
        )
        == 0
    )
    assert auth.load_editors(tmp_path / "editors.json")["carol"].email == "carol@clinic.example"


def test_the_password_never_stays_in_the_session_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.dashboard_store import EDITOR, EDITOR_PASSWORD, make_data_dir

    monkeypatch.setenv("EVIDENCE_DATA_DIR", str(make_data_dir(tmp_path, synthetic=False)))
    app = str(Path(__file__).resolve().parent.parent / "dashboards" / "app.py")
    at = AppTest.from_file(app, default_timeout=60)
    at.run()
    for password, signed_in in (("wrong password!", False), (EDITOR_PASSWORD, True)):
        at.sidebar.text_input(key="sign_in_name").input(EDITOR)
        at.sidebar.text_input(key="sign_in_password").input(password)
        at.sidebar.button[0].click()
        at.run()
        assert not at.exception
        state = at.session_state.to_dict()
        assert password not in repr(state)
        assert state.get("sign_in_password", "") == ""
        assert at.session_state.get("user", auth.ANONYMOUS).can_edit is signed_in
        if not signed_in:
            assert [e.value for e in at.sidebar.error] == ["wrong user name or password"]
            assert at.sidebar.text_input(key="sign_in_password").value == ""
    assert any(c.value.startswith("Signed in as alice") for c in at.sidebar.caption)
