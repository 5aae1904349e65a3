"""Deals (销售机会): open one, create, edit, lines from the product catalogue, move through the stages of
its pipeline (won, lost, reopen), reassign, delete to the recycle bin, and the stage history.

Everything is under the viewer's scope predicate of the "deals" module, like customers: a deal outside
it is NotFound (nothing leaks). A deal's customer must be one the actor may see.

Every stage change writes a `deal_stage_history` row (from, to, when, who), the deal's
`stage_changed_at` and its probability (the stage's default, unless the owner set one:
`probability_set`) in the same unit of work as the change and its audit rows. Won needs a close date
(the company's today by default); Lost needs a reason, a code of the admin's option list "lost_reason",
and may name a competitor. A closed deal leaves its won/lost stage only through a reopen, which only
the owner's manager (a manager whose team tree holds the deal's team) or an admin may do.

Edits carry the version the user saw (`seen`, a dict with `updated_at`): a deal changed since is a
Conflict ("deal.changed_since") naming what changed and who changed it, never a silent overwrite.
When a deal has lines its amount follows them (sum of quantity x unit price x (1 - discount %)).
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterable

import duckdb
import polars as pl

from core import access, audit, clock, db, fields, forecast, money, options, pipelines, records, recycle, settings
from core.context import Actor
from core.errors import NotFound, PermissionDenied, ValidationError
from core.fields import Field

CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY", "GBP", "SGD", "TWD", "KRW", "AUD", "CAD")
# what an owner may choose for an open deal: the forecast's own list ("closed" is what a won deal counts
# as, never a choice: the forecast ignores it on an open deal)
FORECAST_CATEGORIES = forecast.OVERRIDES
AMOUNT_MAX = money.AMOUNT_MAX   # one set of limits for deals and orders: a won deal always becomes an order
MAX_LINES = 200


def company_currency(con) -> str:
    """The company's currency (setting company.currency, CNY by default)."""
    return str(settings.get(con, "company.currency") or "CNY").strip().upper()


def _currencies(con) -> list[str]:
    company = company_currency(con)
    return list(CURRENCIES) + ([company] if company not in CURRENCIES else [])


def _stage_codes(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT code FROM pipeline_stages").fetchall()]


def lost_reason_codes(con) -> list[str]:
    """Every code of the lost-reason list (inactive ones too: stored values stay valid)."""
    return options.codes(con, "lost_reason")


def lost_reasons(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The active lost reasons (code, name_en, name_zh) a user may pick, in the admin's order."""
    return options.options(con, "lost_reason")


# the fields of a deal: kind, limits and label (core.fields validates every write)
FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("name", "text", "deal.name", required=True, max_len=200, tier="required"),
    Field("customer_id", "int", "deal.customer", required=True, min=1, max=10**15, tier="required"),
    Field("contact_id", "int", "deal.contact", min=1, max=10**15),
    Field("amount", "number", "deal.amount", min=0, max=AMOUNT_MAX),
    Field("currency", "choice", "deal.currency", options_from=_currencies, nullable=False),
    Field("pipeline_id", "int", "deal.pipeline", min=1, max=10**15, nullable=False),
    Field("stage", "choice", "deal.stage", options_from=_stage_codes, nullable=False),
    Field("probability", "int", "deal.probability", min=0, max=100),
    Field("expected_close", "date", "deal.expected_close"),
    Field("source", "choice", "deal.source", options_from=lambda con: options.codes(con, "source")),
    Field("competitor", "text", "deal.competitor", max_len=100),
    Field("next_step", "text", "deal.next_step", max_len=200),
    Field("forecast_category", "choice", "deal.forecast_category", options=FORECAST_CATEGORIES, tier="extra"),
    Field("won_reason", "text", "deal.won_reason", max_len=200, tier="extra"),
    Field("lost_reason", "choice", "deal.lost_reason", options_from=lost_reason_codes, tier="extra"),
    Field("closed_on", "date", "deal.closed_on", tier="extra"),
)}
# what the deal form edits (the rest is set by create, the stage bar and the lines)
FORM_FIELDS = ("name", "contact_id", "amount", "currency", "probability", "expected_close", "source", "competitor",
               "next_step", "forecast_category", "won_reason")
SPEC = records.Spec(entity="deal", obj="deal", table="deals", module="deals", not_found="deal.not_found")
_COLUMNS = set(FIELDS) | {"probability_set"}

