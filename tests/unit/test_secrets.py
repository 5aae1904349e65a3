"""The secrets file that holds the cookie key (issue 5 point 14): private from its first byte, and
other tables in it, such as Streamlit's own `[auth]` of st.login, kept as they are."""
from __future__ import annotations

import os
import stat
import tomllib

import pytest

from core import config
from core.errors import CRMError

STREAMLIT_LOGIN = """# Streamlit's st.login settings
[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "a-secret-of-st-login"

[auth.google]
client_id = "1234.apps.googleusercontent.com"
client_secret = "g-secret"
server_metadata_url = "https://accounts.google.com/.well-known/openid-configuration"

[smtp]
host = "mail.example.cn"
"""


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_secrets_file_is_private_from_its_first_byte(tmp_path, monkeypatch, umask_022):
    """Created with mode 600 (never chmod-ed after): at the moment its content is flushed to disk, every
    file in the folder is already readable by its owner only."""
    def no_chmod(*_a, **_k):
        raise AssertionError("the mode must be given when the file is created, not changed after")

    seen = []
    real_fsync = os.fsync

    def fsync(fd):
        seen.extend((p.name, mode(p), p.stat().st_size) for p in tmp_path.iterdir())
        return real_fsync(fd)

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "secrets.toml"
    key = config.cookie_key(path)
    assert seen and all(m == 0o600 for _n, m, _s in seen) and any(s > 0 for _n, _m, s in seen)
    assert mode(path) == 0o600 and [p.name for p in tmp_path.iterdir()] == ["secrets.toml"]
    assert tomllib.loads(path.read_text())["crm"]["cookie_key"] == key and len(key) >= 32


def test_an_existing_auth_table_of_streamlit_login_is_kept_and_not_duplicated(tmp_path, umask_022):
    path = tmp_path / "secrets.toml"
    path.write_text(STREAMLIT_LOGIN, encoding="utf-8")
    path.chmod(0o644)
    key = config.cookie_key(path)
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)  # before: a second [auth] table, and every later start failed here
    assert data["crm"]["cookie_key"] == key
    assert {k: v for k, v in data.items() if k != "crm"} == tomllib.loads(STREAMLIT_LOGIN)
    assert text.startswith(STREAMLIT_LOGIN) and text.count("[auth]") == 1
    assert mode(path) == 0o600
    # the next start reads the same key and leaves the file alone
    assert config.cookie_key(path) == key and path.read_text(encoding="utf-8") == text


def test_our_table_is_updated_in_place_when_its_key_is_missing_or_too_short(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text('top = 1\n\n[crm]   # ours\ncookie_key = "short"\nnote = "kept"\n\n[auth]\nredirect_uri = "x"\n',
                    encoding="utf-8")
    key = config.cookie_key(path)
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert data == {"top": 1, "crm": {"cookie_key": key, "note": "kept"}, "auth": {"redirect_uri": "x"}}
    assert text.count("[crm]") == 1 and text.count("cookie_key") == 1


def test_an_install_with_the_key_under_auth_keeps_it_without_a_rewrite(tmp_path):
    old = STREAMLIT_LOGIN.replace('cookie_secret = "a-secret-of-st-login"\n',
                                  'cookie_secret = "a-secret-of-st-login"\ncookie_key = "' + "k" * 64 + '"\n')
    path = tmp_path / "secrets.toml"
    path.write_text(old, encoding="utf-8")
    assert config.cookie_key(path) == "k" * 64
    assert path.read_text(encoding="utf-8") == old


def test_a_file_broken_by_the_appended_second_auth_table_is_mended(tmp_path):
    path = tmp_path / "secrets.toml"
    broken = STREAMLIT_LOGIN + '\n[auth]\ncookie_key = "' + "b" * 64 + '"\n'  # what versions before issue 5 wrote
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(broken)
    assert config.cookie_key(path) == "b" * 64  # cookies signed with it stay signed by this server
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["crm"]["cookie_key"] == "b" * 64
    assert {k: v for k, v in data.items() if k != "crm"} == tomllib.loads(STREAMLIT_LOGIN)


def test_a_file_that_does_not_parse_is_left_alone_with_a_clear_error(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text("[auth\nredirect_uri = \n", encoding="utf-8")
    with pytest.raises(CRMError) as err:
        config.cookie_key(path)
    assert err.value.key == "error.secrets_invalid" and str(path) in err.value.params["path"]
    assert path.read_text(encoding="utf-8") == "[auth\nredirect_uri = \n"
