"""Pipelines (商机组) and their stages, the product catalogue: reference data every deal reads.

A company has one or more pipelines ("New business", "Renewals"), each with its own ordered stages
(names in both languages, default probability, won/lost flags, active). Stage codes are unique across
pipelines, so a deal's stage code alone names its stage and pipeline.

Reading is open to anyone signed in (the board, forms and reports need the names); editing is the
admin's (settings edit) and lives further down in this module.
"""
from __future__ import annotations

import re as _re

import duckdb

from core import access, audit, db, fields, records
from core.context import Actor
from core.errors import DuplicateError, NotFound, ValidationError
from core.fields import Field

_STAGE_COLS = "code, name_en, name_zh, position, probability, is_won, is_lost, active, pipeline_id"


def pipelines(con: duckdb.DuckDBPyConnection, include_inactive: bool = False) -> list[dict]:
    """id, code, name_en, name_zh, position, active, in the admin's order."""
    return db.rows(con, "SELECT id, code, name_en, name_zh, position, active FROM pipelines "
                        "WHERE active OR ? ORDER BY position, id", [include_inactive])


def pipeline(con: duckdb.DuckDBPyConnection, pipeline_id) -> dict:
    row = db.one(con, "SELECT id, code, name_en, name_zh, position, active FROM pipelines WHERE id = ?",
                 [_int(pipeline_id)])
    if row is None:
        raise NotFound("error.not_found")
    return row


def default_pipeline(con: duckdb.DuckDBPyConnection) -> int:
    """The first active pipeline (new deals land here unless the user picks another)."""
    rows = pipelines(con)
    if not rows:
        raise NotFound("error.not_found")
    return rows[0]["id"]


def stages(con: duckdb.DuckDBPyConnection, pipeline_id=None, include_inactive: bool = False) -> list[dict]:
    """Stages of one pipeline (or of all, pipeline by pipeline) in board order."""
    where, params = ["(active OR ?)"], [include_inactive]
    if pipeline_id is not None:
        where.append("pipeline_id = ?")
        params.append(_int(pipeline_id))
    return db.rows(con, f"SELECT {_STAGE_COLS} FROM pipeline_stages WHERE {' AND '.join(where)} "  # sql-ok
                        "ORDER BY pipeline_id, position, code", params)


def stage(con: duckdb.DuckDBPyConnection, code) -> dict:
    """One stage by code (inactive ones too: old deals still sit in them); NotFound if unknown."""
    row = db.one(con, f"SELECT {_STAGE_COLS} FROM pipeline_stages WHERE code = ?", [str(code or "")[:60]])  # sql-ok
    if row is None:
        raise ValidationError("error.invalid_value", value=str(code)[:40])
    return row


def first_open_stage(con: duckdb.DuckDBPyConnection, pipeline_id) -> dict:
    """Where a new deal starts: the first active stage that is neither won nor lost."""
    for s in stages(con, pipeline_id):
        if not s["is_won"] and not s["is_lost"]:
            return s
    raise ValidationError("pipeline.no_open_stage")


def closing_stage(con: duckdb.DuckDBPyConnection, pipeline_id, won: bool) -> dict:
    """The pipeline's won (or lost) stage."""
    for s in stages(con, pipeline_id, include_inactive=True):
        if (s["is_won"] if won else s["is_lost"]):
            return s
    raise ValidationError("pipeline.no_closing_stage")