LINE_FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("product_id", "int", "deal.line_product", min=1, max=10**15),
    Field("description", "text", "deal.line_description", max_len=200),
    Field("quantity", "number", "deal.line_quantity", required=True, min=0, max=money.QUANTITY_MAX,
          decimals=money.QUANTITY_DECIMALS),
    Field("unit_price", "number", "deal.line_unit_price", required=True, min=0, max=money.UNIT_PRICE_MAX,
          decimals=money.PRICE_DECIMALS),
    Field("discount", "number", "deal.line_discount", min=0, max=100),
)}


# ---------------------------------------------------------------------------------------- reading
def record_id(value: Any) -> int:
    """A deal id from a link, a form or a caller; anything else is NotFound."""
    return records.record_id(value, SPEC.not_found)


def _load(con, actor: Actor, deal_id: Any, action: str = "view") -> dict:
    """The raw row of a live deal the actor may `action`, with owner, team, customer, contact, stage
    and pipeline; NotFound otherwise. The row by its key first, then the names by theirs: one statement
    joining the customers took 35-50 ms at scale L (a million customers), these few take about 3."""
    deal_id = record_id(deal_id)
    where, params = access.predicate(con, actor, "deals", action, "x")
    found = db.one(con, f"SELECT x.* FROM deals x WHERE x.id = ? AND x.deleted_at IS NULL AND {where}",
                   [deal_id] + params)
    if found is None:
        raise NotFound(SPEC.not_found)
    found.update(db.one(  # small tables: joined to the row's values
        con,
        "SELECT o.name AS owner_name, o.manager_id AS owner_manager_id, t.name AS team_name, "
        "s.name_en AS stage_name_en, s.name_zh AS stage_name_zh, s.position AS stage_position, "
        "s.probability AS stage_probability, coalesce(s.is_won, FALSE) AS is_won, "
        "coalesce(s.is_lost, FALSE) AS is_lost, p.name_en AS pipeline_name_en, p.name_zh AS pipeline_name_zh "
        "FROM (SELECT ?::BIGINT AS owner_id, ?::BIGINT AS team_id, ?::VARCHAR AS stage, ?::BIGINT AS pipeline_id) x "
        "LEFT JOIN users o ON o.id = x.owner_id LEFT JOIN teams t ON t.id = x.team_id "
        "LEFT JOIN pipeline_stages s ON s.code = x.stage LEFT JOIN pipelines p ON p.id = x.pipeline_id",
        [found["owner_id"], found["team_id"], found["stage"], found["pipeline_id"]]))
    # large tables: one key lookup each
    found["customer_name"] = None if found["customer_id"] is None else db.scalar(
        con, "SELECT name FROM customers WHERE id = ?", [found["customer_id"]])
    found["contact_name"] = None if found["contact_id"] is None else db.scalar(
        con, "SELECT name FROM contacts WHERE id = ?", [found["contact_id"]])
    found["is_closed"] = bool(found["is_won"] or found["is_lost"])
    return found


def _lines(con, deal_id: int) -> list[dict]:
    return db.rows(con, "SELECT l.id, l.position, l.product_id, p.code AS product_code, p.name AS product_name, "
                        "p.name_zh AS product_name_zh, l.description, l.quantity::DOUBLE AS quantity, "
                        "l.unit_price::DOUBLE AS unit_price, l.discount::DOUBLE AS discount, l.amount::DOUBLE AS amount "
                        "FROM deal_lines l LEFT JOIN products p ON p.id = l.product_id WHERE l.deal_id = ? "
                        "ORDER BY l.position, l.id", [deal_id])


def get_deal(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any, action: str = "view") -> dict:
    """One deal the actor may `action`, as the actor's role may read it (custom fields unpacked, fields
    the role may not see left out), with owner_name, team_name, customer_name, contact_name, the stage's
    names, position, default probability, is_won / is_lost / is_closed, the pipeline's names and
    `lines`; NotFound when it is not theirs to see (no leak of existence)."""
    row = _load(con, actor, deal_id, action)
    out = fields.mask(fields.definitions(con, "deal"), actor.role, row)
    out["lines"] = _lines(con, row["id"])
    return out


def allowed(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any, action: str) -> bool:
    """Whether the actor may `action` (edit, delete, assign) this deal: the page shows a form or a
    read-only view, a button or none."""
    if not access.can(con, actor, "deals", action):
        return False
    try:
        _load(con, actor, deal_id, action)
    except NotFound:
        return False
    return True


def can_create(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any = None) -> bool:
    """Whether the actor may create deals (on this customer, when given)."""
    if not access.can(con, actor, "deals", "create"):
        return False
    if customer_id is None:
        return True
    try:
        _customer(con, actor, customer_id)
    except (NotFound, PermissionDenied):
        return False
    return True


