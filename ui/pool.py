"""What the shared-pool screens (views/pool.py, views/pool_dashboard.py, My day) say about a move, a
refusal or a reclaim: reason codes from core in the user's words. Labels are made here, in the run
(t() inside polars' map_elements runs on other threads, without the session, and reads English)."""
from __future__ import annotations

import json

import polars as pl

from core.i18n import catalogue, translate
from ui.i18n import lang, t

# every code core gives a name to (catalogue keys pool.reason.<code>): why a record moved, why a reclaim
# takes it, why a claim was refused, why a rep was skipped or a record left in the pool
REASON_PREFIX = "pool.reason."


def plain(key: str, **params) -> str:
    """Text for select options and chart labels (plain text, nothing escaped)."""
    return translate(lang(), key, **params)


def reason(code, kind: str | None = None) -> str:
    """A reason code as the user reads it: `kind` names the family core gives it (refused: a claim,
    release or lock not done; left: a record a split left in the pool; skip: a rep a split skipped), else
    why a record moved (pool.reason.<code>). A code without a name shows as it is (never a key)."""
    if code is None or code == "":
        return "—"
    code = str(code)
    if code.startswith("rep_"):  # the assignment log counts skipped reps as rep_<why>
        code, kind = code[4:], "skip"
    families = [kind] if kind else []
    for key in [f"pool.{f}.{code}" for f in families] + [REASON_PREFIX + code] + [
            f"pool.{f}.{code}" for f in ("left", "skip", "refused") if f not in families]:
        if key in catalogue("en"):
            return plain(key)
    return str(code)


def reasons_text(counts, kind: str | None = None) -> str:
    """{reason: n} (or its JSON) as "no follow-up 3 · cap reached 1"."""
    if isinstance(counts, str):
        try:
            counts = json.loads(counts)
        except ValueError:
            return counts
    if not counts or not isinstance(counts, dict):
        return ""
    return " · ".join(f"{reason(k, kind)}: {v}" for k, v in sorted(counts.items(),
                                                                  key=lambda kv: (-_int(kv[1]), str(kv[0]))))


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def source_text(source, team_names: dict) -> str:
    """Where an assignment run took its records from, in words: a selection, an import, a pool, the
    schedule, a manual run."""
    if not source:
        return "—"
    kind, _, ref = str(source).partition(":")
    if kind == "pool" and ref.isdigit():
        return plain("pool_ui.source_pool", name=team_names.get(int(ref), ref))
    if kind == "import" and ref:
        return plain("pool_ui.source_import", id=ref)
    key = f"pool_ui.source_{kind}"
    return plain(key) if key in catalogue("en") else str(source)


def with_reason(df: pl.DataFrame, column: str, into: str | None = None) -> pl.DataFrame:
    """The frame with the codes of `column` replaced (or added as `into`) by their names."""
    if column not in df.columns:
        return df
    codes = [c for c in df[column].unique().to_list()]
    names = {c: reason(c) for c in codes if c is not None}
    return df.with_columns(pl.col(column).cast(pl.String).replace_strict(
        {str(k): v for k, v in names.items()}, default=pl.col(column).cast(pl.String), return_dtype=pl.String)
        .alias(into or column))


def _named(names: dict, key) -> str:
    try:
        return names.get(int(key), str(key))
    except (TypeError, ValueError):
        return names.get(key, str(key))


def counts_frame(counts: dict, names: dict | None = None, key_col: str = "what", n_col: str = "n",
                 kind: str | None = None) -> pl.DataFrame:
    """{code or user id: n} as a two-column frame for tables.show, biggest first."""
    rows = sorted((counts or {}).items(), key=lambda kv: (-_int(kv[1]), str(kv[0])))
    label = (lambda k: _named(names, k)) if names is not None else (lambda k: reason(k, kind))
    return pl.DataFrame({key_col: [label(k) for k, _v in rows], n_col: [_int(v) for _k, v in rows]},
                        schema={key_col: pl.String, n_col: pl.Int64})


def refused_text(refused: dict, rules: dict | None = None) -> str:
    """Why records were refused, each reason with its count and, where known, the rule's figure."""
    if not refused:
        return ""
    rules = rules or {}
    parts = []
    for code, n in sorted(refused.items(), key=lambda kv: -_int(kv[1])):
        key = f"pool_ui.refused_{code}"
        if key in catalogue("en"):
            parts.append(t(key, n=n, cap=rules.get("daily_claim_cap", "—"), days=rules.get("reclaim_wait_days", "—"),
                           hours=rules.get("claim_cooldown_hours", "—")))
        else:
            parts.append(f"{reason(code, 'refused')}: {n}")
    return "\n".join(f"- {p}" for p in parts)


__all__ = ["plain", "reason", "reasons_text", "with_reason", "counts_frame", "refused_text"]