def closed_codes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Codes of every won or lost stage (any pipeline): a deal in one of them is closed."""
    return [r["code"] for r in db.rows(con, "SELECT code FROM pipeline_stages WHERE is_won OR is_lost")]


def products(con: duckdb.DuckDBPyConnection, include_inactive: bool = False) -> list[dict]:
    """The catalogue: id, code (sku), name (English), name_zh, series (category), list_price, active."""
    return db.rows(con, "SELECT id, code, name, name_zh, series, list_price::DOUBLE AS list_price, active "
                        "FROM products WHERE deleted_at IS NULL AND (active OR ?) ORDER BY series, code, id",
                   [include_inactive])


def _int(value) -> int:
    """An id from a link, a form or a caller (core.records.record_id: anything else is NotFound)."""
    return records.record_id(value)


# ===================================================================== admin (settings edit)
# Every service below: permission first, then ONE unit of work holding the change and its audit rows.
#
# The rules a pipeline keeps at all times (checked at the end of every unit that changes stages, so a
# refused change rolls back whole):
#   - exactly one won stage and exactly one lost stage, both active (deals close into them);
#   - at least one active open stage (new deals start there);
#   - stage names are unique within the pipeline, pipeline names unique among pipelines.
# A new pipeline is therefore created with three stages (New, Won, Lost) the admin then renames and adds to.
#
# Removing a stage: a stage that still holds deals is refused (StageHasDeals, with how many) unless a
# target stage of the same pipeline is given; then its deals move there in the same unit, each with a
# deal_stage_history row, stage_changed_at and the target's default probability (unless the owner set
# their own). Stage history, the timeline and old reports name stages by code, so a stage that any
# history row or deal (recycle bin included) refers to is DEACTIVATED, not deleted: it keeps its names,
# drops off the board, the forms and the admin's list (shown again with "show removed stages"). A stage
# nothing ever referred to is deleted. Deactivating a stage through save_stage follows the same rule
# (refused while it holds deals). Won and lost stages cannot be removed or deactivated.

KINDS = ("open", "won", "lost")
MAX_PRICE = 1_000_000_000  # a list price above a billion is a typing error, not a product

PIPELINE_FIELDS = {
    "name_en": Field("name_en", "text", "pipelines.name_en", required=True, max_len=60),
    "name_zh": Field("name_zh", "text", "pipelines.name_zh", required=True, max_len=60),
    "active": Field("active", "bool", "pipelines.active", nullable=False),
}
STAGE_FIELDS = {
    "name_en": Field("name_en", "text", "pipelines.name_en", required=True, max_len=60),
    "name_zh": Field("name_zh", "text", "pipelines.name_zh", required=True, max_len=60),
    "probability": Field("probability", "int", "pipelines.probability", required=True, min=0, max=100),
    "kind": Field("kind", "choice", "pipelines.kind", options=KINDS, nullable=False),
    "active": Field("active", "bool", "pipelines.active", nullable=False),
}
PRODUCT_FIELDS = {
    "code": Field("code", "text", "products.sku", required=True, max_len=40),
    "name": Field("name", "text", "products.name_en", required=True, max_len=200),
    "name_zh": Field("name_zh", "text", "products.name_zh", required=True, max_len=200),
    "series": Field("series", "text", "products.category", max_len=60),
    "list_price": Field("list_price", "number", "products.list_price", required=True, min=0, max=MAX_PRICE),
    "active": Field("active", "bool", "products.active", nullable=False),
}
# the stages a new pipeline starts with: code suffix, English, Chinese, probability, kind
_NEW_PIPELINE_STAGES = (("new", "New", "新建", 10, "open"), ("won", "Won", "赢单", 100, "won"),
                        ("lost", "Lost", "输单", 0, "lost"))


class StageHasDeals(ValidationError):
    """A stage still holds deals: move them first (the admin page offers the move)."""

    def __init__(self, n: int, stage: str):
        super().__init__("pipelines.stage_has_deals", n=n, stage=stage)
        self.count = n


def _kind(row: dict) -> str:
    return "won" if row["is_won"] else "lost" if row["is_lost"] else "open"


def _name(actor: Actor, row: dict) -> str:
    return (row.get("name_zh") if actor.language == "zh" else None) or row.get("name_en") or row.get("code", "")


def _slug(text: str) -> str:
    return _re.sub(r"[^a-z0-9]+", "_", (text or "").lower()).strip("_")[:30]


def _free_code(con, table: str, base: str) -> str:
    """`base`, or `base_2`, `base_3`... whichever no row of `table` (pipelines / pipeline_stages) holds."""
    taken = {r[0] for r in con.execute(f"SELECT code FROM {table} WHERE starts_with(code, ?)",  # sql-ok: fixed names
                                       [base]).fetchall()}
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base}_{n}"
    return code


def _check_pipeline_names(con, pipeline_id, en: str, zh: str) -> None:
    clash = db.one(con, "SELECT name_en, name_zh FROM pipelines WHERE id <> ? AND (lower(name_en) = lower(?) "
                        "OR name_zh = ?)", [pipeline_id or -1, en, zh])
    if clash:
        raise DuplicateError("pipelines.name_taken", name=en if clash["name_en"].lower() == en.lower() else zh)


def _check_stage_names(con, pipeline_id: int, code, en: str, zh: str) -> None:
    clash = db.one(con, "SELECT name_en, name_zh FROM pipeline_stages WHERE pipeline_id = ? AND code <> ? AND active "
                        "AND (lower(name_en) = lower(?) OR name_zh = ?)", [pipeline_id, code or "", en, zh])
    if clash:
        raise DuplicateError("pipelines.stage_name_taken", name=en if clash["name_en"].lower() == en.lower() else zh)


def _check_pipeline_rules(con, pipeline_id: int) -> None:
    """One won and one lost stage (both active), at least one active open stage."""
    won, lost, inactive_closing, open_ = con.execute(
        "SELECT count(*) FILTER (WHERE is_won), count(*) FILTER (WHERE is_lost), "
        "count(*) FILTER (WHERE (is_won OR is_lost) AND NOT active), "
        "count(*) FILTER (WHERE active AND NOT is_won AND NOT is_lost) FROM pipeline_stages WHERE pipeline_id = ?",
        [pipeline_id]).fetchall()[0]
    if won != 1 or lost != 1 or inactive_closing:
        raise ValidationError("pipelines.one_won_one_lost")
    if not open_:
        raise ValidationError("pipelines.needs_open_stage")


def _deals_in_stage(con, code: str) -> list[int]:
    """Every deal sitting in the stage, the recycle bin's too (a restore must not land in a hidden stage)."""
    return [r[0] for r in con.execute("SELECT id FROM deals WHERE stage = ? ORDER BY id", [code]).fetchall()]