def can_reopen(con: duckdb.DuckDBPyConnection, actor: Actor, deal: dict) -> bool:
    """Only an admin, or a manager whose team tree holds the deal's team (or who manages its owner),
    reopens a closed deal."""
    if actor.is_admin:
        return True
    if actor.role != "manager":
        return False
    if deal.get("team_id") is not None and deal["team_id"] in (actor.team_tree or (actor.team_id,)):
        return True
    manager = deal.get("owner_manager_id")
    if manager is None and deal.get("owner_id") is not None:
        manager = db.scalar(con, "SELECT manager_id FROM users WHERE id = ?", [deal["owner_id"]])
    return manager is not None and manager == actor.id


def customer_deals(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any) -> pl.DataFrame:
    """The live deals of a customer that the actor may see (for the customer page), newest first."""
    where, params = access.predicate(con, actor, "deals", "view", "x")
    return db.frame(
        con,
        f"SELECT x.id, x.name, x.stage, s.name_en AS stage_name_en, s.name_zh AS stage_name_zh, "
        f"x.amount::DOUBLE AS amount, x.currency, x.probability, x.expected_close, x.closed_on, "
        f"o.name AS owner_name, x.updated_at FROM deals x LEFT JOIN pipeline_stages s ON s.code = x.stage "
        f"LEFT JOIN users o ON o.id = x.owner_id WHERE x.customer_id = ? AND x.deleted_at IS NULL AND {where} "
        f"ORDER BY x.updated_at DESC, x.id DESC LIMIT 200",
        [records.record_id(customer_id, "customer.not_found")] + params,
    )


def stage_timeline(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any) -> pl.DataFrame:
    """The deal's stage history, oldest first: from and to (codes and names in both languages), when
    (naive UTC), who (id and name), and the days the deal spent in the `to` stage (until the next move,
    or until now for the current one)."""
    deal = _load(con, actor, deal_id, "view")
    return db.frame(
        con,
        "SELECT h.id, h.from_stage, fs.name_en AS from_name_en, fs.name_zh AS from_name_zh, h.to_stage, "
        "ts.name_en AS to_name_en, ts.name_zh AS to_name_zh, h.changed_at, h.changed_by, u.name AS who, "
        "round(date_diff('second', h.changed_at, coalesce(lead(h.changed_at) OVER w, ?)) / 86400.0, 1) AS days, "
        "lead(h.id) OVER w IS NULL AS current "
        "FROM deal_stage_history h LEFT JOIN pipeline_stages fs ON fs.code = h.from_stage "
        "LEFT JOIN pipeline_stages ts ON ts.code = h.to_stage LEFT JOIN users u ON u.id = h.changed_by "
        "WHERE h.deal_id = ? WINDOW w AS (ORDER BY h.changed_at, h.id) ORDER BY h.changed_at, h.id",
        [actor.now, deal["id"]],
    )


# ---------------------------------------------------------------------------------------- helpers
_customer = records.visible_customer


def _check_contact(con, contact_id: int | None, customer_id: int) -> None:
    if contact_id is not None and not db.scalar(
            con, "SELECT count(*) FROM contacts WHERE id = ? AND customer_id = ? AND deleted_at IS NULL",
            [contact_id, customer_id]):
        raise ValidationError("deal.bad_contact", field="deal.contact")


def _pipeline(con, pipeline_id: int | None) -> int:
    if pipeline_id is None:
        return pipelines.default_pipeline(con)
    if not db.scalar(con, "SELECT count(*) FROM pipelines WHERE id = ? AND active", [pipeline_id]):
        raise ValidationError("field.bad_choice", field="deal.pipeline", value=str(pipeline_id))
    return pipeline_id


def _target_stage(con, code: Any, pipeline_id: int) -> dict:
    """A stage a deal may move to: a known, active stage of the deal's pipeline."""
    if not isinstance(code, str) or not code.strip():
        raise ValidationError("field.required", field="deal.stage")
    try:
        stage = pipelines.stage(con, code.strip())
    except ValidationError:
        raise ValidationError("field.bad_choice", field="deal.stage", value=fields.short(code)) from None
    if stage["pipeline_id"] != pipeline_id or not stage["active"]:
        raise ValidationError("deal.stage_not_in_pipeline", field="deal.stage", value=fields.short(code))
    return stage


def _hold_stage(con, code: str) -> None:
    """The target stage is written inside the unit (core.pipelines.hold_stage): removing or deactivating
    it meanwhile conflicts with this unit, whose retry then refuses the move (stage no longer active)."""
    pipelines.hold_stage(con, code)


def _stale(con, defs: dict, old: dict, seen: Any, role: str) -> None:
    records.refuse_stale(con, SPEC, defs, old, seen, role)


