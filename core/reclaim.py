"""Reclaim (回收): customers not followed up in time go back to their team's shared pool.

The rules. A rule row (`reclaim_rules`) names up to three conditions, each a number of working days:
no follow-up (counted from the later of the last follow-up and the time the rep got the record, so a
fresh claim is not reclaimed at once), no deal (no deal created since the rep got it) and not won (held
that long without being won); `combine` 'any' (OR) or 'all' (AND). A rule may be for one customer level
and/or one team; the most specific active rule wins (level and team > level > team > the default). With
no default row the default is "no follow-up for pool.reclaim_after_working_days working days".

Exempt: won (won, upgrade), locked by the owner (locked_at), with an open deal when pool.exempt_open_deals,
in the recycle bin or merged, already in a pool, without a team.

Working days follow `work_calendar` (core.sla: the company's days in company.timezone with the mainland
holidays and make-up working days): the working days between an anchor and a run on day D are the
workday rows strictly after the anchor's local day up to and including D. "At least N working days"
is then one instant per rule and day (the start of the workday that makes it N), so each rule is one
plain comparison in one statement over all customers: every rule is a branch of one UNION ALL query.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import duckdb
import polars as pl

from core import access, audit, clock, contacts, db, settings, sla
from core.context import SYSTEM, Actor
from core.errors import NotFound, PermissionDenied, ValidationError
from core.i18n import translate

REASONS = ("no_followup", "no_deal", "not_won")   # reclaim reasons, in the order a record's reason is named
COMBINES = ("any", "all")
_DAYS = {"no_followup": "no_followup_days", "no_deal": "no_deal_days", "not_won": "not_won_days"}
_MAX_DAYS = 365
WON_STAGES = ("won", "upgrade")
CANDIDATE_COLUMNS = ("customer_id", "name", "owner_id", "owner_name", "team_id", "team_name", "level", "reason",
                     "detail", "idle_workdays", "due_day", "rule_id")


# --------------------------------------------------------------------------------------------- the rules

def rules(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The rules (not deleted): id, level, team_id, team_name, combine, no_followup_days, no_deal_days,
    not_won_days, active, updated_at; the default rule (no level, no team) first."""
    return db.frame(con, "SELECT r.id, r.level, r.team_id, t.name AS team_name, r.combine, r.no_followup_days, "
                         "r.no_deal_days, r.not_won_days, r.active, r.updated_at FROM reclaim_rules r "
                         "LEFT JOIN teams t ON t.id = r.team_id WHERE r.deleted_at IS NULL "
                         "ORDER BY r.level IS NOT NULL, r.level, r.team_id IS NOT NULL, t.name, r.id")