def _open_deals_in_pipeline(con, pipeline_id: int) -> int:
    return db.scalar(con, "SELECT count(*) FROM deals WHERE deleted_at IS NULL AND stage IN (SELECT code FROM "
                          "pipeline_stages WHERE pipeline_id = ? AND NOT is_won AND NOT is_lost)", [pipeline_id])


def _stage_row(con, code) -> dict:
    row = db.one(con, f"SELECT {_STAGE_COLS} FROM pipeline_stages WHERE code = ?",  # sql-ok: fixed columns
                 [str(code or "")[:60]])
    if row is None:
        raise NotFound("error.not_found")
    return row


def _renumber(con, table: str, ids: list, key: str, where: str = "", params: list | None = None) -> None:
    """Positions 1..n in the order given (one statement)."""
    con.execute(f"UPDATE {table} SET position = o.pos FROM (SELECT unnest(?) AS k, "  # sql-ok: fixed names
                f"generate_subscripts(?, 1) AS pos) o WHERE {table}.{key} = o.k {where}",
                [ids, ids] + (params or []))


def stage_deal_counts(con: duckdb.DuckDBPyConnection, actor: Actor, pipeline_id) -> dict[str, int]:
    """code -> how many deals sit in each stage of the pipeline: every deal, whoever owns it, the recycle
    bin's too (removing a stage moves those as well, so the count is the one remove_stage refuses with)."""
    access.require(con, actor, "settings", "edit")
    return dict(con.execute(
        "SELECT s.code, count(d.id) FROM pipeline_stages s LEFT JOIN deals d ON d.stage = s.code "
        "WHERE s.pipeline_id = ? GROUP BY s.code", [_int(pipeline_id)]).fetchall())