def _version(actor: Actor, old: dict) -> dt.datetime:
    return max(actor.now, old["updated_at"] + dt.timedelta(microseconds=1))


def _history(con, actor: Actor, deal_id: int, from_stage: str | None, to_stage: str) -> None:
    con.execute("INSERT INTO deal_stage_history (id, deal_id, from_stage, to_stage, changed_at, changed_by) "
                "VALUES (nextval('seq_deal_stage_history'), ?, ?, ?, ?, ?)",
                [deal_id, from_stage, to_stage, actor.now, actor.id])


def _clean_lines(con, lines: Any) -> list[dict]:
    """Lines as stored: each with a product of the catalogue or a description, a quantity and a unit
    price >= 0 within bounds, a discount 0-100 %, and its amount."""
    if lines is None:
        return []
    if isinstance(lines, (str, bytes, dict)) or not isinstance(lines, (list, tuple)) or len(lines) > MAX_LINES:
        raise ValidationError("deal.bad_lines", max=MAX_LINES)
    out = []
    for raw in lines:
        if not isinstance(raw, dict):
            raise ValidationError("deal.bad_lines", max=MAX_LINES)
        values = {k: v for k, v in raw.items() if k in LINE_FIELDS and not (k == "discount" and v is None)}
        unknown = [k for k in raw if k not in LINE_FIELDS and k not in ("id", "position", "amount", "product_code",
                                                                          "product_name", "product_name_zh")]
        if unknown:
            raise ValidationError("field.unknown", value=fields.short(unknown[0]))
        line = fields.clean(con, LINE_FIELDS, values, creating=True)
        for name in ("quantity", "unit_price"):
            money.refuse_vanishing(LINE_FIELDS[name], raw.get(name), line.get(name))
        line.setdefault("discount", 0.0)
        line["discount"] = line["discount"] or 0.0
        if line.get("product_id") is None and not line.get("description"):
            raise ValidationError("deal.line_needs_product", field="deal.line_product")
        amount = float(money.line_amount(line["quantity"], line["unit_price"], line["discount"]))
        if amount > AMOUNT_MAX:
            raise ValidationError("field.out_of_range", field="deal.amount", min="0", max=f"{int(AMOUNT_MAX):,}")
        line["amount"] = amount
        out.append(line)
    products = {p for p in (line.get("product_id") for line in out) if p is not None}
    if products:
        known = {r[0] for r in con.execute("SELECT id FROM products WHERE id IN (SELECT unnest(?)) "
                                           "AND deleted_at IS NULL", [sorted(products)]).fetchall()}
        missing = products - known
        if missing:
            raise ValidationError("field.bad_choice", field="deal.line_product", value=str(min(missing)))
    if round(sum(line["amount"] for line in out), 2) > AMOUNT_MAX:
        raise ValidationError("field.out_of_range", field="deal.amount", min="0", max=f"{int(AMOUNT_MAX):,}")
    return out


def _write_lines(con, deal_id: int, lines: list[dict]) -> float | None:
    """Replace the deal's lines; the total of the new lines (None when there are none)."""
    con.execute("DELETE FROM deal_lines WHERE deal_id = ?", [deal_id])
    if not lines:
        return None
    ids = db.next_ids(con, "deal_lines", len(lines))
    con.execute(
        "INSERT INTO deal_lines (id, deal_id, position, product_id, description, quantity, unit_price, discount, "
        "amount) SELECT unnest(?), ?, unnest(?), unnest(?::BIGINT[]), unnest(?::VARCHAR[]), unnest(?::DOUBLE[]), "
        "unnest(?::DOUBLE[]), unnest(?::DOUBLE[]), unnest(?::DOUBLE[])",
        [ids, deal_id, list(range(1, len(lines) + 1)), [x.get("product_id") for x in lines],
         [x.get("description") for x in lines], [x["quantity"] for x in lines], [x["unit_price"] for x in lines],
         [x["discount"] for x in lines], [x["amount"] for x in lines]])
    return round(sum(x["amount"] for x in lines), 2)


def _lines_summary(lines: Iterable[dict]) -> str | None:
    parts = [f"{x.get('product_id') or x.get('description')} x{float(x['quantity']):g} @{float(x['unit_price']):g}"
             + (f" -{float(x['discount']):g}%" if x.get("discount") else "") for x in lines]
    return "; ".join(parts)[:1000] or None