def _days(value: Any, field: str) -> int | None:
    """A number of working days (1..365) from a form or a caller; None for an unused condition."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (
            isinstance(value, str) and not value.strip().isdigit()):
        raise ValidationError("error.invalid_value", field=field, value=value)
    days = int(value)
    if not 1 <= days <= _MAX_DAYS:
        raise ValidationError("settings.out_of_range", field=field, low=1, high=_MAX_DAYS)
    return days


def save_rule(con: duckdb.DuckDBPyConnection, actor: Actor, *, rule_id: int | None = None, level: str | None = None,
              team_id: int | None = None, combine: str = "any", no_followup_days: int | None = None,
              no_deal_days: int | None = None, not_won_days: int | None = None, active: bool = True) -> int:
    """Create (rule_id None) or change a rule; one rule per (level, team). Audited; returns its id."""
    access.require(con, actor, "settings", "edit")
    if combine not in COMBINES:
        raise ValidationError("error.invalid_value", field="reclaim.combine", value=combine)
    values = {"no_followup_days": _days(no_followup_days, "reclaim.no_followup_days"),
              "no_deal_days": _days(no_deal_days, "reclaim.no_deal_days"),
              "not_won_days": _days(not_won_days, "reclaim.not_won_days")}
    if all(v is None for v in values.values()):
        raise ValidationError("reclaim.rule_needs_condition", field="reclaim.no_followup_days")
    level = (str(level).strip() or None) if level is not None else None
    if level is not None and not db.scalar(con, "SELECT count(*) FROM customer_levels WHERE code = ?", [level]):
        raise ValidationError("error.invalid_value", field="customer.level", value=level)
    if team_id is not None:
        if isinstance(team_id, bool) or not isinstance(team_id, int) or not db.scalar(
                con, "SELECT count(*) FROM teams WHERE id = ? AND deleted_at IS NULL", [team_id]):
            raise ValidationError("error.invalid_value", field="reclaim.team", value=team_id)
    values.update(level=level, team_id=team_id, combine=combine, active=bool(active))

    def work() -> int:
        clash = db.scalar(con, "SELECT id FROM reclaim_rules WHERE deleted_at IS NULL AND level IS NOT DISTINCT FROM ? "
                               "AND team_id IS NOT DISTINCT FROM ? AND id IS DISTINCT FROM ?",
                          [level, team_id, rule_id])
        if clash is not None:
            raise ValidationError("reclaim.rule_exists", field="customer.level")
        if rule_id is None:
            new_id = db.next_id(con, "reclaim_rules")
            con.execute("INSERT INTO reclaim_rules (id, level, team_id, combine, no_followup_days, no_deal_days, "
                        "not_won_days, active, created_at, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [new_id, level, team_id, combine, values["no_followup_days"], values["no_deal_days"],
                         values["not_won_days"], values["active"], actor.now, actor.now, actor.id])
            audit.record(con, actor, "create", "reclaim_rule", new_id, {k: (None, v) for k, v in values.items()})
            return new_id
        old = db.one(con, "SELECT level, team_id, combine, no_followup_days, no_deal_days, not_won_days, active "
                          "FROM reclaim_rules WHERE id = ? AND deleted_at IS NULL", [rule_id])
        if old is None:
            raise NotFound("error.not_found")
        changes = {k: (old[k], v) for k, v in values.items() if old[k] != v}
        if changes:
            con.execute("UPDATE reclaim_rules SET level = ?, team_id = ?, combine = ?, no_followup_days = ?, "
                        "no_deal_days = ?, not_won_days = ?, active = ?, updated_at = ?, updated_by = ? WHERE id = ?",
                        [level, team_id, combine, values["no_followup_days"], values["no_deal_days"],
                         values["not_won_days"], values["active"], actor.now, actor.id, rule_id])
            audit.record(con, actor, "update", "reclaim_rule", rule_id, changes)
        return int(rule_id)

    return db.write(con, work)


def delete_rule(con: duckdb.DuckDBPyConnection, actor: Actor, rule_id: int) -> None:
    """Remove a rule (its customers fall back to the next rule that matches them). Audited."""
    access.require(con, actor, "settings", "edit")

    def work() -> None:
        if not db.scalar(con, "SELECT count(*) FROM reclaim_rules WHERE id = ? AND deleted_at IS NULL", [rule_id]):
            raise NotFound("error.not_found")
        con.execute("UPDATE reclaim_rules SET deleted_at = ?, deleted_by = ? WHERE id = ?", [actor.now, actor.id, rule_id])
        audit.record(con, actor, "delete", "reclaim_rule", rule_id)

    db.write(con, work)


def _effective_rules(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The active rules, with the setting's default when no active rule has neither level nor team."""
    found = db.rows(con, "SELECT id, level, team_id, combine, no_followup_days, no_deal_days, not_won_days "
                         "FROM reclaim_rules WHERE active AND deleted_at IS NULL ORDER BY id")
    found = [r for r in found if any(r[d] for d in _DAYS.values())]
    if not any(r["level"] is None and r["team_id"] is None for r in found):
        days = int(settings.get(con, "pool.reclaim_after_working_days"))
        found.append({"id": None, "level": None, "team_id": None, "combine": "any", "no_followup_days": days,
                      "no_deal_days": None, "not_won_days": None})
    return found