def save_pipeline(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict, pipeline_id=None) -> int:
    """Create a pipeline (name_en, name_zh; it starts with the stages New, Won, Lost) or rename /
    (de)activate one. A pipeline holding open deals, or the last active one, cannot be deactivated."""
    access.require(con, actor, "settings", "edit")
    creating = pipeline_id is None
    pid = None if creating else _int(pipeline_id)
    clean = fields.clean(con, PIPELINE_FIELDS, values, creating=creating)

    def work() -> int:
        if creating:
            en, zh, active = clean["name_en"], clean["name_zh"], clean.get("active", True)
            _check_pipeline_names(con, None, en, zh)
            new_id = db.next_id(con, "pipelines")
            code = _free_code(con, "pipelines", _slug(en) or f"pipeline_{new_id}")
            position = db.scalar(con, "SELECT coalesce(max(position), 0) + 1 FROM pipelines")
            con.execute("INSERT INTO pipelines (id, code, name_en, name_zh, position, active, created_at, "
                        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [new_id, code, en, zh, position, active, actor.now, actor.now])
            for i, (suffix, s_en, s_zh, prob, kind) in enumerate(_NEW_PIPELINE_STAGES, 1):
                con.execute("INSERT INTO pipeline_stages (code, name_en, name_zh, position, probability, is_won, "
                            "is_lost, active, pipeline_id) VALUES (?, ?, ?, ?, ?, ?, ?, TRUE, ?)",
                            [_free_code(con, "pipeline_stages", f"{code}_{suffix}"), s_en, s_zh, i, prob,
                             kind == "won", kind == "lost", new_id])
            if not active and not db.scalar(con, "SELECT count(*) FROM pipelines WHERE active"):
                raise ValidationError("pipelines.last_pipeline")
            audit.record(con, actor, "create", "pipeline", new_id, {"name": (None, f"{en} / {zh}")})
            return new_id
        old = pipeline(con, pid)
        new = {**old, **clean}
        _check_pipeline_names(con, pid, new["name_en"], new["name_zh"])
        if old["active"] and not new["active"]:
            n = _open_deals_in_pipeline(con, pid)
            if n:
                raise ValidationError("pipelines.pipeline_has_deals", n=n)
            if not db.scalar(con, "SELECT count(*) FROM pipelines WHERE active AND id <> ?", [pid]):
                raise ValidationError("pipelines.last_pipeline")
        changes = {k: (old[k], new[k]) for k in ("name_en", "name_zh", "active") if old[k] != new[k]}
        if changes:
            con.execute("UPDATE pipelines SET name_en = ?, name_zh = ?, active = ?, updated_at = ? WHERE id = ?",
                        [new["name_en"], new["name_zh"], new["active"], actor.now, pid])
            audit.record(con, actor, "update", "pipeline", pid, changes)
        return pid

    return db.write(con, work)


def move_pipeline(con: duckdb.DuckDBPyConnection, actor: Actor, pipeline_id, step: int) -> None:
    """Move a pipeline up (-1) or down (+1) in the list (the board's and the forms' order)."""
    access.require(con, actor, "settings", "edit")
    pid = _int(pipeline_id)

    def work():
        order = [p["id"] for p in pipelines(con, include_inactive=True)]
        if pid not in order:
            raise NotFound("error.not_found")
        i = order.index(pid)
        j = max(0, min(len(order) - 1, i + (1 if step > 0 else -1)))
        if i == j:
            return
        order[i], order[j] = order[j], order[i]
        _renumber(con, "pipelines", order, "id")
        audit.record(con, actor, "update", "pipeline", pid, {"position": (i + 1, j + 1)})

    db.write(con, work)


def save_stage(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict, code: str | None = None,
               pipeline_id=None) -> str:
    """Add a stage to a pipeline (`code` None, `pipeline_id` given; it goes last) or edit one: names in
    both languages, default probability 0-100, kind open/won/lost, active. A won stage counts 100 %, a
    lost one 0 %. Changing the default probability moves the deals that follow it (the owner did not set
    their own). Returns the stage's code."""
    access.require(con, actor, "settings", "edit")
    creating = code is None
    clean = fields.clean(con, STAGE_FIELDS, values, creating=creating)

    def work() -> str:
        if creating:
            pid = pipeline(con, pipeline_id)["id"]
            old = None
            new = {"kind": "open", "active": True, **clean}
        else:
            old = _stage_row(con, code)
            pid = old["pipeline_id"]
            old = {**old, "kind": _kind(old)}
            new = {**old, **clean}
        if new["kind"] == "won":
            new["probability"] = 100
        elif new["kind"] == "lost":
            new["probability"] = 0
        _check_stage_names(con, pid, None if creating else code, new["name_en"], new["name_zh"])
        if creating:
            p_code = pipeline(con, pid)["code"]
            stage_code = _free_code(con, "pipeline_stages", f"{p_code}_{_slug(new['name_en']) or 'stage'}")
            position = db.scalar(con, "SELECT coalesce(max(position), 0) + 1 FROM pipeline_stages "
                                      "WHERE pipeline_id = ?", [pid])
            con.execute("INSERT INTO pipeline_stages (code, name_en, name_zh, position, probability, is_won, is_lost, "
                        "active, pipeline_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [stage_code, new["name_en"], new["name_zh"], position, new["probability"],
                         new["kind"] == "won", new["kind"] == "lost", new["active"], pid])
            _check_pipeline_rules(con, pid)
            audit.record(con, actor, "update", "pipeline", pid,
                         {stage_code: (None, f"{new['name_en']} / {new['name_zh']}")})
            return stage_code
        if old["active"] and not new["active"]:
            n = len(_deals_in_stage(con, code))
            if n:
                raise StageHasDeals(n, _name(actor, old))
        changes = {f"{code}.{k}": (old[k], new[k]) for k in ("name_en", "name_zh", "probability", "kind", "active")
                   if old[k] != new[k]}
        if not changes:
            return code
        con.execute("UPDATE pipeline_stages SET name_en = ?, name_zh = ?, probability = ?, is_won = ?, is_lost = ?, "
                    "active = ? WHERE code = ?", [new["name_en"], new["name_zh"], new["probability"],
                                                 new["kind"] == "won", new["kind"] == "lost", new["active"], code])
        _check_pipeline_rules(con, pid)
        if old["probability"] != new["probability"]:  # deals following the stage's default follow it
            _follow_default(con, actor, code, new["probability"])
        audit.record(con, actor, "update", "pipeline", pid, changes)
        return code

    return db.write(con, work)


