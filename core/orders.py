"""Transactions (交易记录): orders with their lines, payment plans (回款计划) and received payments (回款).

An order belongs to a customer and has an owner and a team (the "orders" permission module scopes it
like any record). It is entered by hand or made from a won deal (`create_from_deal`: its lines come
from the deal's lines, or one line for the deal's amount; `orders.deal_id` links it back to the deal).

Statuses and the moves between them (nothing else is allowed):

    draft      -> confirmed   the order is final: its lines and date are locked; it is invoiced
    draft      -> cancelled   given up before it was confirmed
    confirmed  -> cancelled   only while nothing was received (money in means: refund it instead)
    confirmed  -> refunded    only once something was received (the money went back)
    cancelled, refunded       final

Money, the same everywhere (order page, customer page, overdue list):
- invoiced     = the amounts of confirmed orders;
- received     = live payments on confirmed orders (a refunded order's payments went back);
- outstanding  = per confirmed order, its amount minus what was received on it (never below zero:
                 a payment larger than what is outstanding is refused, not kept as credit);
- revenue      = invoiced, net of credit notes: imported cancellations and refunds carry a negative
                 amount (retail "C…" invoices) and are subtracted; our own cancelled and refunded
                 orders simply stop counting;
- order count and last order date count confirmed orders (a date after the company's today never
  counts as the last order date).

Limits and rounding are those of core.money, the same as a deal's: any valid won deal becomes an order.
An order is dated no later than the company's today (a future order date is refused when an order is
entered or edited, and a draft still dated in the future cannot be confirmed).
Only orders the viewer may see count (a number is never computed over rows its viewer may not open).

Payment plans: amounts due by a date, on draft or confirmed orders, never more in total than the
order's amount. Payments are made against the order, not against one plan: they cover the plans in
due-date order, the earliest first (ties by the plan's id), whatever day the money arrived. A plan is
overdue when it is due before the company's today and not fully covered; what is overdue is its part
not covered. Payments are only taken on confirmed orders, dated no later than today.

Every write is one unit of work with its audit rows (plans and payments are audited on their order:
fields `plan` and `payment`); edits carry the version the user saw (`seen`) and a stale one is a
Conflict. Orders go to the recycle bin (entity "order"); their lines, plans and payments stay with them.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from core import access, audit, clock, db, fields, listing, money, records, recycle, settings
from core.context import Actor
from core.errors import DuplicateError, NotFound, PermissionDenied, ValidationError
from core.fields import Field

STATUSES = ("draft", "confirmed", "cancelled", "refunded")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("confirmed", "cancelled"),
    "confirmed": ("cancelled", "refunded"),
    "cancelled": (),
    "refunded": (),
}
METHODS = ("bank_transfer", "cash", "card", "alipay", "wechat", "cheque", "other")
MAX_LINES = 200
MAX_TOTAL = Decimal(money.AMOUNT_MAX)   # a line, an order, a plan or a payment: the limit of a deal's amount
CENT = money.CENT

HEADER: dict[str, Field] = {f.name: f for f in (
    Field("customer_id", "int", "order.customer", required=True, min=1, max=10**18),
    Field("ordered_at", "datetime", "order.ordered_at", nullable=False),
    Field("notes", "longtext", "order.notes", max_len=2000),
)}
LINE: dict[str, Field] = {f.name: f for f in (
    Field("product_id", "int", "order.product", min=1, max=10**18),
    Field("description", "text", "order.description", max_len=200),
    Field("quantity", "number", "order.quantity", min=0, max=money.QUANTITY_MAX, nullable=False,
          decimals=money.QUANTITY_DECIMALS),
    Field("unit_price", "number", "order.unit_price", min=0, max=money.UNIT_PRICE_MAX, nullable=False,
          decimals=money.PRICE_DECIMALS),
    Field("discount", "number", "order.discount", min=0, max=100),
)}
PLAN: dict[str, Field] = {f.name: f for f in (
    Field("due_on", "date", "order.due_on", required=True),
    Field("amount", "number", "order.plan_amount", required=True, min=0.01, max=float(MAX_TOTAL)),
    Field("note", "text", "order.note", max_len=200),
)}
PAYMENT: dict[str, Field] = {f.name: f for f in (
    Field("paid_on", "date", "order.paid_on", required=True),
    Field("amount", "number", "order.paid_amount", required=True, min=0.01, max=float(MAX_TOTAL)),
    Field("method", "choice", "order.method", options=METHODS),
    Field("note", "text", "order.note", max_len=200),
)}

LIST = listing.ListSpec(
    module="orders", table="orders",
    columns="x.id, x.order_no, x.customer_id, cu.name AS customer_name, x.deal_id, x.ordered_at, x.status, "
            "x.amount::DOUBLE AS amount, x.currency, x.owner_id, o.name AS owner_name, x.team_id, "
            "t.name AS team_name, x.updated_at",
    joins="LEFT JOIN customers cu ON cu.id = x.customer_id LEFT JOIN users o ON o.id = x.owner_id "
          "LEFT JOIN teams t ON t.id = x.team_id",
    sorts={"ordered_at": ("x.ordered_at", ""), "amount": ("x.amount", ""), "order_no": ("x.order_no", ""),
           "status": ("x.status", ""), "updated_at": ("x.updated_at", ""),
           "customer_name": ("cu.name", "LEFT JOIN customers cu ON cu.id = x.customer_id"),
           "owner_name": ("o.name", "LEFT JOIN users o ON o.id = x.owner_id")},
)
SORTS = tuple(LIST.sorts)
_FILTER_KEYS = {"q", "status", "customer_id", "owner_id", "date_from", "date_to", "deal_id"}


# ---------------------------------------------------------------------------------------- helpers
def record_id(value: Any) -> int:
    return records.record_id(value, "order.not_found")


def _money(value: Any) -> Decimal:
    return money.cents(value)


def _qty(value: Any) -> str:
    """A quantity as text, every stored decimal and no trailing zeros (2, 1,000,000, 0.125)."""
    return f"{float(value):,.3f}".rstrip("0").rstrip(".")


def _price(value: Any) -> str:
    """A unit price as text: 2 decimals, up to 4 when it has them (12.50, 0.0004)."""
    text = f"{float(value):,.4f}"
    return text[:-2] if text.endswith("00") else text[:-1] if text.endswith("0") else text


def _currency(con) -> str:
    if "company.currency" in settings.DEFAULTS:  # the company's currency setting (issue 7, deals)
        return str(settings.get(con, "company.currency") or "CNY")
    return "CNY"


def _today(con, actor: Actor) -> dt.date:
    return clock.local_today(con, actor.now)


def _refuse_future(con, actor: Actor, ordered_at: dt.datetime | None) -> None:
    """An order is dated no later than the company's today (a date in the future would become the
    customer's last order date)."""
    if ordered_at is not None and clock.to_local(con, ordered_at).date() > _today(con, actor):
        raise ValidationError("order.dated_in_future")