def _specificity(rule: dict) -> int:
    return (2 if rule["level"] is not None else 0) + (1 if rule["team_id"] is not None else 0)


def _match_sql(rule: dict) -> tuple[str, list]:
    parts, params = [], []
    if rule["level"] is not None:
        parts.append("c.level = ?")
        params.append(rule["level"])
    if rule["team_id"] is not None:
        parts.append("c.team_id = ?")
        params.append(rule["team_id"])
    return (" AND ".join(parts) or "TRUE"), params


# --------------------------------------------------------------------------------------- the calendar

@dataclasses.dataclass(frozen=True)
class _Calendar:
    """Workday numbers: wd[day] = how many workdays up to and including `day`."""
    days: list
    wd: list
    starts: list  # day_start_utc
    first_start: dt.datetime

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> "_Calendar":
        sla.ensure_calendar(con)
        rows = con.execute("SELECT day, sum(workday::INTEGER) OVER (ORDER BY day) AS wd, day_start_utc "
                           "FROM work_calendar ORDER BY day").fetchall()
        return cls([r[0] for r in rows], [int(r[1]) for r in rows], [r[2] for r in rows], rows[0][2])

    def index(self, day: dt.date) -> int:
        i = (day - self.days[0]).days
        if i < 0:
            return 0
        return self.wd[min(i, len(self.wd) - 1)]

    def workday(self, n: int) -> int | None:
        """Position of the n-th workday (n >= 1)."""
        import bisect

        if n < 1 or n > self.wd[-1]:
            return None
        return bisect.bisect_left(self.wd, n)

    def cutoff(self, day: dt.date, n: int) -> dt.datetime:
        """Anchors strictly before this instant have at least `n` working days by a run on `day`."""
        pos = self.workday(self.index(day) - n + 1)
        return self.first_start if pos is None else self.starts[pos]

    def shift(self, day: dt.date, workdays: int) -> dt.date:
        """The `workdays`-th workday after `day` (day itself for 0)."""
        if workdays <= 0:
            return day
        pos = self.workday(self.index(day) + workdays)
        return self.days[-1] if pos is None else self.days[pos]


# --------------------------------------------------------------------------------------- the candidates

def _language(con: duckdb.DuckDBPyConnection, actor: Actor | None) -> str:
    if actor is not None and actor.id is not None and actor.language in ("en", "zh"):
        return actor.language
    lang = settings.get(con, "company.default_language")
    return lang if lang in ("en", "zh") else "en"


def _level_names(con: duckdb.DuckDBPyConnection, lang: str) -> dict[str, str]:
    col = "name_zh" if lang == "zh" else "name_en"
    return {r[0]: r[1] or r[0] for r in con.execute(f"SELECT code, {col} FROM customer_levels").fetchall()}  # sql-ok: fixed column


def _texts(rules_: list[dict], lang: str, levels: dict[str, str]) -> pl.DataFrame:
    """(rule_no, mask) -> reason, detail for every combination of conditions met (mask bit i = REASONS[i])."""
    rows: dict[str, list] = {"rule_no": [], "mask": [], "reason": [], "detail": []}
    for no, rule in enumerate(rules_):
        for mask in range(1, 8):
            met = [r for i, r in enumerate(REASONS) if mask & (1 << i)]
            if any(rule[_DAYS[r]] is None for r in met):
                continue
            parts = [translate(lang, f"reclaim.detail.{r}", days=rule[_DAYS[r]]) for r in met]
            text = translate(lang, "reclaim.detail.and").join(parts)
            if rule["level"] is not None:
                text = translate(lang, "reclaim.detail.level_rule", text=text,
                                 level=levels.get(rule["level"], rule["level"]))
            rows["rule_no"].append(no)
            rows["mask"].append(mask)
            rows["reason"].append(met[0])
            rows["detail"].append(text)
    return pl.DataFrame(rows, schema={"rule_no": pl.Int64, "mask": pl.Int64, "reason": pl.String, "detail": pl.String})


