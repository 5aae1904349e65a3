"""Where things live. Environment variables override the defaults (tests point them at tmp dirs)."""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import tomllib
from pathlib import Path

from core.errors import CRMError

ROOT = Path(__file__).resolve().parent.parent


def db_path() -> Path:
    return Path(os.environ.get("CRM_DB", ROOT / "data" / "crm.duckdb"))


def secrets_path() -> Path:
    return Path(os.environ.get("CRM_SECRETS", ROOT / ".streamlit" / "secrets.toml"))


def demo_scale() -> str:
    return os.environ.get("CRM_DEMO_SCALE", "S")


# Our table in the secrets file. Streamlit's own `st.login` reads `[auth]`, so the key lives in a
# table of ours; versions before issue 5 wrote `[auth] cookie_key`, which is still read (nothing is
# rewritten for it), and a file broken by their appending a second `[auth]` table is mended.
KEY_TABLE = "crm"
LEGACY_TABLE = "auth"
_MIN_KEY = 32
_HEADER = re.compile(r"^[ \t]*\[[ \t]*" + KEY_TABLE + r"[ \t]*\][ \t]*(?:#.*)?$", re.M)
_ANY_HEADER = re.compile(r"^[ \t]*\[", re.M)
_KEY_LINE = re.compile(r"^[ \t]*cookie_key[ \t]*=.*(?:\n|\Z)", re.M)
# what versions before issue 5 appended to an existing file (a second [auth] table when one existed)
_APPENDED = re.compile(r"\n*^\[auth\]\ncookie_key = \"([A-Za-z0-9_-]{32,})\"\n?\Z", re.M)


def cookie_key(path: Path | None = None) -> str:
    """The random key that signs login cookies: generated once at first start into the git-ignored
    secrets file (kept under `[crm]`, other tables untouched), never a default."""
    path = Path(path) if path else secrets_path()
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    text, data, salvaged = _load(text, path)
    ours, legacy = _usable(data.get(KEY_TABLE)), _usable(data.get(LEGACY_TABLE))
    key = ours or legacy or salvaged
    if key and not salvaged:
        return key
    key = key or secrets.token_urlsafe(48)
    if key not in (ours, legacy):
        text = _with_key(text, key)
        _check(text, data, key, path)
    _write_private(path, text)
    return key


def _usable(table: object) -> str | None:
    key = table.get("cookie_key") if isinstance(table, dict) else None
    return key if isinstance(key, str) and len(key) >= _MIN_KEY else None


def _load(text: str, path: Path) -> tuple[str, dict, str | None]:
    """The file's text and tables. A file that does not parse only because an earlier version appended
    a second `[auth]` table holding its key is mended: (text without it, tables, that key)."""
    try:
        return text, tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        found = _APPENDED.search(text)
        if found:
            mended = text[: found.start()] + "\n"
            try:
                return mended, tomllib.loads(mended), found.group(1)
            except tomllib.TOMLDecodeError:
                pass
        raise CRMError("error.secrets_invalid", path=str(path), reason=str(exc)) from None


def _with_key(text: str, key: str) -> str:
    """`text` with `cookie_key = key` in our table: set in place when the table exists, else the table
    appended."""
    line = f'cookie_key = "{key}"\n'
    header = _HEADER.search(text)
    if header is None:
        return (text.rstrip("\n") + "\n\n" if text.strip() else "") + f"[{KEY_TABLE}]\n{line}"
    start = header.end()
    if start == len(text):
        text += "\n"
    start += 1
    following = _ANY_HEADER.search(text, start)
    end = following.start() if following else len(text)
    return text[:start] + line + _KEY_LINE.sub("", text[start:end]) + text[end:]


def _without_key(data: dict) -> dict:
    out = dict(data)
    ours = {k: v for k, v in (out.pop(KEY_TABLE, None) or {}).items() if k != "cookie_key"}
    if ours:
        out[KEY_TABLE] = ours
    return out


def _check(text: str, before: dict, key: str, path: Path) -> None:
    """The new text parses, holds the key, and keeps everything else as it was."""
    try:
        after = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CRMError("error.secrets_invalid", path=str(path), reason=str(exc)) from None
    if _usable(after.get(KEY_TABLE)) != key or _without_key(after) != _without_key(before):
        raise CRMError("error.secrets_invalid", path=str(path), reason=f"[{KEY_TABLE}] cookie_key")


def _write_private(path: Path, text: str) -> None:
    """Write the file readable by its owner only from its first byte (created with mode 600, never
    chmod-ed after), in one step: a new file beside it replaces it, so a crash leaves the old one."""
    target = path.resolve() if path.is_symlink() else path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