def _clean(con, defs: dict[str, Field], values: Any, creating: bool) -> dict:
    return fields.clean(con, defs, values, creating=creating)


def _clean_lines(con, lines: Any) -> list[dict]:
    """Lines as stored: product (a live catalogue product) or a description (one of them at least),
    quantity (3 decimals), unit price (4 decimals) and discount percent within the limits of core.money
    (those of a deal's lines); amount = quantity x price x (1 - discount%), rounded half up to the cent
    (core.money.line_amount, the same rounding as a deal's lines)."""
    if not isinstance(lines, (list, tuple)):
        raise ValidationError("field.bad_values")
    if len(lines) > MAX_LINES:
        raise ValidationError("order.too_many_lines", max=MAX_LINES)
    out = []
    for raw in lines:
        line = _clean(con, LINE, raw, creating=False)
        for name in ("quantity", "unit_price"):  # 0.00004 is refused, not stored as 0 (core.money)
            money.refuse_vanishing(LINE[name], raw.get(name) if isinstance(raw, dict) else None, line.get(name))
        if line.get("quantity") is None or line.get("unit_price") is None:
            raise ValidationError("field.required", field="order.quantity" if line.get("quantity") is None
                                  else "order.unit_price")
        if line.get("product_id") is None and not line.get("description"):
            raise ValidationError("order.line_needs_product")
        out.append(line)
    wanted = sorted({x["product_id"] for x in out if x.get("product_id") is not None})
    if wanted:
        known = {r["id"]: r for r in db.rows(
            con, "SELECT id, code, name FROM products WHERE id IN (SELECT unnest(?)) AND deleted_at IS NULL", [wanted])}
        missing = [p for p in wanted if p not in known]
        if missing:
            raise ValidationError("order.unknown_product", value=str(missing[0]))
    else:
        known = {}
    total = Decimal(0)
    for line in out:
        disc = Decimal(str(line.get("discount") or 0))
        line["discount"] = float(disc)
        line["amount"] = money.line_amount(line["quantity"], line["unit_price"], disc)
        if line["amount"] > MAX_TOTAL:
            raise ValidationError("order.too_large")
        product = known.get(line.get("product_id"))
        line["sku"] = product["code"] if product else None
        if not line.get("description") and product:
            line["description"] = product["name"]
        total += line["amount"]
    if total > MAX_TOTAL:
        raise ValidationError("order.too_large")
    return out


def _write_lines(con, order_id: int, lines: list[dict]) -> Decimal:
    """Replace the order's lines (one statement each way); returns the new total."""
    con.execute("DELETE FROM order_lines WHERE order_id = ?", [order_id])
    if lines:
        ids = db.next_ids(con, "order_lines", len(lines))
        con.execute(
            "INSERT INTO order_lines (id, order_id, product_id, sku, description, quantity, unit_price, amount, discount) "
            "SELECT unnest(?), ?, unnest(?), unnest(?), unnest(?), unnest(?), unnest(?), unnest(?), unnest(?)",
            [ids, order_id, [x.get("product_id") for x in lines], [x.get("sku") for x in lines],
             [x.get("description") for x in lines], [x["quantity"] for x in lines],
             [x["unit_price"] for x in lines], [x["amount"] for x in lines], [x["discount"] for x in lines]])
    return sum((x["amount"] for x in lines), Decimal(0))


def _lines_text(lines: list[dict]) -> str:
    return "; ".join(f"{x.get('description') or x.get('sku') or x.get('product_id')} "
                     f"{_qty(x['quantity'])} x {_price(x['unit_price'])}"
                     + (f" -{x['discount']:g}%" if x.get("discount") else "") for x in lines)


def _visible_customer(con, actor: Actor, customer_id: Any) -> dict:
    """A live customer the actor may view; NotFound otherwise (no leak of existence)."""
    cid = records.record_id(customer_id, "customer.not_found")
    where, params = access.predicate(con, actor, "customers", "view", "c")
    row = db.one(con, f"SELECT c.id, c.name FROM customers c WHERE c.id = ? AND c.deleted_at IS NULL AND {where}",
                 [cid] + params)
    if row is None:
        raise NotFound("customer.not_found")
    return row


def _load(con, actor: Actor, order_id: Any, action: str = "view") -> dict:
    """The raw row of a live order the actor may `action`, with customer, owner, team and deal names.
    The row first, then the names by their ids: a join would hash whole customers and deals tables
    (measured at scale L: about 90 ms joined, a few ms this way)."""
    oid = record_id(order_id)
    where, params = access.predicate(con, actor, "orders", action, "x")
    row = db.one(con, f"SELECT x.* FROM orders x WHERE x.id = ? AND x.deleted_at IS NULL AND {where}", [oid] + params)
    if row is None:
        raise NotFound("order.not_found")
    names = db.one(con, "SELECT (SELECT name FROM customers WHERE id = ?) AS customer_name, "
                        "(SELECT name FROM users WHERE id = ?) AS owner_name, (SELECT name FROM teams WHERE id = ?) "
                        "AS team_name, (SELECT name FROM deals WHERE id = ?) AS deal_name",
                   [row["customer_id"], row["owner_id"], row["team_id"], row["deal_id"]])
    return {**row, **names}


def _refuse_stale(con, old: dict, seen: Any) -> None:
    records.refuse_stale_labels(con, "order", old, seen,
                                {k: f"order.{k}" for k in ("status", "amount", "ordered_at", "notes", "owner_id")})