def _candidate_sql(con: duckdb.DuckDBPyConnection, cal: _Calendar, day: dt.date,
                   scope: list[tuple[str, list]] | None) -> tuple[str, list, list[dict]]:
    """One UNION ALL branch per (rule, scope branch): the raw candidates of a run on `day` with the rule's
    number (rule_no), the anchors fa (follow-up) and ha (held since) and which conditions hold (mask)."""
    rules_ = _effective_rules(con)
    exempt_deals = bool(settings.get(con, "pool.exempt_open_deals"))
    base = ("c.owner_id IS NOT NULL AND c.team_id IS NOT NULL AND c.deleted_at IS NULL AND c.merged_into_id IS NULL "
            "AND c.locked_at IS NULL AND c.stage NOT IN ('won', 'upgrade')")
    if exempt_deals:
        base += (" AND NOT EXISTS (SELECT 1 FROM deals d WHERE d.customer_id = c.id AND d.deleted_at IS NULL "
                 "AND d.stage NOT IN (SELECT code FROM pipeline_stages WHERE is_won OR is_lost))")
    fa = "greatest(c.last_activity_at, coalesce(c.assigned_at, c.created_at))"
    ha = "coalesce(c.assigned_at, c.created_at)"
    uses_deals = any(r["no_deal_days"] for r in rules_)
    branches, params = [], []
    for no, rule in enumerate(rules_):
        # the conditions over the branch's rows p (fa, ha, the last deal), and a plain pre-filter over the
        # customers that DuckDB pushes into the scan (no deal within N days implies held for N days)
        conds, pre, cparams = [], [], []
        for i, reason in enumerate(REASONS):
            n = rule[_DAYS[reason]]
            if n is None:
                conds.append("FALSE")
                continue
            cparams.append(cal.cutoff(day, int(n)))
            if reason == "no_followup":
                conds.append("p.fa < ?")
                pre.append(f"{fa} < ?")
            elif reason == "no_deal":
                conds.append("(p.ha < ? AND (ld.last_deal_at IS NULL OR ld.last_deal_at < p.ha))")
                pre.append(f"{ha} < ?")
            else:
                conds.append("p.ha < ?")
                pre.append(f"{ha} < ?")
        used = [c for c, r in zip(conds, REASONS) if rule[_DAYS[r]] is not None]
        joiner = " AND " if rule["combine"] == "all" else " OR "
        match, mparams = _match_sql(rule)
        # a more specific rule that matches the customer takes it
        over, oparams = [], []
        for other in rules_:
            if other is not rule and _specificity(other) > _specificity(rule):
                osql, op = _match_sql(other)
                over.append(f"NOT coalesce({osql}, FALSE)")
                oparams += op
        mask_sql = " + ".join(f"CASE WHEN {c} THEN {1 << i} ELSE 0 END" for i, c in enumerate(conds))
        for where, wparams in (scope or [("TRUE", [])]):
            branches.append(
                f"SELECT p.customer_id, p.name, p.owner_id, p.team_id, p.level, p.fa, p.ha, {no} AS rule_no, "
                f"{mask_sql} AS mask FROM (SELECT c.id AS customer_id, c.name, c.owner_id, c.team_id, c.level, "
                f"{fa} AS fa, {ha} AS ha FROM customers c WHERE {base} AND ({where}) AND {match} "
                f"AND {' AND '.join(over) or 'TRUE'} AND ({joiner.join(pre)})) p "
                + ("LEFT JOIN ld ON ld.customer_id = p.customer_id " if rule["no_deal_days"] else "")
                + f"WHERE {joiner.join(used)}")
            params += cparams + list(wparams) + mparams + oparams + cparams + cparams
    head = ("WITH ld AS (SELECT customer_id, max(created_at) AS last_deal_at FROM deals WHERE deleted_at IS NULL "
            "AND customer_id IS NOT NULL GROUP BY customer_id) ") if uses_deals else ""
    return head + " UNION ALL ".join(branches), params, rules_


