"""Editors file, password hashing, sign-in rate limiting and the add-editor command."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest

from evidence import add_editor as add_editor_cmd
from evidence import auth
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


def test_sign_in_and_rate_limit(tmp_path: Path) -> None:
    path = tmp_path / "editors.json"
    auth.add_editor(path, "alice", PASSWORD)
    auth.add_editor(path, "carol", None, "carol@clinic.example")
    editors = auth.load_editors(path)
    now = [1000.0]
    limiter = auth.RateLimiter(max_failures=3, window=60, clock=lambda: now[0])

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
    assert 0 < refused.value.retry_after <= 60
    now[0] += 61
    assert auth.sign_in(editors, "alice", PASSWORD, limiter).can_edit


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