def _touch(con, actor: Actor, old: dict, sets: dict | None = None) -> dt.datetime:
    """Write the order's changed columns with a version that only moves forward. Every write to an
    order's money (plans, payments) goes through here, so two at once conflict and are retried."""
    version = max(actor.now, old["updated_at"] + dt.timedelta(microseconds=1))
    sets = dict(sets or {})
    assignments = "".join(f"{k} = ?, " for k in sets)  # keys: fixed column names of this module
    con.execute(f"UPDATE orders SET {assignments}updated_at = ? WHERE id = ?",  # sql-ok: fixed keys
                list(sets.values()) + [version, old["id"]])
    return version


def _paid(con, order_id: int) -> Decimal:
    return Decimal(db.scalar(con, "SELECT coalesce(sum(amount), 0) FROM payments WHERE order_id = ? "
                                  "AND deleted_at IS NULL", [order_id]))


# ---------------------------------------------------------------------------------------- reading
def get_order(con: duckdb.DuckDBPyConnection, actor: Actor, order_id: Any, action: str = "view") -> dict:
    """One order the actor may `action`, with its lines; NotFound outside the actor's scope."""
    row = _load(con, actor, order_id, action)
    row["lines"] = db.rows(con, "SELECT id, product_id, sku, description, quantity::DOUBLE AS quantity, "
                                "unit_price::DOUBLE AS unit_price, discount::DOUBLE AS discount, "
                                "amount::DOUBLE AS amount FROM order_lines WHERE order_id = ? ORDER BY id",
                           [row["id"]])
    row["amount"] = float(row["amount"])
    row["transitions"] = TRANSITIONS.get(row["status"], ())
    return row


def allowed(con: duckdb.DuckDBPyConnection, actor: Actor, order_id: Any, action: str) -> bool:
    if not access.can(con, actor, "orders", action):
        return False
    try:
        _load(con, actor, order_id, action)
    except NotFound:
        return False
    return True


def can_create_for(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any) -> bool:
    """Whether the actor may enter an order for this customer (the customer page offers "New order")."""
    if not access.can(con, actor, "orders", "create"):
        return False
    try:
        _visible_customer(con, actor, customer_id)
    except NotFound:
        return False
    return True


def orders_of_deal(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any) -> list[dict]:
    """The live orders made from a deal that the actor may see (the deal page links to them)."""
    did = records.record_id(deal_id, "order.not_found")
    where, params = access.predicate(con, actor, "orders", "view", "x")
    return db.rows(con, f"SELECT x.id, x.order_no, x.status, x.amount::DOUBLE AS amount, x.ordered_at FROM orders x "
                        f"WHERE x.deal_id = ? AND x.deleted_at IS NULL AND {where} ORDER BY x.id", [did] + params)


def owner_choices(con: duckdb.DuckDBPyConnection, actor: Actor) -> list[dict]:
    """The users whose orders the actor may list (the list's owner filter): id, name, team."""
    scope = access.require(con, actor, "orders", "view")
    if scope in ("own", "none"):
        where, params = "u.id = ?", [actor.id]
    elif scope == "all":
        where, params = "TRUE", []
    else:
        teams = [actor.team_id] if scope == "team" else list(actor.team_tree or (actor.team_id,))
        where, params = "(u.team_id IN (SELECT unnest(?)) OR u.id = ?)", [[x for x in teams if x is not None], actor.id]
    return db.rows(con, f"SELECT u.id, u.name, t.name AS team FROM users u LEFT JOIN teams t ON t.id = u.team_id "
                        f"WHERE u.deleted_at IS NULL AND u.role IN (SELECT unnest(?)) AND {where} ORDER BY u.name",
                   [list(access.HOLDER_ROLES)] + params)


def deal_for_order(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any) -> dict:
    """What the "order from a won deal" page shows before creating it: the deal (id, name, amount,
    currency, won, customer_id, customer_name), its line count and the live orders already made from
    it that the actor may see. NotFound for a deal out of the actor's deals scope."""
    did = records.record_id(deal_id, "deal.not_found")
    where, params = access.predicate(con, actor, "deals", "view", "d")
    deal = db.one(con, f"SELECT d.id, d.name, d.amount::DOUBLE AS amount, d.currency, coalesce(s.is_won, FALSE) AS won, "
                       f"d.customer_id, cu.name AS customer_name, "
                       f"(SELECT count(*) FROM deal_lines l WHERE l.deal_id = d.id) AS lines "
                       f"FROM deals d LEFT JOIN pipeline_stages s ON s.code = d.stage "
                       f"LEFT JOIN customers cu ON cu.id = d.customer_id "
                       f"WHERE d.id = ? AND d.deleted_at IS NULL AND {where}", [did] + params)
    if deal is None:
        raise NotFound("deal.not_found")
    deal["orders"] = orders_of_deal(con, actor, did) if access.can(con, actor, "orders", "view") else []
    return deal


def _plans_sql(plan_cond: str, pay_cond: str) -> str:
    """Each live plan selected by `plan_cond` (over alias p) with what payments cover of it; `pay_cond`
    (over alias y) selects the same orders' payments. An order's payments go to its plans in due-date
    order (earliest first, ties by id); covered = what is left of the paid total after the earlier
    plans, between 0 and the plan's amount."""
    return (
        "WITH pl AS (SELECT p.id, p.order_id, p.due_on, p.amount, p.note, p.created_at, "
        "  sum(p.amount) OVER (PARTITION BY p.order_id ORDER BY p.due_on, p.id "
        "    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - p.amount AS before "
        f"  FROM payment_plans p WHERE p.deleted_at IS NULL AND {plan_cond}), "
        "paid AS (SELECT y.order_id, sum(y.amount) AS paid FROM payments y WHERE y.deleted_at IS NULL "
        f"  AND {pay_cond} GROUP BY y.order_id) "
        "SELECT pl.*, least(greatest(coalesce(paid.paid, 0) - pl.before, 0), pl.amount) AS covered "
        "FROM pl LEFT JOIN paid ON paid.order_id = pl.order_id"
    )


_ONE_ORDER = _plans_sql("p.order_id = ?", "y.order_id = ?")