def _candidates(con: duckdb.DuckDBPyConnection, day: dt.date, scope: list[tuple[str, list]] | None,
                lang: str, today: dt.date | None = None) -> pl.DataFrame:
    """The customers a run on company day `day` takes (see module doc), with reason, detail, idle_workdays
    (working days counted for the reason, up to `day`), due_day (the day the rule first held) and
    workdays_left (from `today`, when given)."""
    cal = _Calendar.load(con)
    raw_sql, params, rules_ = _candidate_sql(con, cal, day, scope)
    texts = _texts(rules_, lang, _level_names(con, lang))
    rule_days = pl.DataFrame({"rule_no": list(range(len(rules_))),
                              "rule_id": [r["id"] for r in rules_],
                              "combine": [r["combine"] for r in rules_],
                              **{f"n{i}": [r[_DAYS[x]] for r in rules_] for i, x in enumerate(REASONS)}},
                             schema={"rule_no": pl.Int64, "rule_id": pl.Int64, "combine": pl.String,
                                     "n0": pl.Int64, "n1": pl.Int64, "n2": pl.Int64})
    day_wd = cal.index(day)
    today_wd = cal.index(today) if today is not None else day_wd
    con.register("_reclaim_texts", texts)
    con.register("_reclaim_rules", rule_days)
    try:
        # the anchors' local days by an ASOF join on the calendar's day starts; due = anchor's workday
        # number + N, the day = the workday with that number
        return db.frame(con, (
            f"WITH raw AS ({raw_sql}), "  # sql-ok: built from fixed text
            "cal AS (SELECT day, workday, day_start_utc, sum(workday::INTEGER) OVER (ORDER BY day) AS wd "
            "  FROM work_calendar), "
            "a AS (SELECT raw.*, coalesce(cf.wd, 0) AS fa_wd FROM raw ASOF LEFT JOIN cal cf ON raw.fa >= cf.day_start_utc), "
            "b AS (SELECT a.*, coalesce(ch.wd, 0) AS ha_wd FROM a ASOF LEFT JOIN cal ch ON a.ha >= ch.day_start_utc), "
            "d AS (SELECT b.*, r.rule_id, x.reason, x.detail, "
            "  CASE WHEN x.reason = 'no_followup' THEN ? - b.fa_wd ELSE ? - b.ha_wd END AS idle_workdays, "
            "  CASE WHEN r.combine = 'all' THEN greatest(b.fa_wd + r.n0, b.ha_wd + r.n1, b.ha_wd + r.n2) "
            "       ELSE least(CASE WHEN b.mask & 1 > 0 THEN b.fa_wd + r.n0 END, "
            "                  CASE WHEN b.mask & 2 > 0 THEN b.ha_wd + r.n1 END, "
            "                  CASE WHEN b.mask & 4 > 0 THEN b.ha_wd + r.n2 END) END AS due_wd "
            "  FROM b JOIN _reclaim_rules r ON r.rule_no = b.rule_no "
            "  JOIN _reclaim_texts x ON x.rule_no = b.rule_no AND x.mask = b.mask) "
            "SELECT d.customer_id, d.name, d.owner_id, u.name AS owner_name, d.team_id, t.name AS team_name, d.level, "
            "  d.reason, d.detail, CAST(d.idle_workdays AS INTEGER) AS idle_workdays, cd.day AS due_day, d.rule_id, "
            "  CAST(greatest(d.due_wd - ?, 0) AS INTEGER) AS workdays_left "
            "FROM d LEFT JOIN cal cd ON cd.workday AND cd.wd = d.due_wd "
            "LEFT JOIN users u ON u.id = d.owner_id LEFT JOIN teams t ON t.id = d.team_id "
            "ORDER BY owner_name, d.owner_id, due_day, d.customer_id"),
            [*params, day_wd, day_wd, today_wd])
    finally:
        con.unregister("_reclaim_texts")
        con.unregister("_reclaim_rules")


def _scope(con: duckdb.DuckDBPyConnection, actor: Actor | None, action: str = "view") -> list[tuple[str, list]] | None:
    if actor is None or (actor.id is None and actor.role == "admin"):
        return None
    return access.branches(con, actor, "customers", action, "c")


