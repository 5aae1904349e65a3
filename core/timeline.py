"""The customer timeline: one list, newest first, of everything that happened to a customer.

Kinds (filterable): follow-ups; deals (created, stage changes from deal_stage_history, won, lost);
orders; tickets (opened, resolved); campaign touches (sent, opened, clicked, responded, converted);
feedback; the won hand-off's steps (filled in, submitted, approved, returned: core.handoff); changes
(the customer's creation and its field changes from the audit log: who changed what from what to what).

Who sees what: the customer's scope is checked once (NotFound out of scope). The items of a customer
belong to its history, so within a customer the actor may open, each kind is shown when the actor may
view that kind's module at all (a rep without deals view sees no deals; campaigns need campaigns view),
whoever owns the item. Field changes are part of the customer record (customers view).

One statement: a UNION ALL of set-based selects, one per kind the actor may see, the customer's rows
of each big table read once (materialised), ordered and cut to `limit` before owners' names are joined.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from core import access, activities, db, fields, records
from core.context import Actor
from core.errors import NotFound, PermissionDenied, ValidationError

KINDS = ("followup", "deal", "order", "ticket", "campaign", "feedback", "handoff", "change")
KIND_MODULE = {"followup": "activities", "deal": "deals", "order": "orders", "ticket": "tickets",
               "campaign": "campaigns", "feedback": "feedback", "handoff": "customers", "change": "customers"}
# events per kind (catalogue keys timeline.event_<event>)
EVENTS = {
    "followup": activities.KINDS,
    "deal": ("deal_created", "deal_stage", "deal_won", "deal_lost"),
    "order": ("order",),
    "ticket": ("ticket_opened", "ticket_resolved"),
    "campaign": ("campaign_sent", "campaign_opened", "campaign_clicked", "campaign_responded", "campaign_converted"),
    "feedback": ("feedback",),
    "handoff": ("handoff_pending", "handoff_submitted", "handoff_approved", "handoff_returned"),
    "change": ("customer_created", "field_changed", "handover", "converted", "merged", "unmerged"),
}
MAX_LIMIT = 1000
USER_FIELDS = ("owner_id", "created_by", "assignee_id", "user_id", "manager_id")
TEAM_FIELDS = ("team_id",)

SCHEMA = {"kind": pl.String, "event": pl.String, "occurred_at": pl.Datetime("us"), "user_id": pl.Int64, "who": pl.String,
          "title": pl.String, "detail": pl.String, "field": pl.String, "old_value": pl.String, "new_value": pl.String,
          "amount": pl.Float64, "next_at": pl.Datetime("us"), "entity": pl.String, "entity_id": pl.Int64,
          "overdue": pl.Boolean}

# the customer's rows of each big table, read once: name -> (the kinds that need them, SQL with one ?)
_CTES = {
    "acts": (("followup", "change"),
             "SELECT id, kind, subject, body, outcome, occurred_at, next_followup_at, user_id, created_at "
             "FROM activities WHERE customer_id = ? AND deleted_at IS NULL"),
    "cdeals": (("deal",),
               "SELECT id, name, stage, amount, won_reason, lost_reason, owner_id, created_by, created_at "
               "FROM deals WHERE customer_id = ? AND deleted_at IS NULL"),
    "ctickets": (("ticket",),
                 "SELECT id, subject, description, resolution, priority, status, opened_at, resolved_at, "
                 "created_by, assignee_id FROM tickets WHERE customer_id = ? AND deleted_at IS NULL"),
    "cmembers": (("campaign",),
                 "SELECT m.campaign_id, c.name, c.channel, c.owner_id, m.revenue, m.sent_at, m.opened_at, "
                 "m.clicked_at, m.responded_at, m.converted_at FROM campaign_members m "
                 "JOIN campaigns c ON c.id = m.campaign_id WHERE m.customer_id = ? AND c.deleted_at IS NULL"),
}

# one select per kind; columns: kind, event, occurred_at, user_id, title, detail, field, old_value, new_value,
# amount, next_at, entity, entity_id; with how many `?` marks take the customer id ("created": the four
# values of the customer's creation)
_BRANCHES = {
    "followup": [
        ("SELECT 'followup' AS kind, a.kind AS event, a.occurred_at AS occurred_at, a.user_id AS user_id, "
         "a.subject AS title, a.body AS detail, NULL::VARCHAR AS field, NULL::VARCHAR AS old_value, "
         "a.outcome AS new_value, NULL::DOUBLE AS amount, a.next_followup_at AS next_at, "
         "'activity' AS entity, a.id AS entity_id FROM acts a", 0),
    ],
    "deal": [
        ("SELECT 'deal', 'deal_created', d.created_at, coalesce(d.created_by, d.owner_id), d.name, NULL, NULL, NULL, "
         "NULL, d.amount::DOUBLE, NULL, 'deal', d.id FROM cdeals d", 0),
        ("SELECT 'deal', CASE WHEN s.is_won THEN 'deal_won' WHEN s.is_lost THEN 'deal_lost' ELSE 'deal_stage' END, "
         "h.changed_at, h.changed_by, d.name, CASE WHEN s.is_won THEN d.won_reason WHEN s.is_lost THEN d.lost_reason "
         "END, 'stage', h.from_stage, h.to_stage, CASE WHEN s.is_won THEN d.amount::DOUBLE END, NULL, 'deal', d.id "
         "FROM deal_stage_history h JOIN cdeals d ON d.id = h.deal_id LEFT JOIN pipeline_stages s ON s.code = h.to_stage "
         "WHERE h.from_stage IS NOT NULL", 0),
    ],
    "order": [
        ("SELECT 'order', 'order', o.ordered_at, o.owner_id, o.order_no, NULL, 'status', NULL, o.status, "
         "o.amount::DOUBLE, NULL, 'order', o.id FROM orders o WHERE o.customer_id = ? AND o.deleted_at IS NULL", 1),
    ],
    "ticket": [
        ("SELECT 'ticket', 'ticket_opened', k.opened_at, k.created_by, k.subject, k.description, 'priority', NULL, "
         "k.priority, NULL, NULL, 'ticket', k.id FROM ctickets k", 0),
        ("SELECT 'ticket', 'ticket_resolved', k.resolved_at, k.assignee_id, k.subject, k.resolution, 'status', NULL, "
         "k.status, NULL, NULL, 'ticket', k.id FROM ctickets k WHERE k.resolved_at IS NOT NULL", 0),
    ],
    "campaign": [
        ("SELECT 'campaign', 'campaign_' || replace(u.ev, '_at', ''), u.ts, u.owner_id, u.name, NULL, 'channel', NULL, "
         "u.channel, CASE WHEN u.ev = 'converted_at' THEN u.revenue::DOUBLE END, NULL, 'campaign', u.campaign_id "
         "FROM (UNPIVOT cmembers ON sent_at, opened_at, clicked_at, responded_at, converted_at "
         "INTO NAME ev VALUE ts) u", 0),
    ],
    "feedback": [
        # CSAT (with its ticket), NPS, complaints and suggestions (subject; open or closed: old_value)
        ("SELECT 'feedback', 'feedback', f.created_at, coalesce(f.created_by, f.owner_id), f.subject, f.comment, "
         "'kind', CASE WHEN f.kind IN ('complaint', 'suggestion') THEN f.status END, f.kind, f.score, NULL, "
         "'feedback', f.id FROM feedback f WHERE f.customer_id = ? AND f.deleted_at IS NULL", 1),
    ],
    # the won hand-off (流转单), one entry per step from its audit rows (core.handoff): filled in (what was
    # bought, the promises), submitted by the manager, approved (the level) or returned, with the comment
    "handoff": [
        ("SELECT 'handoff', 'handoff_' || g.status, g.logged_at, g.user_id, g.bought, g.detail, 'level', NULL, "
         "g.level, NULL, NULL, 'handoff', g.entity_id FROM (SELECT l.entity_id, l.logged_at, any_value(l.user_id) "
         "AS user_id, max(l.new_value) FILTER (WHERE l.field = 'status') AS status, "
         "max(l.new_value) FILTER (WHERE l.field = 'bought') AS bought, "
         "max(l.new_value) FILTER (WHERE l.field IN ('promises', 'manager_comment', 'admin_comment')) AS detail, "
         "max(l.new_value) FILTER (WHERE l.field = 'level') AS level FROM audit_log l "
         "WHERE l.entity = 'handoff' AND l.entity_id IN (SELECT id FROM handoffs WHERE customer_id = ?) "
         "GROUP BY l.entity_id, l.logged_at) g WHERE g.status IS NOT NULL", 1),
    ],
    "change": [
        # the customer's own row was read by the scope check: its values come in as parameters
        ("SELECT 'change', 'customer_created', ?::TIMESTAMP, ?::BIGINT, ?::VARCHAR, NULL, NULL, NULL, NULL, NULL, "
         "NULL, 'customer', ?::BIGINT", "created"),
        # field changes (edits, handovers) from the audit log; a next follow-up set by logging a follow-up is
        # shown by the follow-up itself; conversions and merges as one entry each, without their values
        ("SELECT 'change', CASE l.action WHEN 'update' THEN 'field_changed' WHEN 'handover' THEN 'handover' "
         "WHEN 'convert' THEN 'converted' WHEN 'merge' THEN 'merged' ELSE 'unmerged' END, l.logged_at, l.user_id, "
         "NULL, NULL, CASE WHEN l.action IN ('update', 'handover') THEN l.field END, "
         "CASE WHEN l.action IN ('update', 'handover') THEN l.old_value END, "
         "CASE WHEN l.action IN ('update', 'handover') THEN l.new_value END, NULL, NULL, 'customer', l.entity_id "
         "FROM audit_log l WHERE l.entity = 'customer' AND l.entity_id = ? "
         "AND l.action IN ('update', 'handover', 'convert', 'merge', 'unmerge') "
         "AND (l.field IS NOT NULL OR l.action IN ('merge', 'unmerge')) "
         "AND coalesce(l.field, '') NOT IN ('last_activity_at', 'updated_at') "
         "AND NOT (l.field = 'next_followup_at' AND EXISTS (SELECT 1 FROM acts x WHERE x.created_at = l.logged_at "
         "AND x.user_id IS NOT DISTINCT FROM l.user_id))", 1),
    ],
}

_USER_MARKS = ", ".join(f"'{f}'" for f in USER_FIELDS)
_TEAM_MARKS = ", ".join(f"'{f}'" for f in TEAM_FIELDS)
_OUTER = (
    "SELECT e.kind, e.event, e.occurred_at, e.user_id, u.name AS who, e.title, e.detail, e.field, "
    f"CASE WHEN e.kind = 'change' AND e.field IN ({_USER_MARKS}) THEN coalesce(ou.name, e.old_value) "
    f"WHEN e.kind = 'change' AND e.field IN ({_TEAM_MARKS}) THEN coalesce(ot.name, e.old_value) "
    "ELSE e.old_value END AS old_value, "
    f"CASE WHEN e.kind = 'change' AND e.field IN ({_USER_MARKS}) THEN coalesce(nu.name, e.new_value) "
    f"WHEN e.kind = 'change' AND e.field IN ({_TEAM_MARKS}) THEN coalesce(nt.name, e.new_value) "
    "ELSE e.new_value END AS new_value, "
    "e.amount, e.next_at, e.entity, e.entity_id "
    "FROM (SELECT * FROM ({union}) x(kind, event, occurred_at, user_id, title, detail, field, old_value, new_value, amount, "
    "next_at, entity, entity_id) WHERE x.occurred_at IS NOT NULL{before} "
    "ORDER BY x.occurred_at DESC, x.entity_id DESC, x.event LIMIT ?) e "
    "LEFT JOIN users u ON u.id = e.user_id "
    f"LEFT JOIN users ou ON e.kind = 'change' AND e.field IN ({_USER_MARKS}) AND ou.id = TRY_CAST(e.old_value AS BIGINT) "
    f"LEFT JOIN users nu ON e.kind = 'change' AND e.field IN ({_USER_MARKS}) AND nu.id = TRY_CAST(e.new_value AS BIGINT) "
    f"LEFT JOIN teams ot ON e.kind = 'change' AND e.field IN ({_TEAM_MARKS}) AND ot.id = TRY_CAST(e.old_value AS BIGINT) "
    f"LEFT JOIN teams nt ON e.kind = 'change' AND e.field IN ({_TEAM_MARKS}) AND nt.id = TRY_CAST(e.new_value AS BIGINT) "
    "ORDER BY e.occurred_at DESC, e.entity_id DESC, e.event"
)


def deal_stages(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The pipeline stages (code, names), to name the stages of deal entries."""
    return db.rows(con, "SELECT code, name_en, name_zh FROM pipeline_stages ORDER BY position")


