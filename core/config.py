"""Where things live. Environment variables override the defaults (tests point them at tmp dirs)."""
from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def db_path() -> Path:
    return Path(os.environ.get("CRM_DB", ROOT / "data" / "crm.duckdb"))


def secrets_path() -> Path:
    return Path(os.environ.get("CRM_SECRETS", ROOT / ".streamlit" / "secrets.toml"))


def demo_scale() -> str:
    return os.environ.get("CRM_DEMO_SCALE", "S")


def cookie_key(path: Path | None = None) -> str:
    """The random key that signs login cookies: generated once at first start into the git-ignored
    secrets file, never a default."""
    path = path or secrets_path()
    if path.exists():
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        key = data.get("auth", {}).get("cookie_key")
        if key and len(key) >= 32:
            return key
        text = path.read_text(encoding="utf-8")
    else:
        text = ""
    key = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text.rstrip() + ("\n\n" if text.strip() else "") + f'[auth]\ncookie_key = "{key}"\n')
    os.chmod(path, 0o600)
    return key