def candidates(con: duckdb.DuckDBPyConnection, now: dt.datetime, *, horizon_workdays: int = 0,
               actor: Actor | None = None) -> pl.DataFrame:
    """The customers a run at `now` (or `horizon_workdays` working days later) would take: customer_id, name,
    owner_id, owner_name, team_id, team_name, level, reason (no_followup | no_deal | not_won), detail (words),
    idle_workdays, due_day, rule_id, workdays_left (working days from today to due_day). `actor` limits it to
    the actor's scope (rep: own; manager: team tree; admin: all)."""
    sla.ensure_calendar(con)
    today = clock.local_today(con, now)
    day = _Calendar.load(con).shift(today, int(horizon_workdays))
    return _candidates(con, day, _scope(con, actor), _language(con, actor), today)


def preview(con: duckdb.DuckDBPyConnection, actor: Actor, day: dt.date | None = None) -> pl.DataFrame:
    """What the run on company day `day` (default tomorrow) would take in the actor's scope, per rep
    (ordered by owner) with the reason for each record: the columns of `candidates`."""
    sla.ensure_calendar(con)
    access.require(con, actor, "customers", "view")
    today = clock.local_today(con, actor.now)
    day = day or today + dt.timedelta(days=1)
    return _candidates(con, day, _scope(con, actor), _language(con, actor), today)


def warnings(con: duckdb.DuckDBPyConnection, actor: Actor, days: int | None = None) -> pl.DataFrame:
    """The actor's own customers within `days` (default pool.warn_days) working days of reclaim, soonest
    first: id, name, reason, detail, due_day, workdays_left (0: the next run takes it)."""
    sla.ensure_calendar(con)
    days = int(settings.get(con, "pool.warn_days") if days is None else days)
    if actor.id is None:
        return pl.DataFrame(schema={"id": pl.Int64, "name": pl.String, "reason": pl.String, "detail": pl.String,
                                    "due_day": pl.Date, "workdays_left": pl.Int32})
    today = clock.local_today(con, actor.now)
    day = _Calendar.load(con).shift(today, days)
    found = _candidates(con, day, [("c.owner_id = ?", [actor.id])], _language(con, actor), today)
    return found.select(pl.col("customer_id").alias("id"), "name", "reason", "detail", "due_day",
                        "workdays_left").sort(["due_day", "id"])


# ---------------------------------------------------------------------------------------------- the run