def _view_scopes(con, actor: Actor) -> dict[str, str]:
    return access.scopes(con, actor, sorted(set(KIND_MODULE.values())), "view")


def visible_kinds(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[str]:
    """The kinds of items the actor may see on a timeline (each needs its module's view)."""
    found = _view_scopes(con, actor)
    return [k for k in KINDS if found[KIND_MODULE[k]] != "none"]


def _kinds(value: Any) -> list[str]:
    if value is None:
        return list(KINDS)
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple, set)) else None
    if items is None or any(k not in KINDS for k in items):
        raise ValidationError("timeline.bad_kind", value=fields.short(value))
    return [k for k in KINDS if k in items]


def timeline_sql(kinds: list[str], before: bool) -> tuple[str, list[str]]:
    """The statement for these kinds, and which value of the customer's row each of its first marks
    takes (the customer id, its creation); then come `before` when asked, and the limit."""
    ctes, marks = [], 0
    for name, (needed_by, sql) in _CTES.items():
        if any(k in kinds for k in needed_by):
            ctes.append(f"{name} AS MATERIALIZED ({sql})")
            marks += 1
    parts, order = [], ["id"] * marks
    for kind in kinds:
        for sql, n in _BRANCHES[kind]:
            parts.append(sql)
            order += ["created_at", "created_by", "name", "id"] if n == "created" else ["id"] * n
    union = " UNION ALL ".join(parts)
    body = _OUTER.format(union=union, before=" AND x.occurred_at < ?" if before else "")
    return (f"WITH {', '.join(ctes)} {body}" if ctes else body), order