def hold_stage(con: duckdb.DuckDBPyConnection, code: str) -> None:
    """Inside a unit of work that puts deals into stage `code`: write the stage's `active` column (off,
    then on again: unchanged when the unit commits), so that an admin removing or deactivating the stage
    at the same moment conflicts with the unit, and core.db.write's retry sees the committed stage (no
    longer active: the move is refused) instead of the deal landing in a stage that is gone.

    Measured on duckdb 2.0.0: conflicts are per column, and an update that leaves the value as it is
    (`SET active = active`, or `SET active = TRUE` on an active stage) does not conflict with anything;
    an update does not conflict with a delete either (hence remove_stage never deletes)."""
    con.execute("UPDATE pipeline_stages SET active = NOT active WHERE code = ? AND active", [code])
    con.execute("UPDATE pipeline_stages SET active = TRUE WHERE code = ?", [code])


def _follow_default(con, actor: Actor, code: str, probability: int) -> None:
    """The deals of a stage that follow its default probability (the owner set none) take the new one:
    set-based, each with an audit row (grouped by the old value) and its version moved strictly forward,
    so an edit from a page opened before is a Conflict rather than a silent overwrite."""
    groups = con.execute("SELECT probability, list(id ORDER BY id) FROM deals WHERE stage = ? AND NOT probability_set "
                         "AND probability IS DISTINCT FROM ? GROUP BY probability", [code, probability]).fetchall()
    ids = [i for _old, got in groups for i in got]
    if not ids:
        return
    con.execute("UPDATE deals SET probability = ?, updated_at = greatest(updated_at + INTERVAL 1 MICROSECOND, ?) "
                "WHERE id IN (SELECT unnest(?))", [probability, actor.now, ids])
    for old, got in groups:
        audit.record_many(con, actor, "update", "deal", got, field="probability", old=old, new=probability)


def move_stage_position(con: duckdb.DuckDBPyConnection, actor: Actor, code: str, step: int) -> None:
    """Move an active stage up (-1) or down (+1) among its pipeline's active stages (the board's columns)."""
    access.require(con, actor, "settings", "edit")

    def work():
        row = _stage_row(con, code)
        visible = [s["code"] for s in stages(con, row["pipeline_id"])]
        if code not in visible:
            raise NotFound("error.not_found")
        i = visible.index(code)
        j = max(0, min(len(visible) - 1, i + (1 if step > 0 else -1)))
        if i == j:
            return
        visible[i], visible[j] = visible[j], visible[i]
        hidden = [s["code"] for s in stages(con, row["pipeline_id"], include_inactive=True) if not s["active"]]
        _renumber(con, "pipeline_stages", visible + hidden, "code")
        audit.record(con, actor, "update", "pipeline", row["pipeline_id"], {f"{code}.position": (i + 1, j + 1)})

    db.write(con, work)