def order_plans(con: duckdb.DuckDBPyConnection, actor: Actor, order_id: Any) -> pl.DataFrame:
    """The order's payment plans by due date: amount, covered (by payments, earliest plan first), open
    and whether the open part is overdue (due before today, and the order confirmed)."""
    order = _load(con, actor, order_id)
    return db.frame(
        con,
        f"SELECT id, due_on, amount::DOUBLE AS amount, covered::DOUBLE AS covered, "  # sql-ok: fixed text
        f"(amount - covered)::DOUBLE AS open, (amount > covered AND due_on < ? AND ? = 'confirmed') AS overdue, "
        f"note FROM ({_ONE_ORDER}) ORDER BY due_on, id",
        [_today(con, actor), order["status"], order["id"], order["id"]],
    )


def order_payments(con: duckdb.DuckDBPyConnection, actor: Actor, order_id: Any) -> pl.DataFrame:
    """The order's live payments, newest first, with who recorded them."""
    order = _load(con, actor, order_id)
    return db.frame(con, "SELECT y.id, y.paid_at, y.amount::DOUBLE AS amount, y.method, y.note, u.name AS created_by_name "
                         "FROM payments y LEFT JOIN users u ON u.id = y.created_by "
                         "WHERE y.order_id = ? AND y.deleted_at IS NULL ORDER BY y.paid_at DESC, y.id DESC",
                    [order["id"]])


def order_summary(con: duckdb.DuckDBPyConnection, actor: Actor, order_id: Any) -> dict:
    """amount, invoiced, received, outstanding, paid (every live payment, whatever the status),
    refunded, planned, unplanned (amount not in any plan) and overdue of one order (module doc)."""
    order = _load(con, actor, order_id)
    today = _today(con, actor)
    row = db.one(
        con,
        f"SELECT coalesce(sum(amount), 0) AS planned, "  # sql-ok: fixed text
        f"coalesce(sum(amount - covered) FILTER (WHERE due_on < ?), 0) AS overdue "
        f"FROM ({_ONE_ORDER})",
        [today, order["id"], order["id"]],
    )
    amount, paid = Decimal(order["amount"]), _paid(con, order["id"])
    confirmed = order["status"] == "confirmed"
    invoiced = amount if confirmed else Decimal(0)
    received = paid if confirmed else Decimal(0)
    return {
        "status": order["status"], "currency": order["currency"], "amount": float(amount),
        "invoiced": float(invoiced), "received": float(received),
        "outstanding": float(max(invoiced - received, Decimal(0))), "paid": float(paid),
        "refunded": float(paid) if order["status"] == "refunded" else 0.0,
        "planned": float(row["planned"]), "unplanned": float(max(amount - Decimal(row["planned"]), Decimal(0))),
        "overdue": float(row["overdue"]) if confirmed else 0.0,
    }


_MONEY_SQL = (
    "WITH o AS MATERIALIZED (SELECT x.id, x.status, x.amount, x.ordered_at FROM orders x "
    "  WHERE x.customer_id = ? AND x.deleted_at IS NULL AND {where}), "
    "paid AS MATERIALIZED (SELECT y.order_id, sum(y.amount) AS paid FROM payments y "
    "  WHERE y.deleted_at IS NULL AND y.order_id IN (SELECT id FROM o WHERE status = 'confirmed') GROUP BY y.order_id), "
    "pl AS (SELECT p.order_id, p.amount, sum(p.amount) OVER (PARTITION BY p.order_id ORDER BY p.due_on, p.id "
    "  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - p.amount AS before FROM payment_plans p "
    "  WHERE p.deleted_at IS NULL AND p.due_on < ? AND p.order_id IN (SELECT id FROM o WHERE status = 'confirmed')) "
    "SELECT coalesce(sum(o.amount) FILTER (WHERE o.status = 'confirmed'), 0) AS invoiced, "
    "  coalesce(sum(paid.paid), 0) AS received, "
    "  coalesce(sum(greatest(o.amount - coalesce(paid.paid, 0), 0)) FILTER (WHERE o.status = 'confirmed'), 0) "
    "    AS outstanding, "
    "  coalesce(sum(o.amount) FILTER (WHERE o.status = 'confirmed' OR (o.status IN ('cancelled', 'refunded') "
    "    AND o.amount < 0)), 0) AS revenue, "
    "  count(*) FILTER (WHERE o.status = 'confirmed') AS order_count, "
    "  max(o.ordered_at) FILTER (WHERE o.status = 'confirmed' AND o.ordered_at < ?) AS last_order_at, "
    "  count(*) FILTER (WHERE o.status = 'draft') AS drafts, "
    "  (SELECT coalesce(sum(pl.amount - least(greatest(coalesce(pd.paid, 0) - pl.before, 0), pl.amount)), 0) "
    "    FROM pl LEFT JOIN paid pd ON pd.order_id = pl.order_id) AS overdue "
    "FROM o LEFT JOIN paid ON paid.order_id = o.id"
)


def customer_money(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any) -> dict:
    """invoiced, received, outstanding, revenue, order_count, last_order_at, drafts and overdue (the
    part of the outstanding that payment plans say is late) of a customer the actor may view, over the
    orders the actor may view (module doc), in one statement; NotFound for a customer out of reach."""
    customer = _visible_customer(con, actor, customer_id)
    where, params = access.predicate(con, actor, "orders", "view", "x")
    today = _today(con, actor)
    # imported or old rows may carry a future date: the last order date is never after today
    tomorrow = clock.day_bounds_utc(con, today)[1]
    row = db.one(con, _MONEY_SQL.format(where=where), [customer["id"]] + params + [today, tomorrow])
    out = {k: float(row[k]) for k in ("invoiced", "received", "outstanding", "revenue", "overdue")}
    out.update(order_count=int(row["order_count"]), last_order_at=row["last_order_at"], drafts=int(row["drafts"]),
               currency=_currency(con))
    return out