def _money(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


# ---------------------------------------------------------------------------------------- writing
def create_deal(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict[str, Any],
                lines: list[dict] | None = None, owner_id: int | str = "me", lead_id: int | None = None) -> int:
    """A new deal on a customer the actor may see (NotFound otherwise). It starts at the pipeline's
    first open stage unless an open stage of that pipeline is given, with the stage's probability
    unless one is given (then the owner's override); currency defaults to the company's. The first
    stage-history row, the lines (the amount follows them) and the audit rows are written in the same
    unit. Giving the deal to someone else needs the deals `assign` scope over the owner's team."""
    access.require(con, actor, "deals", "create")
    if not isinstance(values, dict):
        raise ValidationError("field.bad_values")
    _defs, own, custom = records.prepare(con, actor, SPEC, values, creating=True)
    for key in ("lost_reason", "closed_on", "won_reason"):
        if own.get(key) is not None:
            raise ValidationError("deal.closed_by_move", field=FIELDS[key].label)
    clean_lines = _clean_lines(con, lines)
    if owner_id == "me":
        owner_id = actor.id
    if owner_id is None or isinstance(owner_id, bool) or not isinstance(owner_id, int):
        raise ValidationError("assign.bad_owner")

    def work():
        customer = _customer(con, actor, own["customer_id"])
        _check_contact(con, own.get("contact_id"), customer["id"])
        owner, team = access.check_holder(con, actor, "deals", owner_id, None)
        pipeline_id = _pipeline(con, own.get("pipeline_id"))
        if own.get("stage"):
            stage = _target_stage(con, own["stage"], pipeline_id)
            if stage["is_won"] or stage["is_lost"]:
                raise ValidationError("deal.closed_by_move", field="deal.stage")
        else:
            stage = pipelines.first_open_stage(con, pipeline_id)
        _hold_stage(con, stage["code"])
        deal_id = db.next_id(con, "deals")
        row = {**own, "id": deal_id, "pipeline_id": pipeline_id, "stage": stage["code"],
               "currency": own.get("currency") or company_currency(con),
               "probability": own["probability"] if own.get("probability") is not None else stage["probability"],
               "probability_set": own.get("probability") is not None,
               "engaged_on": clock.local_today(con, actor.now), "owner_id": owner, "team_id": team,
               "lead_id": lead_id, "stage_changed_at": actor.now,
               "custom": json.dumps(custom, ensure_ascii=False) if custom else None,
               "created_by": actor.id, "created_at": actor.now, "updated_at": actor.now}
        total = _write_lines(con, deal_id, clean_lines)
        if total is not None:
            row["amount"] = total
        records.insert(con, "deals", row)
        _history(con, actor, deal_id, None, stage["code"])
        audit.record(con, actor, "create", "deal", deal_id, {
            k: (None, v) for k, v in {**own, **custom, "stage": stage["code"], "owner_id": owner,
                                      "amount": row.get("amount"), "lines": _lines_summary(clean_lines)}.items()
            if v is not None})
        return deal_id

    return db.write(con, work)


def update_deal(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any, changes: dict[str, Any],
                seen: dict | None = None) -> dict:
    """Edit fields of a deal the actor may edit; only what differs is written, and audited.

    `seen` is the deal as the user saw it (get_deal): changed since, the edit is a Conflict naming the
    fields that changed and who changed them. The stage changes by `move_stage`, the customer and the
    pipeline not at all; the amount of a deal with lines follows its lines; a probability set here is
    the owner's override (None goes back to the stage's default)."""
    access.require(con, actor, "deals", "edit")
    deal_id = record_id(deal_id)
    if not isinstance(changes, dict):
        raise ValidationError("field.bad_values")
    for key, message in (("stage", "deal.stage_by_move"), ("customer_id", "deal.customer_fixed"),
                         ("pipeline_id", "deal.pipeline_fixed")):
        if key in changes:
            raise ValidationError(message, field=FIELDS[key].label)
    defs, own, custom = records.prepare(con, actor, SPEC, changes, creating=False)

    def work():
        old = _load(con, actor, deal_id, "edit")
        _stale(con, defs, old, seen, actor.role)
        diff, new_custom = records.changes(old, own, custom)
        if "amount" in diff:
            diff["amount"] = (old["amount"], own["amount"])
            if _money(old["amount"]) == _money(own["amount"]):
                diff.pop("amount")
            elif db.scalar(con, "SELECT count(*) FROM deal_lines WHERE deal_id = ?", [old["id"]]):
                raise ValidationError("deal.amount_from_lines", field="deal.amount")
        if "lost_reason" in diff and not old["is_lost"]:
            raise ValidationError("deal.closed_by_move", field="deal.lost_reason")
        if "lost_reason" in diff and diff["lost_reason"][1] is None:
            raise ValidationError("deal.lost_reason_required", field="deal.lost_reason")
        if "closed_on" in diff and (not old["is_closed"] or diff["closed_on"][1] is None):
            raise ValidationError("deal.closed_by_move", field="deal.closed_on")
        if "closed_on" in diff and diff["closed_on"][1] > clock.local_today(con, actor.now):
            raise ValidationError("deal.closed_in_future", field="deal.closed_on")
        if "contact_id" in diff:
            _check_contact(con, diff["contact_id"][1], old["customer_id"])
        if "probability" in own:
            if own["probability"] is None:
                default = old["stage_probability"]
                if old["probability"] != default:
                    diff["probability"] = (old["probability"], default)
                else:
                    diff.pop("probability", None)
                if old["probability_set"]:
                    diff["probability_set"] = (True, False)
            elif not old["probability_set"]:
                diff["probability_set"] = (False, True)
        if not diff and new_custom is None:
            return {}
        records.write_changes(con, actor, SPEC, old, diff, new_custom, _COLUMNS)
        return diff

    return db.write(con, work)


def set_lines(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any, lines: list[dict],
              seen: dict | None = None) -> dict:
    """Replace the deal's lines (product, description, quantity, unit price, discount %); the deal's
    amount becomes their total (with no lines left, the amount stays as it was and may be edited).
    Returns {"amount": total or None, "lines": n}."""
    access.require(con, actor, "deals", "edit")
    deal_id = record_id(deal_id)
    clean_lines = _clean_lines(con, lines)

    def work():
        old = _load(con, actor, deal_id, "edit")
        _stale(con, fields.definitions(con, "deal"), old, seen, actor.role)
        before = _lines(con, old["id"])
        total = _write_lines(con, old["id"], clean_lines)
        diff: dict[str, tuple[Any, Any]] = {}
        if _lines_summary(before) != _lines_summary(clean_lines):
            diff["lines"] = (_lines_summary(before), _lines_summary(clean_lines))
        if total is not None and _money(old["amount"]) != total:
            diff["amount"] = (old["amount"], total)
        if diff:
            sets = ["updated_at = ?"]
            args: list[Any] = [_version(actor, old)]
            if "amount" in diff:
                sets.append("amount = ?")
                args.append(total)
            con.execute(f"UPDATE deals SET {', '.join(sets)} WHERE id = ?", args + [old["id"]])  # sql-ok: fixed
            audit.record(con, actor, "update", "deal", old["id"], diff)
        return {"amount": total, "lines": len(clean_lines)}

    return db.write(con, work)


def _handoff_needed(con, actor: Actor, customer_id: int | None, deal_id: int) -> bool:
    """The customer's first won deal, and core.handoff says the hand-off is still to be filled in."""
    from core import handoff  # imports customers, which the deal services must not need at import time
    if customer_id is None:
        return False
    others = db.scalar(con, "SELECT count(*) FROM deals d JOIN pipeline_stages s ON s.code = d.stage "
                            "WHERE d.customer_id = ? AND d.id <> ? AND d.deleted_at IS NULL AND s.is_won",
                       [customer_id, deal_id])
    return not others and handoff.needed(con, customer_id, actor.now)


_DATE = Field("closed_on", "date", "deal.closed_on")
_COMPETITOR = FIELDS["competitor"]
_WON_REASON = FIELDS["won_reason"]


def move_stage(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any, to_stage: str, seen: dict | None = None,
               closed_on: Any = None, lost_reason: Any = None, competitor: Any = None, won_reason: Any = None,
               _reopen: bool = False) -> dict:
    """Move a deal to another stage of its pipeline, forward or back, in one unit of work: the stage,
    `stage_changed_at`, the probability (the stage's default unless the owner set one; a won or lost
    stage always takes its own), the close date and reasons, a `deal_stage_history` row and the audit.

    Won: `closed_on` (a date, not after the company's today; default today), optional won_reason.
    Lost: `lost_reason`, a code of the lost-reason list (required), optional competitor and closed_on.
    Leaving a won or lost stage is a reopen: only the owner's manager or an admin (`can_reopen`).
    `seen` (a dict with the `updated_at` the user saw): a deal changed since is a Conflict.
    Returns {"deal_id", "from", "to", "won", "lost", "handoff_needed"}."""
    access.require(con, actor, "deals", "edit")
    deal_id = record_id(deal_id)
    closed = fields.clean_value(con, _DATE, closed_on) if closed_on is not None else None
    competitor = fields.clean_value(con, _COMPETITOR, competitor) if competitor is not None else None
    won_reason = fields.clean_value(con, _WON_REASON, won_reason) if won_reason is not None else None
    if isinstance(lost_reason, str):
        lost_reason = lost_reason.strip() or None
    if seen is not None and not isinstance(seen, dict):
        raise ValidationError("field.bad_values")

    def work():
        old = _load(con, actor, deal_id, "edit")
        _stale(con, fields.definitions(con, "deal"), old, seen, actor.role)
        stage = _target_stage(con, to_stage, old["pipeline_id"])
        result = {"deal_id": old["id"], "from": old["stage"], "to": stage["code"], "won": bool(stage["is_won"]),
                  "lost": bool(stage["is_lost"]), "handoff_needed": False}
        if stage["code"] == old["stage"]:
            return result
        _hold_stage(con, stage["code"])
        reopening = old["is_closed"]
        if reopening and not can_reopen(con, actor, old):
            raise PermissionDenied("deal.reopen_denied")
        today = clock.local_today(con, actor.now)
        diff: dict[str, tuple[Any, Any]] = {"stage": (old["stage"], stage["code"])}
        if stage["is_won"] or stage["is_lost"]:
            when = closed or today
            if when > today:
                raise ValidationError("deal.closed_in_future", field="deal.closed_on")
            diff["closed_on"] = (old["closed_on"], when)
            probability = stage["probability"]
        else:
            if old["closed_on"] is not None:
                diff["closed_on"] = (old["closed_on"], None)
            probability = old["probability"] if old["probability_set"] and not reopening else stage["probability"]
            if reopening and old["probability_set"]:
                diff["probability_set"] = (True, False)
        if stage["is_lost"]:
            if lost_reason is None:
                raise ValidationError("deal.lost_reason_required", field="deal.lost_reason")
            if not isinstance(lost_reason, str) or lost_reason not in {r["code"] for r in lost_reasons(con)}:
                raise ValidationError("field.bad_choice", field="deal.lost_reason", value=fields.short(lost_reason))
            diff["lost_reason"] = (old["lost_reason"], lost_reason)
            if competitor is not None:
                diff["competitor"] = (old["competitor"], competitor)
        elif old["lost_reason"] is not None:
            diff["lost_reason"] = (old["lost_reason"], None)
        if stage["is_won"] and won_reason is not None:
            diff["won_reason"] = (old["won_reason"], won_reason)
        elif not stage["is_won"] and old["won_reason"] is not None:
            diff["won_reason"] = (old["won_reason"], None)
        if probability != old["probability"]:
            diff["probability"] = (old["probability"], probability)
        diff = {k: v for k, v in diff.items() if v[0] != v[1]}
        sets = {k: v for k, (_o, v) in diff.items()}
        sets.update({"stage_changed_at": actor.now, "updated_at": _version(actor, old)})
        con.execute(f"UPDATE deals SET {', '.join(f'{k} = ?' for k in sets)} WHERE id = ?",  # sql-ok: fixed keys
                    list(sets.values()) + [old["id"]])
        _history(con, actor, old["id"], old["stage"], stage["code"])
        audit.record(con, actor, "reopen" if reopening else "update", "deal", old["id"], diff)
        if stage["is_won"]:
            _customer_won(con, actor, old["customer_id"])
            result["handoff_needed"] = _handoff_needed(con, actor, old["customer_id"], old["id"])
        return result

    return db.write(con, work)


def _customer_won(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: int | None) -> None:
    """The rule book's lifecycle: a customer whose deal is won becomes won (成交), unless already won or
    pending upgrade; the change is versioned and audited like any customer edit (its stage history)."""
    row = db.one(con, "SELECT stage, updated_at FROM customers WHERE id = ? AND deleted_at IS NULL", [customer_id])
    if row is None or row["stage"] in ("won", "upgrade"):
        return
    version = max(actor.now, row["updated_at"] + dt.timedelta(microseconds=1))
    con.execute("UPDATE customers SET stage = 'won', won_at = coalesce(won_at, ?), updated_at = ? WHERE id = ?",
                [actor.now, version, customer_id])
    audit.record(con, actor, "update", "customer", customer_id, {"stage": (row["stage"], "won")})


def reopen(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any, to_stage: str | None = None,
           seen: dict | None = None) -> dict:
    """Reopen a won or lost deal (the owner's manager or an admin only): back to `to_stage`, or to the
    open stage it left when it closed (else the pipeline's first open stage). Audited as a reopen, with
    its stage-history row."""
    access.require(con, actor, "deals", "edit")
    deal = _load(con, actor, deal_id, "edit")
    if not deal["is_closed"]:
        raise ValidationError("deal.not_closed")
    if not can_reopen(con, actor, deal):
        raise PermissionDenied("deal.reopen_denied")
    if to_stage is None:
        to_stage = db.scalar(
            con, "SELECT h.from_stage FROM deal_stage_history h JOIN pipeline_stages s ON s.code = h.from_stage "
                 "WHERE h.deal_id = ? AND NOT s.is_won AND NOT s.is_lost AND s.active AND s.pipeline_id = ? "
                 "ORDER BY h.changed_at DESC, h.id DESC LIMIT 1", [deal["id"], deal["pipeline_id"]])
        if to_stage is None:
            to_stage = pipelines.first_open_stage(con, deal["pipeline_id"])["code"]
    target = _target_stage(con, to_stage, deal["pipeline_id"])
    if target["is_won"] or target["is_lost"]:
        raise ValidationError("deal.reopen_to_open", field="deal.stage")
    return move_stage(con, actor, deal["id"], target["code"], seen=seen)


def reassign(con: duckdb.DuckDBPyConnection, actor: Actor, deal_ids: Any, owner_id: Any) -> dict:
    """Give deals to another user (needs the deals `assign` scope over the deals and the new owner's
    team); the deal's team follows its owner. Returns {"done": n, "skipped": m}."""
    access.require(con, actor, "deals", "assign")
    if isinstance(deal_ids, (int, str)) and not isinstance(deal_ids, bool):
        deal_ids = [deal_ids]
    if isinstance(deal_ids, (bytes, dict)) or not isinstance(deal_ids, (list, tuple, set)) \
            or not 0 < len(deal_ids) <= 500:
        raise ValidationError("bulk.bad_selection", max=500)
    ids = sorted({record_id(i) for i in deal_ids})
    if owner_id is None or isinstance(owner_id, bool) or not isinstance(owner_id, int):
        raise ValidationError("assign.bad_owner")

    def work():
        owner, team = access.check_holder(con, actor, "deals", owner_id, None)
        where, params = access.predicate(con, actor, "deals", "assign", "x")
        rows = db.rows(con, f"SELECT x.id, x.owner_id, x.team_id FROM deals x WHERE x.id IN (SELECT unnest(?)) "
                            f"AND x.deleted_at IS NULL AND {where}", [ids] + params)
        if not rows and len(ids) == 1:
            raise NotFound(SPEC.not_found)
        moved = [r for r in rows if r["owner_id"] != owner or r["team_id"] != team]
        if moved:
            con.execute("UPDATE deals SET owner_id = ?, team_id = ?, updated_at = greatest(updated_at + "
                        "INTERVAL 1 MICROSECOND, ?) WHERE id IN (SELECT unnest(?))",
                        [owner, team, actor.now, [r["id"] for r in moved]])
            for old in {r["owner_id"] for r in moved}:
                audit.record_many(con, actor, "reassign", "deal", [r["id"] for r in moved if r["owner_id"] == old],
                                  field="owner_id", old=old, new=owner)
        return {"done": len(moved), "skipped": len(ids) - len(rows)}

    return db.write(con, work)


def delete_deal(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any) -> None:
    """Move a deal to the recycle bin (needs the deals delete scope over it); its lines and history stay."""
    access.require(con, actor, "deals", "delete")
    recycle.delete(con, actor, "deal", [record_id(deal_id)])


def touch_activity(con: duckdb.DuckDBPyConnection, deal_id: int, occurred_at: dt.datetime) -> None:
    """A follow-up was logged on the deal (inside that unit of work): its last activity moves forward
    (never back). Not a user edit: the deal's version does not move."""
    con.execute("UPDATE deals SET last_activity_at = ? WHERE id = ? "
                "AND (last_activity_at IS NULL OR last_activity_at < ?)", [occurred_at, deal_id, occurred_at])


fields.register("deal", FIELDS)


def assignees(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """Who the actor may give deals to (id, name, team_name): active users of a holding role within
    the actor's deals `assign` scope; empty without that right."""
    scope = access.scope_of(con, actor, "deals", "assign")
    if scope == "none":
        return []
    roles = list(access.HOLDER_ROLES)
    base = ("SELECT u.id, u.name, t.name AS team_name FROM users u LEFT JOIN teams t ON t.id = u.team_id "
            "WHERE u.active AND u.deleted_at IS NULL AND u.role IN (SELECT unnest(?))")
    if scope == "all":
        return db.rows(con, base + " ORDER BY u.name, u.id", [roles])
    if scope == "own":
        return db.rows(con, base + " AND u.id = ?", [roles, actor.id])
    teams = [actor.team_id] if scope == "team" else list(actor.team_tree or (actor.team_id,))
    return db.rows(con, base + " AND (u.id = ? OR u.team_id IN (SELECT unnest(?))) ORDER BY u.name, u.id",
                   [roles, actor.id, [x for x in teams if x is not None]])