def remove_stage(con: duckdb.DuckDBPyConnection, actor: Actor, code: str, move_to: str | None = None) -> dict:
    """Remove an open stage. While it holds deals this is refused (StageHasDeals: how many) unless
    `move_to`, an active open stage of the same pipeline, is given: the deals then move there in this
    same unit (a stage-history row each, stage_changed_at now, the target's default probability unless
    the owner set their own). The stage is then deactivated, never deleted (its names stay for history,
    and a deal moved into it at the same moment conflicts with this unit instead of landing in a stage
    that is gone). Returns {"moved": n, "removed": "deactivated"}."""
    access.require(con, actor, "settings", "edit")

    def work() -> dict:
        row = _stage_row(con, code)
        if row["is_won"] or row["is_lost"]:
            raise ValidationError("pipelines.keep_closing_stage")
        ids = _deals_in_stage(con, row["code"])
        if ids:
            if move_to in (None, ""):
                raise StageHasDeals(len(ids), _name(actor, row))
            target = db.one(con, f"SELECT {_STAGE_COLS} FROM pipeline_stages WHERE code = ?",  # sql-ok
                            [str(move_to)[:60]])
            if (target is None or target["code"] == row["code"] or target["pipeline_id"] != row["pipeline_id"]
                    or not target["active"] or target["is_won"] or target["is_lost"]):
                raise ValidationError("pipelines.bad_move_target")
            hold_stage(con, target["code"])   # deactivating the target meanwhile conflicts with this unit
            con.execute("INSERT INTO deal_stage_history (id, deal_id, from_stage, to_stage, changed_at, changed_by) "
                        "SELECT nextval('seq_deal_stage_history'), d, ?, ?, ?, ? FROM (SELECT unnest(?) AS d)",
                        [row["code"], target["code"], actor.now, actor.id, ids])
            # the deals' version moves strictly forward (as core.records does), whatever the clock says
            con.execute("UPDATE deals SET stage = ?, stage_changed_at = ?, "
                        "updated_at = greatest(updated_at + INTERVAL 1 MICROSECOND, ?), "
                        "probability = CASE WHEN probability_set THEN probability ELSE ? END "
                        "WHERE id IN (SELECT unnest(?))",
                        [target["code"], actor.now, actor.now, target["probability"], ids])
            audit.record_many(con, actor, "update", "deal", ids, field="stage", old=row["code"], new=target["code"])
        # never deleted: a deal moving into the stage at this very moment writes its row too, so the two
        # units conflict and the move's retry finds the stage inactive (a deleted row would not conflict)
        con.execute("UPDATE pipeline_stages SET active = FALSE WHERE code = ?", [row["code"]])
        _check_pipeline_rules(con, row["pipeline_id"])
        how = "deactivated"
        audit.record(con, actor, "update", "pipeline", row["pipeline_id"],
                     {f"{row['code']}.removed": (f"{row['name_en']} / {row['name_zh']}", how)})
        return {"moved": len(ids), "removed": how}

    return db.write(con, work)


def save_product(con: duckdb.DuckDBPyConnection, actor: Actor, values: dict, product_id=None) -> int:
    """Add a product to the catalogue or edit one: sku (unique among live products, whatever its case),
    names in English and Chinese, category (`series`), list price 0 to a billion, active. Products are
    never deleted here: an old one is deactivated (deal and order lines keep naming it)."""
    access.require(con, actor, "settings", "edit")
    creating = product_id is None
    pid = None if creating else _int(product_id)
    clean = fields.clean(con, PRODUCT_FIELDS, values, creating=creating)

    def work() -> int:
        if "code" in clean:
            taken = db.one(con, "SELECT id FROM products WHERE deleted_at IS NULL AND lower(code) = lower(?) "
                                "AND id <> ?", [clean["code"], pid or -1])
            if taken:
                raise DuplicateError("products.sku_taken", sku=clean["code"])
        if creating:
            new_id = db.next_id(con, "products")
            con.execute("INSERT INTO products (id, code, name, name_zh, series, list_price, active, created_at, "
                        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [new_id, clean["code"], clean["name"], clean["name_zh"], clean.get("series"),
                         clean["list_price"], clean.get("active", True), actor.now, actor.now])
            audit.record(con, actor, "create", "product", new_id, {"code": (None, clean["code"])})
            return new_id
        old = db.one(con, "SELECT code, name, name_zh, series, list_price::DOUBLE AS list_price, active FROM products "
                          "WHERE id = ? AND deleted_at IS NULL", [pid])
        if old is None:
            raise NotFound("error.not_found")
        changes = {k: (old[k], v) for k, v in clean.items() if old[k] != v}
        if changes:
            sets = ", ".join(f"{k} = ?" for k in changes)  # names from PRODUCT_FIELDS only
            con.execute(f"UPDATE products SET {sets}, updated_at = ? WHERE id = ?",  # sql-ok: fixed names
                        [clean[k] for k in changes] + [actor.now, pid])
            audit.record(con, actor, "update", "product", pid, changes)
        return pid

    return db.write(con, work)