def customer_orders(con: duckdb.DuckDBPyConnection, actor: Actor, customer_id: Any, limit: int = 200) -> pl.DataFrame:
    """The customer's orders the actor may view, newest first, each with received and outstanding."""
    customer = _visible_customer(con, actor, customer_id)
    where, params = access.predicate(con, actor, "orders", "view", "x")
    return db.frame(
        con,
        f"WITH o AS (SELECT x.id, x.order_no, x.ordered_at, x.status, x.amount, x.currency, x.owner_id, x.deal_id "
        f"  FROM orders x WHERE x.customer_id = ? AND x.deleted_at IS NULL AND {where}), "
        f"paid AS (SELECT y.order_id, sum(y.amount) AS paid FROM payments y WHERE y.deleted_at IS NULL "
        f"  AND y.order_id IN (SELECT id FROM o) GROUP BY y.order_id) "
        f"SELECT o.id, o.order_no, o.ordered_at, o.status, o.amount::DOUBLE AS amount, "
        f"  (CASE WHEN o.status = 'confirmed' THEN coalesce(paid.paid, 0) ELSE 0 END)::DOUBLE AS received, "
        f"  (CASE WHEN o.status = 'confirmed' THEN greatest(o.amount - coalesce(paid.paid, 0), 0) ELSE 0 END)::DOUBLE "
        f"  AS outstanding, o.currency, u.name AS owner_name, o.deal_id "
        f"FROM o LEFT JOIN paid ON paid.order_id = o.id LEFT JOIN users u ON u.id = o.owner_id "
        f"ORDER BY o.ordered_at DESC, o.id DESC LIMIT ?",
        [customer["id"]] + params + [max(1, min(int(limit), 1000))],
    )


def _filters(con, actor: Actor, given: Any) -> tuple[list[str], list]:
    if given is None:
        return [], []
    if not isinstance(given, dict) or not set(given) <= _FILTER_KEYS:
        raise ValidationError("list.bad_filter")
    where, args = [], []
    q = given.get("q")
    if q:
        q = fields.search_text(q)
        if q:
            where.append("x.order_no ILIKE ?")
            args.append(f"%{q}%")
    status = given.get("status")
    if status not in (None, "", [], ()):
        items = list(status) if isinstance(status, (list, tuple)) else [status]
        if not all(isinstance(s, str) and s in STATUSES for s in items):
            raise ValidationError("list.bad_filter")
        where.append(f"x.status IN ({', '.join('?' for _ in items)})")
        args += items
    for key in ("customer_id", "owner_id", "deal_id"):
        value = given.get(key)
        if value not in (None, ""):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError("list.bad_filter")
            where.append(f"x.{key} = ?")
            args.append(value)
    for key, op, shift in (("date_from", ">=", 0), ("date_to", "<", 1)):
        value = given.get(key)
        if value in (None, ""):
            continue
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise ValidationError("list.bad_filter")
        where.append(f"x.ordered_at {op} ?")
        args.append(clock.day_bounds_utc(con, value + dt.timedelta(days=shift))[0])
    return where, args


def list_orders(con: duckdb.DuckDBPyConnection, actor: Actor, filters_: dict | None = None, sort: str = "ordered_at",
                desc: bool = True, page: int = 0, page_size: int = 50) -> tuple[pl.DataFrame, int]:
    """One page of the orders the actor may see (filters: q = order number, status, customer_id,
    owner_id, deal_id, date_from/date_to = company days, inclusive), and how many there are; each row
    with received and outstanding (one query over the page's orders)."""
    where, args = _filters(con, actor, filters_)
    df, total = listing.fetch_page(con, actor, LIST, where, args, sort, desc, page, page_size)
    ids = df["id"].to_list()
    paid = db.frame(con, "SELECT order_id AS id, sum(amount)::DOUBLE AS paid FROM payments WHERE deleted_at IS NULL "
                         "AND order_id IN (SELECT unnest(?)) GROUP BY order_id", [ids])
    df = df.join(paid, on="id", how="left").with_columns(pl.col("paid").fill_null(0.0))
    confirmed = pl.col("status") == "confirmed"
    df = df.with_columns(
        pl.when(confirmed).then(pl.col("paid")).otherwise(0.0).alias("received"),
        pl.when(confirmed).then((pl.col("amount") - pl.col("paid")).clip(lower_bound=0)).otherwise(0.0)
        .alias("outstanding"),
    ).drop("paid")
    return df, total