def customer_timeline(
    con: duckdb.DuckDBPyConnection,
    actor: Actor,
    customer_id: Any,
    kinds: Any = None,
    limit: int = 200,
    before: dt.datetime | None = None,
) -> pl.DataFrame:
    """What happened to a customer, newest first: at most `limit` items older than `before` (paging),
    of the asked `kinds` the actor may see. Columns: kind, event, occurred_at, user_id, who, title, detail,
    field, old_value, new_value, amount, next_at, entity, entity_id (the item's record, for a link),
    overdue (a follow-up whose next date is the customer's current, overdue, one)."""
    wanted = _kinds(kinds)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError("list.bad_page_size", max=MAX_LIMIT)
    if before is not None and not isinstance(before, dt.datetime):
        raise ValidationError("list.bad_filter")
    cid = records.record_id(customer_id, "customer.not_found")
    found = _view_scopes(con, actor)
    if found["customers"] == "none":
        raise PermissionDenied("error.permission", module="customers", action="view")
    where, args = access.predicate_for_scope(actor, "customers", found["customers"], "c")
    customer = db.one(con, f"SELECT c.id, c.name, c.created_at, c.created_by, c.next_followup_at, c.owner_id, "
                           f"c.team_id "  # the scope, once
                           f"FROM customers c WHERE c.id = ? AND c.deleted_at IS NULL AND {where}", [cid] + args)
    if customer is None:
        raise NotFound("customer.not_found")
    allowed = [k for k in wanted if found[KIND_MODULE[k]] != "none"]
    if not allowed:
        return pl.DataFrame(schema=SCHEMA)
    sql, marks = timeline_sql(allowed, before is not None)
    params: list = [customer[m] for m in marks] + ([before] if before is not None else []) + [limit]
    rows = con.execute(sql, params).fetchall()  # 200 rows: cheaper than a relation's frame
    df = pl.DataFrame(rows, schema={k: v for k, v in SCHEMA.items() if k != "overdue"}, orient="row")
    from core import pool_mask

    hidden = pool_mask.is_masked(con, actor, customer)
    if hidden:  # a field its pool hides from the actor: its changes show no values either
        names = sorted(hidden | ({"phone_norm"} if "phone" in hidden else set()))
        hit = ((pl.col("kind") == "change") & pl.col("field").is_in(names)).fill_null(False)
        phone = hit & (pl.col("field") == "phone")
        df = df.with_columns([
            pl.when(phone).then(pl.col(col).map_elements(lambda v: pool_mask.mask_value("phone", v),
                                                         return_dtype=pl.String))
            .when(hit & pl.col(col).is_not_null()).then(pl.lit(pool_mask.MASK))
            .otherwise(pl.col(col)).alias(col) for col in ("old_value", "new_value")])
    due = customer["next_followup_at"]
    overdue = due is not None and activities.is_overdue(con, actor.now, due)
    return df.with_columns(
        ((pl.col("kind") == "followup") & (pl.col("next_at") == due) if overdue else pl.lit(False))
        .fill_null(False).alias("overdue"))