def run(con: duckdb.DuckDBPyConnection, actor: Actor = SYSTEM, now: dt.datetime | None = None,
        dry_run: bool = False, source: str | None = None) -> dict:
    """Reclaim now: every candidate (in the actor's assign scope: managers their team tree, admins and
    the system all; reps may not) goes to its team's pool (owner NULL, pool_since, pool_reason 'reclaim')
    with a pool_moves row (reason reclaim, detail in words), an audit row, the contacts' holder copy, an
    assignment_runs row (kind reclaim) and one notification per former owner; one unit of work. A dry
    run writes nothing. Returns {"moved", "by_reason", "run_id", "moves": frame(customer_id, name,
    owner_id, owner_name, team_id, reason, detail, ...)}."""
    if now is not None:
        actor = dataclasses.replace(actor, now=now)
    now = actor.now
    if access.require(con, actor, "customers", "assign") == "own":
        raise PermissionDenied("reclaim.not_allowed")
    sla.ensure_calendar(con)
    scope = _scope(con, actor, "assign")
    lang = _language(con, None)
    today = clock.local_today(con, now)
    if source is None:
        source = "schedule" if actor.id is None else "manual"

    def summary(moves: pl.DataFrame, run_id: int | None) -> dict:
        by_reason = {r: int(n) for r, n in moves.group_by("reason").len().sort("reason").iter_rows()} \
            if moves.height else {}
        return {"moved": moves.height, "by_reason": by_reason, "run_id": run_id, "moves": moves}

    if dry_run:
        return summary(_candidates(con, today, scope, lang, today), None)

    def work() -> dict:
        moves = _candidates(con, today, scope, lang, today)
        run_id = db.next_id(con, "assignment_runs")
        by_owner = moves.group_by("owner_id").len()
        result = summary(moves, run_id)
        con.execute("INSERT INTO assignment_runs (id, kind, source, teams, weighting, requested, assigned, left_in_pool, "
                    "reasons, per_rep, dry_run, run_by, run_at) VALUES (?, 'reclaim', ?, ?, NULL, ?, 0, ?, ?, ?, FALSE, ?, ?)",
                    [run_id, source, json.dumps(sorted(set(moves["team_id"].to_list()))), moves.height, moves.height,
                     json.dumps(result["by_reason"]),
                     json.dumps({str(o): int(n) for o, n in by_owner.iter_rows()}), actor.id, now])
        if not moves.height:
            return result
        con.register("_reclaim_moves", moves.select("customer_id", "owner_id", "team_id", "detail"))
        try:
            con.execute("UPDATE customers SET owner_id = NULL, pool_since = ?, pool_reason = 'reclaim', pool_rank = NULL, "
                        "updated_at = greatest(updated_at + INTERVAL 1 MICROSECOND, ?) "
                        "WHERE id IN (SELECT customer_id FROM _reclaim_moves)", [now, now])
            con.execute("INSERT INTO pool_moves (id, customer_id, from_owner_id, to_owner_id, from_team_id, to_team_id, "
                        "reason, moved_by, moved_at, run_id, detail) SELECT nextval('seq_pool_moves'), customer_id, "
                        "owner_id, NULL, team_id, team_id, 'reclaim', ?, ?, ?, detail FROM _reclaim_moves",
                        [actor.id, now, run_id])
            # the audit rows of audit.record_many, with each record's former owner, in one statement
            con.execute("INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, "
                        "new_value) SELECT nextval('seq_audit_log'), ?, ?, 'reclaim', 'customer', customer_id, "
                        "'owner_id', CAST(owner_id AS VARCHAR), NULL FROM _reclaim_moves", [now, actor.id])
            con.execute("INSERT INTO notifications (id, user_id, kind, object, object_id, params, created_at) "
                        "SELECT nextval('seq_notifications'), m.owner_id, 'pool_reclaim', 'assignment_run', ?, "
                        "json_object('n', m.n, 'run_id', ?), ? FROM (SELECT owner_id, count(*) AS n "
                        "FROM _reclaim_moves GROUP BY owner_id) m JOIN users u ON u.id = m.owner_id "
                        "WHERE u.active AND u.deleted_at IS NULL", [run_id, run_id, now])
        finally:
            con.unregister("_reclaim_moves")
        contacts.sync_holders(con, moves["customer_id"].to_list())
        return result

    return db.write(con, work)


# ------------------------------------------------------------------------------------- the daily job

def _reclaim_at(con: duckdb.DuckDBPyConnection) -> dt.time:
    value = str(settings.get(con, "pool.reclaim_at") or "02:00")
    try:
        hours, minutes = value.strip().split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        return dt.time(2, 0)


def reclaim_job(con: duckdb.DuckDBPyConnection, now: dt.datetime) -> dict | None:
    """The scheduled run: once per company day, at or after pool.reclaim_at (local time); a day whose
    scheduled run is in the assignment log is not run again. Returns the run's summary (without the
    frame), or None when there was nothing to do."""
    local = clock.to_local(con, now)
    if local.time() < _reclaim_at(con):
        return None
    start, end = clock.day_bounds_utc(con, local.date())
    if db.scalar(con, "SELECT count(*) FROM assignment_runs WHERE kind = 'reclaim' AND source = 'schedule' "
                      "AND NOT dry_run AND run_at >= ? AND run_at < ?", [start, end]):
        return None
    done = run(con, SYSTEM, now=now, source="schedule")
    return {k: v for k, v in done.items() if k != "moves"}