def can_see_overdue(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    """The overdue-receivables list is for those who manage others' orders: an edit scope wider than
    their own (managers: team tree; the admin: all)."""
    return access.scope_of(con, actor, "orders", "edit") in ("team", "team_tree", "all")


def overdue(con: duckdb.DuckDBPyConnection, actor: Actor, filters_: dict | None = None, as_of: dt.date | None = None,
            limit: int = 500) -> tuple[pl.DataFrame, dict]:
    """Overdue receivables within the actor's view scope: each plan of a confirmed order due before
    `as_of` (default: the company's today) whose amount is not covered by the order's payments (earliest
    plans first, see the module doc), oldest first, with the customer, owner, the open part and days
    overdue; and a summary over the whole list (plans, orders, customers, amount). Filters: owner_id,
    customer_id. Needs an edit scope over others' orders (`can_see_overdue`)."""
    if not can_see_overdue(con, actor):
        raise PermissionDenied("error.permission", module="orders", action="view")
    if as_of is None:
        as_of = _today(con, actor)
    if isinstance(as_of, dt.datetime) or not isinstance(as_of, dt.date):
        raise ValidationError("list.bad_filter")
    given = filters_ or {}
    if not isinstance(given, dict) or not set(given) <= {"owner_id", "customer_id"}:
        raise ValidationError("list.bad_filter")
    where, params = access.predicate(con, actor, "orders", "view", "x")
    extra, extra_args = "", []
    for key in ("owner_id", "customer_id"):
        value = given.get(key)
        if value not in (None, ""):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError("list.bad_filter")
            extra += f" AND x.{key} = ?"
            extra_args.append(value)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 5000:
        raise ValidationError("list.bad_page_size", max=5000)
    # Only plans due before `as_of` can be overdue, and the plans before them in the allocation are all
    # due before it too, so the allocation runs over those alone; and only for the orders whose plans due
    # so far exceed what was paid on them: one hash aggregate over plans and payments together finds them
    # (measured at scale L, 3.8M plans: 0.4 s, where two aggregates semi-joined to the scope took 2-4 s).
    ctes = (
        "WITH gap AS (SELECT order_id FROM ("
        "  SELECT p.order_id, p.amount AS a FROM payment_plans p WHERE p.deleted_at IS NULL AND p.due_on < ? "
        "  UNION ALL SELECT y.order_id, -y.amount FROM payments y WHERE y.deleted_at IS NULL) "
        "  GROUP BY order_id HAVING sum(a) > 0), "
        "late AS MATERIALIZED (SELECT gap.order_id, x.customer_id, (SELECT coalesce(sum(y.amount), 0) FROM payments y "
        "  WHERE y.order_id = gap.order_id AND y.deleted_at IS NULL) AS paid FROM gap JOIN orders x ON x.id = gap.order_id "
        f"  WHERE x.deleted_at IS NULL AND x.status = 'confirmed' AND {where}{extra}), "
        "pl AS (SELECT p.id, p.order_id, p.due_on, p.amount, late.paid, sum(p.amount) OVER (PARTITION BY p.order_id "
        "  ORDER BY p.due_on, p.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - p.amount AS before "
        "  FROM payment_plans p JOIN late ON late.order_id = p.order_id WHERE p.deleted_at IS NULL AND p.due_on < ?), "
        "open AS MATERIALIZED (SELECT id, order_id, due_on, amount, "
        "  least(greatest(paid - before, 0), amount) AS covered FROM pl WHERE amount > paid - before) "
    )
    args = [as_of] + params + extra_args + [as_of]
    # one statement: the page's rows carry the summary of the whole list (no rows: nothing is overdue)
    df = db.frame(
        con,
        ctes + ", top AS (SELECT * FROM open ORDER BY due_on, id LIMIT ?), "
        "summary AS (SELECT (SELECT count(*) FROM open) AS n_plans, (SELECT count(*) FROM late) AS n_orders, "
        "  (SELECT count(DISTINCT customer_id) FROM late) AS n_customers, "
        "  (SELECT sum(amount - covered) FROM open)::DOUBLE AS total) "
        "SELECT top.id AS plan_id, top.order_id, x.order_no, x.customer_id, cu.name AS customer_name, x.owner_id, "
        "  u.name AS owner_name, t.name AS team_name, top.due_on, top.amount::DOUBLE AS amount, "
        "  top.covered::DOUBLE AS covered, (top.amount - top.covered)::DOUBLE AS open, "
        "  date_diff('day', top.due_on, ?::DATE) AS days_overdue, summary.* "
        "FROM top JOIN orders x ON x.id = top.order_id CROSS JOIN summary "
        "LEFT JOIN customers cu ON cu.id = x.customer_id "
        "LEFT JOIN users u ON u.id = x.owner_id LEFT JOIN teams t ON t.id = x.team_id ORDER BY top.due_on, top.id",
        args + [limit, as_of])
    first = df.row(0, named=True) if df.height else {"n_plans": 0, "n_orders": 0, "n_customers": 0, "total": 0.0}
    summary = {"plans": int(first["n_plans"]), "orders": int(first["n_orders"]), "customers": int(first["n_customers"]),
               "amount": float(first["total"] or 0), "as_of": as_of}
    return df.drop("n_plans", "n_orders", "n_customers", "total"), summary


# ---------------------------------------------------------------------------------------- writing
def create_order(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict[str, Any], lines: list[dict] | None = None,
                 owner_id: int | None | str = "me") -> int:
    """A new draft order for a customer the actor may view (NotFound otherwise): values customer_id,
    ordered_at (default now; a date alone is 09:00 company time), notes; lines (see `_clean_lines`).
    The owner is the actor, or someone within the actor's orders assign scope."""
    access.require(con, actor, "orders", "create")
    if not isinstance(values, dict):
        raise ValidationError("field.bad_values")
    head = _clean(con, HEADER, {"ordered_at": actor.now, **values}, creating=True)
    _refuse_future(con, actor, head["ordered_at"])
    clean_lines = _clean_lines(con, lines or [])
    if owner_id == "me":
        owner_id = actor.id
    if owner_id is None or isinstance(owner_id, bool) or not isinstance(owner_id, int):
        raise ValidationError("assign.bad_owner")

    def work():
        customer = _visible_customer(con, actor, head["customer_id"])
        owner, team = access.check_holder(con, actor, "orders", owner_id, None)
        return _insert(con, actor, customer["id"], None, head["ordered_at"], head.get("notes"), owner, team,
                       _currency(con), clean_lines, "sales")

    return db.write(con, work)


def _insert(con, actor: Actor, customer_id: int, deal_id: int | None, ordered_at: dt.datetime, notes: str | None,
            owner: int | None, team: int | None, currency: str, lines: list[dict], channel: str) -> int:
    order_id = db.next_id(con, "orders")
    order_no = f"SO{order_id:08d}"
    total = sum((x["amount"] for x in lines), Decimal(0))
    records.insert(con, "orders", {
        "id": order_id, "order_no": order_no, "customer_id": customer_id, "deal_id": deal_id,
        "ordered_at": ordered_at, "status": "draft", "amount": total, "currency": currency, "channel": channel,
        "owner_id": owner, "team_id": team, "notes": notes, "created_by": actor.id, "created_at": actor.now,
        "updated_at": actor.now})
    _write_lines(con, order_id, lines)
    audit.record(con, actor, "create", "order", order_id, {k: (None, v) for k, v in {
        "order_no": order_no, "customer_id": customer_id, "deal_id": deal_id, "status": "draft",
        "amount": total, "owner_id": owner, "lines": _lines_text(lines) or None}.items() if v is not None})
    return order_id


def create_from_deal(con: duckdb.DuckDBPyConnection, actor: Actor, deal_id: Any, again: bool = False) -> int:
    """A draft order from a won deal the actor may view (NotFound otherwise; a deal not won is refused):
    its lines are the deal's lines, or one line for the deal's amount when it has none; the order keeps
    the deal's customer, owner, team and currency and links back to it (orders.deal_id). A deal that
    already has a live order (not cancelled) is refused with that order's number unless `again`."""
    access.require(con, actor, "orders", "create")
    did = records.record_id(deal_id, "deal.not_found")

    def work():
        where, params = access.predicate(con, actor, "deals", "view", "d")
        deal = db.one(
            con,
            f"SELECT d.id, d.name, d.customer_id, d.amount, d.currency, d.owner_id, d.team_id, s.is_won "
            f"FROM deals d LEFT JOIN pipeline_stages s ON s.code = d.stage "
            f"WHERE d.id = ? AND d.deleted_at IS NULL AND {where}", [did] + params)
        if deal is None:
            raise NotFound("deal.not_found")
        if not deal["is_won"]:
            raise ValidationError("order.deal_not_won")
        if deal["customer_id"] is None:
            raise ValidationError("order.deal_without_customer")
        customer = _visible_customer(con, actor, deal["customer_id"])
        # write the deal's row in this unit: a second unit making an order from the same deal at the same
        # time (two tabs, a double click) conflicts on it, runs again and finds this order. duckdb 2.0.0
        # ignores an update that leaves a value as it is (`SET updated_at = updated_at` claims nothing):
        # move the version one microsecond and back, unchanged when the unit commits.
        con.execute("UPDATE deals SET updated_at = updated_at + INTERVAL 1 MICROSECOND WHERE id = ?", [did])
        con.execute("UPDATE deals SET updated_at = updated_at - INTERVAL 1 MICROSECOND WHERE id = ?", [did])
        existing = db.one(con, "SELECT id, order_no FROM orders WHERE deal_id = ? AND deleted_at IS NULL "
                               "AND status <> 'cancelled' ORDER BY id LIMIT 1", [did])
        if existing is not None and not again:
            err = DuplicateError("order.deal_has_order", order_no=existing["order_no"])
            err.order_id = existing["id"]
            raise err
        lines = db.rows(con, "SELECT product_id, description, quantity::DOUBLE AS quantity, "
                             "unit_price::DOUBLE AS unit_price, discount::DOUBLE AS discount FROM deal_lines "
                             "WHERE deal_id = ? ORDER BY position, id", [did])
        if not lines:
            lines = [{"description": deal["name"][:200], "quantity": 1,
                      "unit_price": float(deal["amount"] or 0), "discount": 0}]
        clean_lines = _clean_lines(con, lines)
        owner, team = deal["owner_id"], deal["team_id"]
        if owner is None:
            owner, team = actor.id, actor.team_id
        return _insert(con, actor, customer["id"], did, actor.now, None, owner, team,
                       deal["currency"] or _currency(con), clean_lines, "sales")

    return db.write(con, work)


def update_order(con: duckdb.DuckDBPyConnection, actor: Actor, order_id: Any, changes: dict[str, Any] | None = None,
                 lines: list[dict] | None = None, seen: dict | None = None, owner_id: int | None | str = "keep") -> dict:
    """Edit an order the actor may edit: notes at any time; date and lines (replacing them all) only
    while it is a draft; a new owner within the assign scope. `seen` is the order as the user saw it
    (get_order): changed since, the edit is a Conflict. Returns what changed (column -> (old, new))."""
    access.require(con, actor, "orders", "edit")
    changes = dict(changes or {})
    if "customer_id" in changes:
        raise ValidationError("order.customer_fixed")
    head = _clean(con, HEADER, changes, creating=False)
    _refuse_future(con, actor, head.get("ordered_at"))
    clean_lines = None if lines is None else _clean_lines(con, lines)

    def work():
        old = _load(con, actor, order_id, "edit")
        _refuse_stale(con, old, seen)
        diff = {k: (old.get(k), v) for k, v in head.items() if old.get(k) != v}
        if old["status"] != "draft" and ("ordered_at" in diff or clean_lines is not None):
            raise ValidationError("order.locked", kind=f"order.status_{old['status']}")
        sets = {k: v for k, (_o, v) in diff.items()}
        if owner_id != "keep" and owner_id != old["owner_id"]:
            if owner_id is None or isinstance(owner_id, bool) or not isinstance(owner_id, int):
                raise ValidationError("assign.bad_owner")
            owner, team = access.check_holder(con, actor, "orders", owner_id, None)
            diff["owner_id"] = (old["owner_id"], owner)
            sets.update(owner_id=owner, team_id=team)
        if clean_lines is not None:
            before = db.rows(con, "SELECT product_id, description, quantity::DOUBLE AS quantity, "
                                  "unit_price::DOUBLE AS unit_price, discount::DOUBLE AS discount FROM order_lines "
                                  "WHERE order_id = ? ORDER BY id", [old["id"]])
            if _lines_text(before) != _lines_text(clean_lines):
                total = _write_lines(con, old["id"], clean_lines)
                diff["lines"] = (_lines_text(before) or None, _lines_text(clean_lines) or None)
                if total != Decimal(old["amount"]):
                    planned = Decimal(db.scalar(con, "SELECT coalesce(sum(amount), 0) FROM payment_plans "
                                                     "WHERE order_id = ? AND deleted_at IS NULL", [old["id"]]))
                    if planned > total:
                        raise ValidationError("order.plans_exceed", planned=f"{planned:,.2f}", total=f"{total:,.2f}")
                    diff["amount"] = (old["amount"], total)
                    sets["amount"] = total
        if not diff:
            return {}
        _touch(con, actor, old, sets)
        audit.record(con, actor, "update", "order", old["id"], diff)
        return diff

    return db.write(con, work)


def set_status(con: duckdb.DuckDBPyConnection, actor: Actor, order_id: Any, status: Any, seen: dict | None = None) -> dict:
    """Move an order the actor may edit to another status, along TRANSITIONS only (module doc): a
    confirmed order needs at least one line; cancelling a confirmed order needs nothing received;
    refunding needs something received. Returns {"from", "to"}."""
    access.require(con, actor, "orders", "edit")
    if not isinstance(status, str) or status not in STATUSES:
        raise ValidationError("order.bad_status", value=fields.short(status))

    def work():
        old = _load(con, actor, order_id, "edit")
        _refuse_stale(con, old, seen)
        if status not in TRANSITIONS[old["status"]]:
            raise ValidationError(f"order.cannot_become_{status}", kind=f"order.status_{old['status']}")
        if status == "confirmed" and not db.scalar(con, "SELECT count(*) FROM order_lines WHERE order_id = ?",
                                                   [old["id"]]):
            raise ValidationError("order.no_lines")
        if status == "confirmed":
            _refuse_future(con, actor, old["ordered_at"])
        if old["status"] == "confirmed":
            paid = _paid(con, old["id"])
            if status == "cancelled" and paid > 0:
                raise ValidationError("order.cancel_paid", paid=f"{paid:,.2f}")
            if status == "refunded" and paid <= 0:
                raise ValidationError("order.refund_unpaid")
        _touch(con, actor, old, {"status": status})
        audit.record(con, actor, "update", "order", old["id"], {"status": (old["status"], status)})
        return {"from": old["status"], "to": status}

    return db.write(con, work)


def add_plan(con: duckdb.DuckDBPyConnection, actor: Actor, order_id: Any, values: dict[str, Any]) -> int:
    """A payment plan (回款计划) on a draft or confirmed order the actor may edit: an amount due on a
    date; the order's plans together may not exceed its amount."""
    access.require(con, actor, "orders", "edit")
    plan = _clean(con, PLAN, values, creating=True)
    amount = _money(plan["amount"])

    def work():
        old = _load(con, actor, order_id, "edit")
        if old["status"] not in ("draft", "confirmed"):
            raise ValidationError("order.closed", kind=f"order.status_{old['status']}")
        planned = Decimal(db.scalar(con, "SELECT coalesce(sum(amount), 0) FROM payment_plans WHERE order_id = ? "
                                         "AND deleted_at IS NULL", [old["id"]]))
        if planned + amount > Decimal(old["amount"]):
            raise ValidationError("order.plan_too_large", left=f"{max(Decimal(old['amount']) - planned, 0):,.2f}")
        plan_id = db.next_id(con, "payment_plans")
        records.insert(con, "payment_plans", {
            "id": plan_id, "order_id": old["id"], "customer_id": old["customer_id"], "due_on": plan["due_on"],
            "amount": amount, "note": plan.get("note"), "created_by": actor.id, "created_at": actor.now})
        _touch(con, actor, old)
        audit.record(con, actor, "update", "order", old["id"], {"plan": (None, f"#{plan_id} {plan['due_on']} {amount:,.2f}")})
        return plan_id

    return db.write(con, work)


def delete_plan(con: duckdb.DuckDBPyConnection, actor: Actor, plan_id: Any) -> None:
    """Take a plan off its order (kept, marked deleted), by whoever may edit the order."""
    access.require(con, actor, "orders", "edit")
    pid = records.record_id(plan_id, "order.not_found")

    def work():
        plan = db.one(con, "SELECT id, order_id, due_on, amount FROM payment_plans WHERE id = ? AND deleted_at IS NULL",
                      [pid])
        if plan is None:  # the same answer as a plan of an order out of scope: no existence oracle
            raise NotFound("order.not_found")
        old = _load(con, actor, plan["order_id"], "edit")
        con.execute("UPDATE payment_plans SET deleted_at = ?, deleted_by = ? WHERE id = ?", [actor.now, actor.id, pid])
        _touch(con, actor, old)
        audit.record(con, actor, "update", "order", old["id"],
                     {"plan": (f"#{pid} {plan['due_on']} {Decimal(plan['amount']):,.2f}", None)})

    db.write(con, work)


def add_payment(con: duckdb.DuckDBPyConnection, actor: Actor, order_id: Any, values: dict[str, Any]) -> int:
    """A received payment (回款) on a confirmed order the actor may edit: amount > 0 and no more than
    what is outstanding (a larger one is refused, naming the outstanding amount), paid on a company day
    no later than today, an optional method and note."""
    access.require(con, actor, "orders", "edit")
    pay = _clean(con, PAYMENT, values, creating=True)
    amount = _money(pay["amount"])
    if pay["paid_on"] > _today(con, actor):
        raise ValidationError("order.paid_in_future")

    def work():
        old = _load(con, actor, order_id, "edit")
        if old["status"] != "confirmed":
            raise ValidationError("order.pay_not_confirmed", kind=f"order.status_{old['status']}")
        outstanding = Decimal(old["amount"]) - _paid(con, old["id"])
        if amount > outstanding:
            raise ValidationError("order.overpaid", outstanding=f"{max(outstanding, Decimal(0)):,.2f}")
        payment_id = db.next_id(con, "payments")
        paid_at = clock.to_utc(con, dt.datetime.combine(pay["paid_on"], dt.time(12)))
        records.insert(con, "payments", {
            "id": payment_id, "order_id": old["id"], "customer_id": old["customer_id"], "amount": amount,
            "paid_at": paid_at, "method": pay.get("method"), "note": pay.get("note"), "created_by": actor.id,
            "created_at": actor.now})
        _touch(con, actor, old)
        audit.record(con, actor, "update", "order", old["id"],
                     {"payment": (None, f"#{payment_id} {pay['paid_on']} {amount:,.2f}")})
        return payment_id

    return db.write(con, work)


def delete_payment(con: duckdb.DuckDBPyConnection, actor: Actor, payment_id: Any) -> None:
    """Take back a payment recorded by mistake (kept, marked deleted): needs the order's delete scope
    (managers, the admin), and the order still confirmed."""
    access.require(con, actor, "orders", "delete")
    pid = records.record_id(payment_id, "order.not_found")

    def work():
        pay = db.one(con, "SELECT id, order_id, paid_at, amount FROM payments WHERE id = ? AND deleted_at IS NULL", [pid])
        if pay is None:  # the same answer as a payment of an order out of scope: no existence oracle
            raise NotFound("order.not_found")
        old = _load(con, actor, pay["order_id"], "delete")
        if old["status"] != "confirmed":
            raise ValidationError("order.closed", kind=f"order.status_{old['status']}")
        con.execute("UPDATE payments SET deleted_at = ?, deleted_by = ? WHERE id = ?", [actor.now, actor.id, pid])
        _touch(con, actor, old)
        audit.record(con, actor, "update", "order", old["id"],
                     {"payment": (f"#{pid} {Decimal(pay['amount']):,.2f}", None)})

    db.write(con, work)


def delete_order(con: duckdb.DuckDBPyConnection, actor: Actor, order_id: Any) -> None:
    """Move an order to the recycle bin (its lines, plans and payments stay with it)."""
    access.require(con, actor, "orders", "delete")
    oid = record_id(order_id)

    def work():
        _load(con, actor, oid, "delete")
        recycle.delete(con, actor, "order", [oid])

    db.write(con, work)
