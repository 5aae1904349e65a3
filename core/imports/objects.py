"""More import objects (issue 9, points 2 and 9): deals with stages, opportunities (one file, several
objects linked), orders with their lines (the UCI retail file), tickets with CSAT, campaign results
(iFood) and users with their teams (Maven sales_teams).

Every object works on the engine's staging table (`ctx.table`: one column per mapped field, named by
the field, plus `_row`, `_reason`, `_action`) and writes set-based (`INSERT ... SELECT`, no query per
row): `resolve(ctx)` marks the rows that cannot be imported with a reason (ctx.reject), `write(ctx)`
writes the rest and returns its counts. Values are read defensively: a column may arrive as text (the
engine leaves text fields as written) or already typed; numbers, dates and choices are parsed here with
the same result either way. Rows are never dropped silently: a row is written, or rejected with a
reason (a catalogue code, e.g. import.missing_customer|<field label>), or counted as a duplicate.

Decisions (also in the team note):
- deals / opportunities: the file's stage is value-mapped to a stage of our pipelines (the saved value
  map first, then our code, English or Chinese stage name, then common synonyms such as Engaging ->
  qualification); a won / lost deal gets closed_on = the file's close date (else the import day); an
  open deal's close date is its expected close. Dates (company time): created at the engage day (else the
  close day; a deal with no date at all, a prospect, on the file's last day); stage history: the pipeline's
  first stage at creation, its second stage at 12:00 of the engage day when the deal went beyond it, its
  own stage at 18:00 of the close day (as core.analytics.realdata). Blank amount of an open deal: the product's list price
  (custom.amount_from = "list_price"). Products are matched by name without spaces, case-insensitive
  ("GTXPro" = "GTX Pro"); the names that differ are listed in counts["products_renamed"], unknown
  products are created (counts["products_created"]). Accounts: customers by name (case-insensitive) or
  external_ref; in an opportunities file unknown accounts are created as company customers (owner: the
  agent with most deals on it), in a deals file they are rejected (import.no_customer). A
  blank account is no error (a prospect without an account): counted in counts["no_customer"].
- owners: users by name or username (case-insensitive); unknown names per options.unknown_owners:
  create (inactive users, role sales, in options.unknown_owner_team_id or a team "Imported users"),
  pool (no owner, the pool team), reject.
- orders (UCI): one order per InvoiceNo with its lines; an invoice starting with C is a cancellation
  (status cancelled, its negative amount: a credit note); a row without CustomerID is rejected
  (import.missing_customer: it is listed in the error file, not dropped); customers by external_ref
  (CustomerID; "17850.0" as a spreadsheet writes it is 17850), created when unknown ("Customer <id>",
  person, stage won). Text in Quantity / UnitPrice, a negative price or a bad date rejects the row.
- tickets: customer by e-mail (case-insensitive), else by exact name; created once per e-mail. Status,
  priority, channel and category value-mapped ("Social media" -> web: our channels have no social
  media); opened_at = the first response time (the file has no opening time), else the file's earliest
  time; a closed ticket's "Time to Resolution" is resolved_at / closed_at; one resolved before its first
  response is kept and flagged custom.times_inconsistent. The CSAT rating (1-5) of a closed ticket
  becomes the ticket's satisfaction and one feedback row (kind csat, channel import); a rating outside
  1-5 rejects the row (import.bad_rating).
- campaign results: long form (campaign, sent, opened, clicked, responded per row) or the iFood wide
  form: AcceptedCmp1..5 and Response are six campaigns ("Campaign 1".."Campaign 5", "Last campaign").
  Every member of the file was sent every campaign (sent_at = the import time); the file records no
  opens or clicks, so opened/clicked stay empty (never invented); accepted = 1 -> responded_at and
  converted_at (accepting the offer is the purchase), revenue = Z_Revenue; Z_CostContact ->
  campaigns.cost_per_contact, cost = cost per contact x members. Campaigns matched by name, created
  when unknown (channel email, status done). A value other than 0/1 rejects the row.
- users: a sales-teams file (agent, manager, regional office): one top team per office, under it one
  team per manager ("<office> - <manager>"); managers (role manager) and agents (role sales, manager_id)
  created INACTIVE unless the file says active; existing users (same name) are linked, not duplicated.
"""
from __future__ import annotations

import re
import secrets
from typing import Any

from core import db
from core.imports.spec import ImportField as F, ObjectSpec, register

# ------------------------------------------------------------------------------------ value maps
STAGE_SYNONYMS = {"engaging": "qualification", "engaged": "qualification", "qualified": "qualification",
                  "prospect": "prospecting", "new": "prospecting", "lead": "prospecting",
                  "closed won": "won", "closed-won": "won", "closed_won": "won", "win": "won", "赢单": "won",
                  "closed lost": "lost", "closed-lost": "lost", "closed_lost": "lost", "loss": "lost",
                  "输单": "lost", "quote": "proposal", "proposal/price quote": "proposal",
                  "negotiation/review": "negotiation"}
TICKET_STATUS = {"open": "open", "new": "new", "pending customer response": "pending", "pending": "pending",
                 "waiting": "pending", "resolved": "resolved", "closed": "closed", "solved": "resolved",
                 "处理中": "open", "待处理": "new", "已解决": "resolved", "已关闭": "closed"}
TICKET_PRIORITY = {"low": "low", "medium": "medium", "normal": "medium", "high": "high", "critical": "critical",
                   "urgent": "critical", "低": "low", "中": "medium", "高": "high", "紧急": "critical"}
TICKET_CHANNEL = {"email": "email", "e-mail": "email", "phone": "phone", "chat": "chat", "web": "web",
                  "social media": "web", "social": "web", "visit": "visit", "电话": "phone", "邮件": "email",
                  "在线": "chat"}
TICKET_CATEGORY = {"technical issue": "technical", "billing inquiry": "billing", "refund request": "refund",
                   "product inquiry": "product", "cancellation request": "cancellation"}
WIDE_CAMPAIGNS = {"accepted_1": "Campaign 1", "accepted_2": "Campaign 2", "accepted_3": "Campaign 3",
                  "accepted_4": "Campaign 4", "accepted_5": "Campaign 5", "response": "Last campaign"}
TRUE = ("1", "yes", "y", "true", "t", "是", "1.0")
FALSE = ("0", "no", "n", "false", "f", "否", "0.0")
IMPORTED_USERS_TEAM = "Imported users"
SERVICE_TEAM = "Customer service"


# ------------------------------------------------------------------------------------ SQL helpers
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _types(ctx) -> dict[str, str]:
    return {r[0]: str(r[1]).upper() for r in ctx.con.execute(f"DESCRIBE {ctx.table}").fetchall()}  # sql-ok: staging table, field names


def _has(ctx, f: str) -> bool:
    return f in _types(ctx)


def _txt(ctx, f: str) -> str:
    """The field as trimmed text (NULL when blank or not mapped)."""
    if not _has(ctx, f):
        return "CAST(NULL AS VARCHAR)"
    return f"nullif(trim(CAST({_q(f)} AS VARCHAR), ' \t\r\n\u3000'), '')"


def _num(ctx, f: str) -> str:
    """The field as a number: thousands separators and currency signs removed; NULL when blank or text."""
    if not _has(ctx, f):
        return "CAST(NULL AS DOUBLE)"
    t = _types(ctx)[f]
    if any(k in t for k in ("INT", "DOUBLE", "DECIMAL", "FLOAT", "REAL")):
        return f"CAST({_q(f)} AS DOUBLE)"
    return f"TRY_CAST(regexp_replace({_txt(ctx, f)}, '[,\\s£$¥€￥]', '', 'g') AS DOUBLE)"


def _bad_num(ctx, f: str) -> str:
    return f"({_txt(ctx, f)} IS NOT NULL AND {_num(ctx, f)} IS NULL)" if _has(ctx, f) else "FALSE"


_FORMATS = {
    "ymd": ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S",
            "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日", "%Y.%m.%d"],
    "mdy": ["%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y %H:%M", "%m/%d/%y"],
    "dmy": ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y"],
}


def _ts(ctx, f: str) -> str:
    """The field as a naive timestamp as written (company time): ISO, M/D/YYYY (or D/M/YYYY when the
    import says so), Chinese dates, Excel serials; NULL when blank or no date."""
    if not _has(ctx, f):
        return "CAST(NULL AS TIMESTAMP)"
    t = _types(ctx)[f]
    if "TIMESTAMP" in t or t == "DATE":
        return f"CAST({_q(f)} AS TIMESTAMP)"
    order = getattr(ctx.options, "date_order", "auto") or "auto"
    fmts = _FORMATS["ymd"] + (_FORMATS["dmy"] if order == "dmy" else _FORMATS["mdy"])
    lst = "[" + ", ".join("'" + x + "'" for x in fmts) + "]"
    s = _txt(ctx, f)
    return (f"coalesce(try_strptime({s}, {lst}), CASE WHEN regexp_full_match({s}, '[1-9][0-9]{{4}}(\\.[0-9]+)?') "
            f"THEN TIMESTAMP '1899-12-30' + to_microseconds(CAST(round(TRY_CAST({s} AS DOUBLE) * 86400e6) AS BIGINT)) "
            f"END)")


def _bad_ts(ctx, f: str) -> str:
    return f"({_txt(ctx, f)} IS NOT NULL AND {_ts(ctx, f)} IS NULL)" if _has(ctx, f) else "FALSE"


def _tz(ctx) -> str:
    from core import clock

    return clock.zone(ctx.con).key


def _utc(ctx, expr: str) -> str:
    """Company-local naive timestamp -> naive UTC (the store's form)."""
    return f"CAST((({expr}) AT TIME ZONE '{_tz(ctx)}') AT TIME ZONE 'UTC' AS TIMESTAMP)"


def _reject(ctx, condition: str, reason: str, params: list | None = None) -> int:
    """ctx.reject, or the same UPDATE when the engine has none (rows still fine that match)."""
    try:
        return ctx.reject(condition, reason, params)
    except NotImplementedError:
        n = ctx.con.execute(f"SELECT count(*) FROM {ctx.table} WHERE _reason IS NULL AND ({condition})",  # sql-ok: staging table, field names
                            params or []).fetchone()[0]
        if n:
            ctx.con.execute(f"UPDATE {ctx.table} SET _reason = ? WHERE _reason IS NULL AND ({condition})",  # sql-ok: staging table, field names
                            [reason, *(params or [])])
        return n


def _later_rows(ctx, key: str) -> str:
    """Rows whose key an earlier row of the file (still fine) already has."""
    return (f"_row IN (SELECT _row FROM (SELECT _row, row_number() OVER (PARTITION BY {key} ORDER BY _row) AS rn "
            f"FROM {ctx.table} WHERE _reason IS NULL AND {key} IS NOT NULL) WHERE rn > 1)")


def _ok(alias: str = "") -> str:
    """Rows to write (the engine's actions: new, or flag = a duplicate created anyway)."""
    a = f"{alias}." if alias else ""
    return f"{a}_action IN ('new', 'flag')"


def _dups(ctx, key: str, store_sql: str | None, label: str, in_file: bool = True) -> None:
    """Duplicates by a reference: a later row of the file with the key of an earlier one, and rows whose
    key the store holds (`store_sql`: a SELECT of the keys); skipped, or created and flagged when the import
    says "create anyway". (These objects are not updated by an import: "update" skips like "skip".)"""
    con, t = ctx.con, ctx.table
    create = getattr(ctx.options, "on_duplicate", "skip") == "create"
    if in_file:
        cond = (f"_row IN (SELECT _row FROM (SELECT _row, row_number() OVER (PARTITION BY {key} ORDER BY _row) AS rn "
                f"FROM {t} WHERE _action IN ('new', 'flag') AND {key} IS NOT NULL) WHERE rn > 1)")
        if create:
            con.execute(f"UPDATE {t} SET _action = 'flag' WHERE _action = 'new' AND {cond}")  # sql-ok: staging table, field names
        else:
            con.execute(f"UPDATE {t} SET _action = 'dup_file', _reason = ? WHERE _action = 'new' AND {cond}",  # sql-ok: staging table, field names
                        [f"import.dup_in_file|{label}"])
    if store_sql:
        cond = f"{key} IN ({store_sql})"
        if create:
            con.execute(f"UPDATE {t} SET _action = 'flag' WHERE _action = 'new' AND {cond}")  # sql-ok: staging table, field names
        else:
            con.execute(f"UPDATE {t} SET _action = 'dup_store', _reason = ? WHERE _action = 'new' AND {cond}",  # sql-ok: staging table, field names
                        [f"import.dup_in_store|{label}"])


def _value_map(ctx, f: str) -> dict[str, str]:
    vm = (ctx.value_map or {}).get(f) or {}
    return {str(k).strip().lower(): v for k, v in vm.items() if v not in (None, "")}


def _map_choice(ctx, f: str, codes: list[str], defaults: dict[str, str], out: str,
                names: dict[str, str] | None = None) -> list[str]:
    """Adds column `out` = the code of field f's value (value map, code, name, defaults, in that order);
    returns the values that map to nothing."""
    con = ctx.con
    con.execute(f"ALTER TABLE {ctx.table} ADD COLUMN IF NOT EXISTS {out} VARCHAR")  # sql-ok: staging table, field names
    if not _has(ctx, f):
        return []
    raw = [r[0] for r in con.execute(f"SELECT DISTINCT {_txt(ctx, f)} FROM {ctx.table} WHERE _reason IS NULL "  # sql-ok: staging table, field names
                                     f"AND {_txt(ctx, f)} IS NOT NULL").fetchall()]
    vm, lower_codes = _value_map(ctx, f), {c.lower(): c for c in codes}
    names = {k.lower(): v for k, v in (names or {}).items()}
    pairs, unknown = [], []
    for v in raw:
        k = v.lower()
        code = vm.get(k) or lower_codes.get(k) or names.get(k) or defaults.get(k)
        if code is not None and code in codes:
            pairs.append((v, code))
        else:
            unknown.append(v)
    con.execute("CREATE OR REPLACE TEMP TABLE _i4_map (raw VARCHAR, code VARCHAR)")
    if pairs:
        con.executemany("INSERT INTO _i4_map VALUES (?, ?)", pairs)
    con.execute(f"UPDATE {ctx.table} SET {out} = m.code FROM _i4_map m WHERE m.raw = {_txt(ctx, f)}")  # sql-ok: staging table, field names
    con.execute("DROP TABLE _i4_map")
    return unknown


def _note(ctx, key: str, items: list[str]) -> None:
    """A finding reported with the counts (how many) and in the batch's audit row (which ones)."""
    ctx.counts[key] = len(items)
    notes = getattr(ctx, "notes", None)
    if notes is None:
        notes = {}
        try:
            ctx.notes = notes
        except Exception:  # noqa: BLE001
            pass
    notes[key] = list(items)


def _audit_notes(ctx, entity: str) -> None:
    notes = {k: v for k, v in (getattr(ctx, "notes", None) or {}).items() if v}
    if notes:
        from core import audit

        audit.record(ctx.con, ctx.actor, "import", entity, None,
                     {k: (None, "; ".join(map(str, v))[:2000]) for k, v in notes.items()})


def _audit_batch(ctx, name: str) -> None:
    """One 'create' audit row per record this batch created (the object's table and the records it created
    besides: ALSO_CREATED), as the engine writes for its own objects; one statement per table."""
    if ctx.import_id is None:
        return
    spec_pair = ((ctx.spec.entity, ctx.spec.table),)
    for entity, table in spec_pair + ALSO_CREATED.get(name, ()):
        if entity == "user" and name != "users":  # owners created by the engine are audited by it
            continue
        ctx.con.execute(
            "INSERT INTO audit_log (id, logged_at, user_id, action, entity, entity_id, field, old_value, new_value) "
            f"SELECT nextval('seq_audit_log'), ?, ?, 'create', ?, id, 'import_id', NULL, ? FROM {table} "  # sql-ok: fixed
            "WHERE import_id = ?", [ctx.now, ctx.actor.id, entity, str(ctx.import_id), ctx.import_id])


def _count(ctx, where: str = "TRUE") -> int:
    return ctx.con.execute(f"SELECT count(*) FROM {ctx.table} WHERE {_ok()} AND ({where})").fetchone()[0]  # sql-ok: staging table, field names


def _extra(ctx, key: str, default: Any = None) -> Any:
    """An object-specific option: Options.extra[key] when the engine carries it, else the saved mapping's
    value map entry "_options" (a dict), else the default."""
    extra = getattr(ctx.options, "extra", None) or {}
    if key in extra:
        return extra[key]
    opts = (ctx.value_map or {}).get("_options") or {}
    return opts.get(key, default)


# ------------------------------------------------------------------------------------ users and teams
def _username(name: str) -> str:
    base = re.sub(r"[^a-z0-9\-]+", ".", name.strip().lower()).strip(".") or "user"
    return base[:40]


def _new_user(ctx, name: str, role: str, team_id: int | None, manager_id: int | None = None,
              active: bool = False, hashed: str | None = None) -> int:
    from core import auth

    con = ctx.con
    base = _username(name)
    username, n = base, 1
    while db.scalar(con, "SELECT count(*) FROM users WHERE lower(username) = ?", [username]):
        n += 1
        username = f"{base}{n}"
    uid = db.next_id(con, "users")
    con.execute("INSERT INTO users (id, username, name, role, team_id, manager_id, active, password_hash, "
                "must_change_password, created_at, updated_at, import_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, TRUE, ?, ?, ?)",
                [uid, username, name, role, team_id, manager_id, active,
                 hashed or auth.hash_password(secrets.token_urlsafe(24), rounds=4), ctx.now, ctx.now, ctx.import_id])
    return uid


def _team(ctx, name: str, parent_id: int | None = None, region: str | None = None) -> tuple[int, bool]:
    """The live team of this name under this parent; created when missing. Returns (id, created)."""
    con = ctx.con
    tid = db.scalar(con, "SELECT min(id) FROM teams WHERE deleted_at IS NULL AND lower(name) = lower(?) "
                         "AND parent_id IS NOT DISTINCT FROM ?", [name, parent_id])
    if tid is not None:
        return tid, False
    tid = db.next_id(con, "teams")
    con.execute("INSERT INTO teams (id, name, parent_id, region, created_at, import_id) VALUES (?, ?, ?, ?, ?, ?)",
                [tid, name, parent_id, region, ctx.now, ctx.import_id])
    return tid, True


# ------------------------------------------------------------------------------------ customers
def _customer_keys(ctx, ids: list[int]) -> None:
    """Duplicate-guard and search keys of customers just created (bulk)."""
    if not ids:
        return
    from core import dedup, search

    con = ctx.con
    rows = con.execute("SELECT id, name, kind FROM customers WHERE id IN (SELECT unnest(?))", [ids]).fetchall()
    keys = dedup.name_keys("customer", [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    if keys.height:
        con.register("_i4_keys", keys)
        try:
            con.execute("INSERT INTO dedup_keys SELECT key, entity, entity_id, chars, pinyin FROM _i4_keys")
        finally:
            con.unregister("_i4_keys")
    con.execute("INSERT INTO dedup_keys SELECT 'e:' || lower(trim(email)), 'customer', id, NULL, NULL FROM customers "
                "WHERE id IN (SELECT unnest(?)) AND nullif(trim(email), '') IS NOT NULL", [ids])
    search.refresh(con, "customer", ids, new=True)


def _new_ids(con, table: str) -> str:
    return f"nextval('seq_{table}')"


# ------------------------------------------------------------------------------------ deals / opportunities
def _stage_codes(con) -> tuple[list[str], dict[str, str]]:
    rows = con.execute("SELECT code, name_en, name_zh FROM pipeline_stages WHERE active").fetchall()
    names = {}
    for code, en, zh in rows:
        for n in (en, zh):
            if n:
                names[n.lower()] = code
    return [r[0] for r in rows], names


def _resolve_deals(ctx, create_accounts: bool) -> None:
    con = ctx.con
    codes, names = _stage_codes(con)
    unknown = _map_choice(ctx, "stage", codes, STAGE_SYNONYMS, "_stage", names)
    ctx.counts["unknown_stages"] = len(unknown)
    _reject(ctx, f"_stage IS NULL AND {_txt(ctx, 'stage')} IS NOT NULL", "import.unknown_value|deal.stage")
    _reject(ctx, _bad_num(ctx, "amount"), "import.bad_number|deal.amount")
    _reject(ctx, f"{_num(ctx, 'amount')} < 0", "import.negative|deal.amount")
    for f in ("engaged_on", "closed_on", "expected_close"):
        _reject(ctx, _bad_ts(ctx, f), f"import.bad_date|deal.{f}")
    if not create_accounts and _has(ctx, "customer"):
        _reject(ctx, f"{_txt(ctx, 'customer')} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers c WHERE "
                     f"c.deleted_at IS NULL AND c.merged_into_id IS NULL AND (lower(c.name) = lower({_txt(ctx, 'customer')}) "
                     f"OR c.external_ref = {_txt(ctx, 'customer')}))", "import.no_customer|deal.customer")
    if _has(ctx, "external_ref"):
        _dups(ctx, _txt(ctx, "external_ref"), "SELECT external_ref FROM deals WHERE deleted_at IS NULL",
              "import.field.external_ref")


def _write_deals(ctx, create_accounts: bool) -> dict:
    con, t, now = ctx.con, ctx.table, ctx.now
    counts = ctx.counts
    if not _has(ctx, "_owner_id"):  # the engine resolves owners of an owned object; else the rows get none
        for col in ("_owner_id", "_team_id"):
            con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {col} BIGINT")  # sql-ok: staging table, field names
    # products: matched by the name without spaces; unknown ones created
    con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _product_id BIGINT")  # sql-ok: staging table, field names
    renamed: list[str] = []
    if _has(ctx, "product"):
        pk = f"lower(replace({_txt(ctx, 'product')}, ' ', ''))"
        missing = con.execute(
            f"SELECT min({_txt(ctx, 'product')}) FROM {t} WHERE {_ok()} AND {_txt(ctx, 'product')} IS NOT NULL AND {pk} "
            f"NOT IN (SELECT lower(replace(name, ' ', '')) FROM products WHERE deleted_at IS NULL) GROUP BY {pk} ORDER BY 1"
        ).fetchall()
        for (name,) in missing:
            con.execute("INSERT INTO products (id, name, created_at, updated_at, active, import_id) VALUES "
                        "(nextval('seq_products'), ?, ?, ?, TRUE, ?)", [name, now, now, ctx.import_id])
        _note(ctx, "products_created", [m[0] for m in missing])
        con.execute(f"UPDATE {t} SET _product_id = p.id FROM (SELECT lower(replace(name, ' ', '')) AS k, min(id) AS id "  # sql-ok: staging table, field names
                    f"FROM products WHERE deleted_at IS NULL GROUP BY 1) p WHERE p.k = {pk}")
        renamed = [f"{a} -> {b}" for a, b in con.execute(
            f"SELECT DISTINCT {_txt(ctx, 'product')}, p.name FROM {t} JOIN products p ON p.id = _product_id "
            f"WHERE {_ok()} AND p.name <> {_txt(ctx, 'product')} ORDER BY 1").fetchall()]
    _note(ctx, "products_renamed", renamed)
    # customers: by name (case-insensitive) or external_ref; opportunities create the unknown accounts
    con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _customer_id BIGINT")  # sql-ok: staging table, field names
    if _has(ctx, "customer"):
        cn = _txt(ctx, "customer")
        link = (f"UPDATE {t} SET _customer_id = c.id FROM (SELECT lower(name) AS k, min(id) AS id FROM customers "
                f"WHERE deleted_at IS NULL AND merged_into_id IS NULL GROUP BY 1) c WHERE {_ok()} AND c.k = lower({cn})")
        con.execute(link)
        con.execute(f"UPDATE {t} SET _customer_id = c.id FROM (SELECT external_ref AS k, min(id) AS id FROM customers "  # sql-ok: staging table, field names
                    f"WHERE deleted_at IS NULL AND merged_into_id IS NULL AND external_ref IS NOT NULL GROUP BY 1) c "
                    f"WHERE {_ok()} AND _customer_id IS NULL AND c.k = {cn}")
        counts["customers_linked"] = con.execute(
            f"SELECT count(DISTINCT _customer_id) FROM {t} WHERE {_ok()} AND _customer_id IS NOT NULL").fetchone()[0]
        new_ids: list[int] = []
        if create_accounts:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _i4_acc AS SELECT {_new_ids(con, 'customers')} AS id, * FROM ("
                f"SELECT min(cname) AS name, lower(cname) AS k, "
                f"arg_max(_owner_id, n) AS owner_id, arg_max(_team_id, n) AS team_id, "
                f"bool_or(_stage IN (SELECT code FROM pipeline_stages WHERE is_won)) AS won, "
                f"min(first) AS first FROM (SELECT {cn} AS cname, _owner_id, _team_id, _stage, "
                f"count(*) OVER (PARTITION BY lower({cn}), _owner_id) AS n, {_ts(ctx, 'engaged_on')} AS first "
                f"FROM {t} WHERE {_ok()} AND _customer_id IS NULL AND {cn} IS NOT NULL) GROUP BY lower(cname) ORDER BY 2)")
            con.execute(
                "INSERT INTO customers (id, name, kind, owner_id, team_id, stage, source, assigned_at, pool_since, "
                "import_id, external_ref, created_by, created_at, updated_at) SELECT id, name, 'company', owner_id, team_id, "
                "CASE WHEN won THEN 'won' ELSE 'opportunity' END, 'import', CASE WHEN owner_id IS NOT NULL THEN ? END, "
                f"CASE WHEN owner_id IS NULL THEN ? END, ?, name, ?, coalesce({_utc(ctx, 'first')}, ?), ? FROM _i4_acc",
                [now, now, ctx.import_id, ctx.actor.id, now, now])
            new_ids = [r[0] for r in con.execute("SELECT id FROM _i4_acc").fetchall()]
            con.execute(f"UPDATE {t} SET _customer_id = a.id FROM _i4_acc a WHERE {_ok()} AND a.k = lower({cn})")  # sql-ok: staging table, field names
            con.execute("DROP TABLE _i4_acc")
            _customer_keys(ctx, new_ids)
        counts["customers_created"] = len(new_ids)
    counts["no_customer"] = _count(ctx, f"{_txt(ctx, 'customer')} IS NULL")
    # the deals
    from core import clock

    today = clock.local_today(con, now)
    won = "(SELECT code FROM pipeline_stages WHERE is_won)"
    lost = "(SELECT code FROM pipeline_stages WHERE is_lost)"
    closed = f"(_stage IN {won} OR _stage IN {lost})"
    eng, clo, exp = _ts(ctx, "engaged_on"), _ts(ctx, "closed_on"), _ts(ctx, "expected_close")
    amount = _num(ctx, "amount")
    currency = f"coalesce(upper({_txt(ctx, 'currency')}), ?)"
    name = (f"coalesce({_txt(ctx, 'name')}, concat_ws(' - ', coalesce({_txt(ctx, 'customer')}, '(no account)'), "
            f"coalesce(p.name, {_txt(ctx, 'product')}), {_txt(ctx, 'external_ref')}))")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _i4_deals AS SELECT {_new_ids(con, 'deals')} AS id, r._row, {name} AS name, "
        f"r._customer_id AS customer_id, r._product_id AS product_id, "
        f"CAST(CASE WHEN {amount} IS NOT NULL THEN {amount} WHEN {closed} THEN 0 ELSE p.list_price END AS DECIMAL(18,2)) AS amount, "
        f"CASE WHEN {amount} IS NULL AND NOT {closed} AND p.list_price IS NOT NULL THEN 'list_price' END AS amount_from, "
        f"{currency} AS currency, r._stage AS stage, s.probability, s.pipeline_id, "
        f"CAST({eng} AS DATE) AS engaged_on, CASE WHEN {closed} THEN coalesce(CAST({clo} AS DATE), CAST(? AS DATE)) END AS closed_on, "
        f"CASE WHEN NOT {closed} THEN coalesce(CAST({exp} AS DATE), CAST({clo} AS DATE)) END AS expected_close, "
        f"r._owner_id AS owner_id, r._team_id AS team_id, {_txt(ctx, 'external_ref')} AS external_ref, "
        f"{_txt(ctx, 'lost_reason')} AS lost_reason, {_txt(ctx, 'stage')} AS file_stage "
        f"FROM {t} r LEFT JOIN products p ON p.id = r._product_id JOIN pipeline_stages s ON s.code = r._stage "
        f"WHERE {_ok('r')} ORDER BY r._row", [_extra(ctx, "currency", "USD"), today])
    tz = _tz(ctx)

    def at(day: str, hours: int) -> str:
        return f"CAST(((CAST({day} AS TIMESTAMP) + INTERVAL {hours} HOUR) AT TIME ZONE '{tz}') AT TIME ZONE 'UTC' AS TIMESTAMP)"

    con.execute("ALTER TABLE _i4_deals ADD COLUMN created_at TIMESTAMP")
    con.execute("ALTER TABLE _i4_deals ADD COLUMN changed_at TIMESTAMP")
    # a deal without any date (a prospect) is dated the file's last day, so a period covering the file holds it
    last = db.scalar(con, "SELECT greatest(max(engaged_on), max(closed_on)) FROM _i4_deals")
    con.execute(f"UPDATE _i4_deals SET created_at = coalesce({at('engaged_on', 0)}, {at('closed_on', 0)}, "  # sql-ok: fixed
                f"{at('CAST(? AS DATE)', 0)}, ?), changed_at = CASE WHEN closed_on IS NOT NULL THEN {at('closed_on', 18)} "
                f"WHEN engaged_on IS NOT NULL THEN {at('engaged_on', 12)} END", [last, now])
    con.execute("UPDATE _i4_deals SET changed_at = created_at WHERE changed_at IS NULL OR changed_at < created_at")
    n = con.execute(
        "INSERT INTO deals (id, name, customer_id, product_id, amount, currency, stage, probability, pipeline_id, "
        "engaged_on, closed_on, expected_close, lost_reason, owner_id, team_id, import_id, external_ref, custom, "
        "created_by, created_at, updated_at, stage_changed_at, source) SELECT id, name, customer_id, product_id, "
        "coalesce(amount, 0), currency, stage, probability, pipeline_id, engaged_on, closed_on, expected_close, "
        "lost_reason, owner_id, team_id, ?, external_ref, to_json(struct_pack(file_stage := file_stage, "
        "amount_from := amount_from)), ?, created_at, ?, changed_at, 'import' FROM _i4_deals",
        [ctx.import_id, ctx.actor.id, now]).fetchone()[0]
    # stage history: the pipeline's first stage at creation, then the deal's stage
    # stage history consistent with the dates: the pipeline's first stage at creation; an engaged deal that
    # went beyond the second stage passed it at 12:00 of its engage day; then its own stage (close day 18:00)
    con.execute("CREATE OR REPLACE TEMP TABLE _i4_steps AS SELECT d.id, d.stage, d.created_at, d.changed_at, "
                "d.engaged_on IS NOT NULL AS engaged, s1.code AS first, s2.code AS second, "
                f"{at('d.engaged_on', 12)} AS engaged_at FROM _i4_deals d "
                "JOIN (SELECT pipeline_id, code, row_number() OVER (PARTITION BY pipeline_id ORDER BY position) AS k "
                "FROM pipeline_stages WHERE active AND NOT is_won AND NOT is_lost) s1 ON s1.pipeline_id = d.pipeline_id "
                "AND s1.k = 1 LEFT JOIN (SELECT pipeline_id, code, row_number() OVER (PARTITION BY pipeline_id "
                "ORDER BY position) AS k FROM pipeline_stages WHERE active AND NOT is_won AND NOT is_lost) s2 "
                "ON s2.pipeline_id = d.pipeline_id AND s2.k = 2")
    con.execute("ALTER TABLE _i4_steps ADD COLUMN via_second BOOLEAN")
    con.execute("UPDATE _i4_steps SET via_second = engaged AND second IS NOT NULL AND stage NOT IN (first, second) "
                "AND engaged_at BETWEEN created_at AND changed_at")
    con.execute(
        "INSERT INTO deal_stage_history (id, deal_id, from_stage, to_stage, changed_at, changed_by) "
        "SELECT nextval('seq_deal_stage_history'), id, from_stage, to_stage, changed_at, ? FROM ("
        "SELECT id, NULL AS from_stage, first AS to_stage, created_at AS changed_at, 1 AS step FROM _i4_steps "
        "UNION ALL SELECT id, first, second, engaged_at, 2 FROM _i4_steps WHERE via_second "
        "UNION ALL SELECT id, CASE WHEN via_second THEN second ELSE first END, stage, changed_at, 3 FROM _i4_steps "
        "WHERE stage <> first) ORDER BY id, step", [ctx.actor.id])
    con.execute("DROP TABLE _i4_steps")
    counts["won"] = db.scalar(con, f"SELECT count(*) FROM _i4_deals WHERE stage IN {won}")
    counts["lost"] = db.scalar(con, f"SELECT count(*) FROM _i4_deals WHERE stage IN {lost}")
    counts["deals"] = n
    con.execute("DROP TABLE _i4_deals")
    counts["created"] = n
    _audit_notes(ctx, "deal")
    _audit_batch(ctx, ctx.spec.name)
    return counts


DEAL_FIELDS = (
    F("external_ref", "text", "import.field.external_ref", max_len=100,
      synonyms=("opportunity_id", "opportunity id", "deal id", "id", "商机编号", "编号")),
    F("name", "text", "deal.name", max_len=200, synonyms=("deal", "deal name", "opportunity", "商机", "商机名称")),
    F("customer", "link", "deal.customer", target="account",
      synonyms=("account", "customer", "company", "客户", "客户名称", "公司")),
    F("owner", "owner", "import.field.owner", target="agent",
      synonyms=("sales_agent", "sales agent", "owner", "agent", "rep", "负责人", "销售")),
    F("product", "text", "deal.product", target="product", max_len=200, synonyms=("product", "产品")),
    F("stage", "choice", "deal.stage", required=True,
      option_list=lambda con: [r[0] for r in con.execute("SELECT code FROM pipeline_stages WHERE active").fetchall()],
      synonyms=("deal_stage", "deal stage", "stage", "阶段", "商机阶段")),
    F("engaged_on", "date", "deal.engaged_on", synonyms=("engage_date", "engage date", "接洽日期")),
    F("closed_on", "date", "deal.closed_on", synonyms=("close_date", "close date", "closed", "成交日期", "关闭日期")),
    F("expected_close", "date", "deal.expected_close", synonyms=("expected close", "预计成交日期")),
    F("amount", "text", "deal.amount", synonyms=("close_value", "close value", "amount", "value", "金额", "成交金额")),
    F("currency", "text", "deal.currency", max_len=3, synonyms=("currency", "币种")),
    F("lost_reason", "text", "deal.lost_reason", max_len=200, synonyms=("lost reason", "输单原因")),
)

DEALS = register(ObjectSpec(
    name="deals", module="deals", entity="deal", table="deals", label_key="import.object.deals", keys=(),
    owned=True, fields={f.name: f for f in DEAL_FIELDS},
    resolve=lambda ctx: _resolve_deals(ctx, False), write=lambda ctx: _write_deals(ctx, False)))

OPPORTUNITIES = register(ObjectSpec(
    name="opportunities", module="deals", entity="deal", table="deals", label_key="import.object.opportunities",
    keys=(), owned=True, fields={f.name: f for f in DEAL_FIELDS},
    resolve=lambda ctx: _resolve_deals(ctx, True), write=lambda ctx: _write_deals(ctx, True)))


# ------------------------------------------------------------------------------------ products
def _resolve_products(ctx) -> None:
    _reject(ctx, _bad_num(ctx, "list_price"), "import.bad_number|product.list_price")
    _reject(ctx, f"{_num(ctx, 'list_price')} < 0", "import.negative|product.list_price")
    key = f"lower(replace({_txt(ctx, 'name')}, ' ', ''))"
    _dups(ctx, key, "SELECT lower(replace(name, ' ', '')) FROM products WHERE deleted_at IS NULL", "product.name")


def _write_products(ctx) -> dict:
    con, now = ctx.con, ctx.now
    n = con.execute(
        "INSERT INTO products (id, code, name, series, list_price, active, created_at, updated_at, import_id) "
        f"SELECT nextval('seq_products'), {_txt(ctx, 'code')}, {_txt(ctx, 'name')}, {_txt(ctx, 'series')}, "
        f"CAST({_num(ctx, 'list_price')} AS DECIMAL(18,2)), TRUE, ?, ?, ? FROM {ctx.table} WHERE {_ok()} ORDER BY _row",
        [now, now, ctx.import_id]).fetchone()[0]
    _audit_batch(ctx, "products")
    return {"created": n, "products": n}


PRODUCTS = register(ObjectSpec(
    name="products", module="settings", entity="product", table="products", label_key="import.object.products",
    keys=(), owned=False, resolve=_resolve_products, write=_write_products,
    fields={f.name: f for f in (
        F("name", "text", "product.name", required=True, max_len=200, synonyms=("product", "name", "产品", "产品名称")),
        F("code", "text", "product.code", max_len=60, synonyms=("code", "sku", "编码", "产品编码")),
        F("series", "text", "product.series", max_len=100, synonyms=("series", "系列")),
        F("list_price", "text", "product.list_price", synonyms=("sales_price", "list price", "price", "价格", "标价")),
    )}))


# ------------------------------------------------------------------------------------ orders (UCI retail)
def _custref(ctx, f: str = "customer_ref") -> str:
    """A customer reference as text: "17850.0" (a spreadsheet's number) is 17850."""
    return f"regexp_replace({_txt(ctx, f)}, '^([0-9]+)\\.0+$', '\\1')"


def _resolve_orders(ctx) -> None:
    if _extra(ctx, "missing_customer", "reject") == "reject":
        _reject(ctx, f"{_custref(ctx)} IS NULL AND {_txt(ctx, 'customer')} IS NULL",
                "import.missing_customer|" + ("import.field.customer_ref" if _has(ctx, "customer_ref") else "order.customer"))
    for f in ("quantity", "unit_price", "amount"):
        _reject(ctx, _bad_num(ctx, f), f"import.bad_number|order.{f}")
    if _has(ctx, "quantity"):
        _reject(ctx, f"{_txt(ctx, 'quantity')} IS NULL", "import.required|order.quantity")
    if _has(ctx, "unit_price"):
        _reject(ctx, f"{_txt(ctx, 'unit_price')} IS NULL AND {_txt(ctx, 'amount')} IS NULL", "import.required|order.unit_price")
    _reject(ctx, f"{_num(ctx, 'unit_price')} < 0", "import.negative|order.unit_price")
    _reject(ctx, f"{_txt(ctx, 'ordered_at')} IS NULL", "import.required|order.ordered_at")
    _reject(ctx, _bad_ts(ctx, "ordered_at"), "import.bad_date|order.ordered_at")
    # an order already in the store: all its lines skipped (or created again when the import says so)
    _dups(ctx, _txt(ctx, "order_no"), "SELECT order_no FROM orders WHERE deleted_at IS NULL", "order.order_no",
          in_file=False)


def _write_orders(ctx) -> dict:
    con, t, now = ctx.con, ctx.table, ctx.now
    counts = ctx.counts
    ono = _txt(ctx, "order_no")
    team = _extra(ctx, "team_id") or getattr(ctx.options, "pool_team_id", None)
    # customers by external_ref (else by name when the file names them); unknown ones created
    con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _customer_id BIGINT")  # sql-ok: staging table, field names
    con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _ckey VARCHAR")  # sql-ok: staging table, field names
    con.execute(f"UPDATE {t} SET _ckey = coalesce({_custref(ctx)}, 'name:' || lower({_txt(ctx, 'customer')})) "  # sql-ok: staging table, field names
                f"WHERE {_ok()}")
    con.execute(f"UPDATE {t} SET _customer_id = c.id FROM (SELECT external_ref AS k, min(id) AS id FROM customers "  # sql-ok: staging table, field names
                f"WHERE deleted_at IS NULL AND merged_into_id IS NULL AND external_ref IS NOT NULL GROUP BY 1) c "
                f"WHERE {_ok()} AND c.k = _ckey")
    con.execute(f"UPDATE {t} SET _customer_id = c.id FROM (SELECT 'name:' || lower(name) AS k, min(id) AS id FROM customers "  # sql-ok: staging table, field names
                f"WHERE deleted_at IS NULL AND merged_into_id IS NULL GROUP BY 1) c "
                f"WHERE {_ok()} AND _customer_id IS NULL AND c.k = _ckey")
    counts["customers_linked"] = db.scalar(con, f"SELECT count(DISTINCT _customer_id) FROM {t} WHERE {_ok()} "
                                                f"AND _customer_id IS NOT NULL")
    ts = _ts(ctx, "ordered_at")
    prefix = _extra(ctx, "customer_prefix", "Customer ")
    if team is None:
        team = _team(ctx, _extra(ctx, "team_name", "Online retail"))[0]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _i4_cust AS SELECT {_new_ids(con, 'customers')} AS id, * FROM ("
        f"SELECT _ckey, arg_min({_custref(ctx)}, _row) AS ref, arg_min({_txt(ctx, 'customer')}, _row) AS cname, "
        f"arg_min({_txt(ctx, 'country')}, {ts}) AS country, min({ts}) AS first, "
        f"min({ts}) FILTER (WHERE NOT starts_with(upper({_txt(ctx, 'order_no')}), 'C')) AS first_buy "
        f"FROM {t} WHERE {_ok()} AND _customer_id IS NULL AND _ckey IS NOT NULL GROUP BY _ckey ORDER BY first, _ckey)")
    con.execute(
        "INSERT INTO customers (id, name, kind, country, team_id, pool_since, stage, won_at, registered_on, source, "
        "external_ref, import_id, created_by, created_at, updated_at) SELECT id, coalesce(cname, ? || ref), 'person', "
        f"country, ?, ?, CASE WHEN first_buy IS NOT NULL THEN 'won' ELSE 'raw' END, {_utc(ctx, 'first_buy')}, "
        f"CAST(first AS DATE), 'import', ref, ?, ?, coalesce({_utc(ctx, 'first')}, ?), ? FROM _i4_cust",
        [prefix, team, now, ctx.import_id, ctx.actor.id, now, now])
    new_ids = [r[0] for r in con.execute("SELECT id FROM _i4_cust").fetchall()]
    con.execute(f"UPDATE {t} SET _customer_id = c.id FROM _i4_cust c WHERE {_ok()} AND c._ckey = {t}._ckey")  # sql-ok: staging table, field names
    con.execute("DROP TABLE _i4_cust")
    _customer_keys(ctx, new_ids)
    counts["customers_created"] = len(new_ids)
    # lines, then one order per order number
    qty, price = f"coalesce({_num(ctx, 'quantity')}, 1)", _num(ctx, "unit_price")
    line_amount = (f"CAST(round(coalesce({_num(ctx, 'amount')}, {qty} * {price}), 2) AS DECIMAL(18,2))")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _i4_lines AS SELECT _row, {ono} AS order_no, _customer_id AS customer_id, "
        f"{ts} AS local, {_txt(ctx, 'sku')} AS sku, {_txt(ctx, 'description')} AS description, "
        f"CAST({qty} AS DECIMAL(18,3)) AS quantity, CAST({price} AS DECIMAL(18,4)) AS unit_price, "
        f"{line_amount} AS amount, {_txt(ctx, 'country')} AS country, upper({_txt(ctx, 'currency')}) AS currency, "
        f"{_txt(ctx, 'status')} AS file_status FROM {t} WHERE {_ok()}")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _i4_orders AS SELECT {_new_ids(con, 'orders')} AS id, * FROM ("
        f"SELECT order_no, arg_min(customer_id, _row) AS customer_id, min(local) AS local, sum(amount) AS amount, "
        f"arg_min(country, _row) AS country, arg_min(currency, _row) AS currency, count(*) AS n_lines, "
        f"starts_with(upper(order_no), 'C') OR bool_or(lower(file_status) IN ('cancelled', 'canceled', '已取消')) AS cancel "
        f"FROM _i4_lines GROUP BY order_no ORDER BY min(local), order_no)")
    n = con.execute(
        "INSERT INTO orders (id, order_no, customer_id, ordered_at, status, amount, currency, channel, country, team_id, "
        f"import_id, external_ref, created_by, created_at, updated_at) SELECT id, order_no, customer_id, {_utc(ctx, 'local')}, "
        "CASE WHEN cancel THEN 'cancelled' ELSE 'confirmed' END, amount, coalesce(currency, ?), ?, country, ?, ?, order_no, "
        "?, ?, ? FROM _i4_orders", [_extra(ctx, "currency", "GBP"), _extra(ctx, "channel", "web"), team,
                                    ctx.import_id, ctx.actor.id, now, now]).fetchone()[0]
    lines = con.execute(
        "INSERT INTO order_lines (id, order_id, sku, description, quantity, unit_price, amount, import_id) "
        "SELECT nextval('seq_order_lines'), o.id, l.sku, l.description, l.quantity, l.unit_price, l.amount, ? "
        "FROM _i4_lines l JOIN _i4_orders o USING (order_no) ORDER BY l._row", [ctx.import_id]).fetchone()[0]
    counts["orders"] = n
    counts["order_lines"] = lines
    counts["cancelled"] = db.scalar(con, "SELECT count(*) FROM _i4_orders WHERE cancel")
    counts["revenue"] = float(db.scalar(con, "SELECT coalesce(sum(amount), 0) FROM _i4_orders") or 0)
    con.execute("DROP TABLE _i4_lines")
    con.execute("DROP TABLE _i4_orders")
    counts["created"] = n
    _audit_batch(ctx, ctx.spec.name)
    return counts


ORDERS = register(ObjectSpec(
    name="orders", module="orders", entity="order", table="orders", label_key="import.object.orders", keys=(),
    owned=False, resolve=_resolve_orders, write=_write_orders,
    fields={f.name: f for f in (
        F("order_no", "text", "order.order_no", required=True, max_len=60,
          synonyms=("invoiceno", "invoice no", "invoice", "order no", "order number", "order", "订单号", "单号")),
        F("customer_ref", "text", "import.field.customer_ref", max_len=100,
          synonyms=("customerid", "customer id", "customer_id", "客户编号")),
        F("customer", "text", "order.customer", max_len=200, synonyms=("customer", "customer name", "客户", "客户名称")),
        F("ordered_at", "datetime", "order.ordered_at",
          synonyms=("invoicedate", "invoice date", "order date", "date", "下单时间", "订单日期")),
        F("sku", "text", "order.sku", max_len=60, synonyms=("stockcode", "stock code", "sku", "商品编码")),
        F("description", "text", "order.description", max_len=500, synonyms=("description", "product", "商品名称")),
        F("quantity", "text", "order.quantity", synonyms=("quantity", "qty", "数量")),
        F("unit_price", "text", "order.unit_price", synonyms=("unitprice", "unit price", "price", "单价")),
        F("amount", "text", "order.amount", synonyms=("amount", "line total", "金额")),
        F("country", "text", "order.country", max_len=100, synonyms=("country", "国家")),
        F("currency", "text", "order.currency", max_len=3, synonyms=("currency", "币种")),
        F("status", "text", "order.status", max_len=40, synonyms=("status", "order status", "订单状态")),
    )}))
# the same object by the name the plan uses for a transactions file
register(ObjectSpec(**{**ORDERS.__dict__, "name": "transactions", "fields": dict(ORDERS.fields)}))


# ------------------------------------------------------------------------------------ tickets
def _resolve_tickets(ctx) -> None:
    con = ctx.con
    from core import tickets as core_tickets

    _reject(ctx, f"{_txt(ctx, 'customer_email')} IS NULL AND {_txt(ctx, 'customer_name')} IS NULL",
            "import.missing_customer|ticket.customer_email")
    for f, codes, defaults, out in (
            ("status", list(core_tickets.STATUSES), TICKET_STATUS, "_status"),
            ("priority", list(core_tickets.PRIORITIES), TICKET_PRIORITY, "_priority"),
            ("channel", list(core_tickets.CHANNELS), TICKET_CHANNEL, "_channel"),
            ("category", core_tickets.category_codes(con), TICKET_CATEGORY, "_category")):
        if _map_choice(ctx, f, codes, defaults, out):
            _reject(ctx, f"{out} IS NULL AND {_txt(ctx, f)} IS NOT NULL", f"import.unknown_value|ticket.{f}")
    for f in ("first_response_at", "resolved_at", "purchased_on", "opened_at"):
        _reject(ctx, _bad_ts(ctx, f), f"import.bad_date|ticket.{f}")
    _reject(ctx, _bad_num(ctx, "satisfaction"), "import.bad_rating|ticket.satisfaction")
    _reject(ctx, f"{_num(ctx, 'satisfaction')} NOT BETWEEN 1 AND 5 OR {_num(ctx, 'satisfaction')} <> "
                 f"round({_num(ctx, 'satisfaction')})", "import.bad_rating|ticket.satisfaction")
    if _has(ctx, "external_ref"):
        _dups(ctx, _txt(ctx, "external_ref"), "SELECT external_ref FROM tickets WHERE deleted_at IS NULL",
              "import.field.external_ref")


def _write_tickets(ctx) -> dict:
    con, t, now = ctx.con, ctx.table, ctx.now
    counts = ctx.counts
    ref = _txt(ctx, "external_ref")
    team = _extra(ctx, "team_id") or getattr(ctx.options, "pool_team_id", None) or _team(ctx, SERVICE_TEAM)[0]
    mail, cname = f"lower({_txt(ctx, 'customer_email')})", _txt(ctx, "customer_name")
    con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _customer_id BIGINT")  # sql-ok: staging table, field names
    con.execute(f"UPDATE {t} SET _customer_id = c.id FROM (SELECT lower(trim(email)) AS k, min(id) AS id FROM customers "  # sql-ok: staging table, field names
                f"WHERE deleted_at IS NULL AND merged_into_id IS NULL AND email IS NOT NULL GROUP BY 1) c "
                f"WHERE {_ok()} AND c.k = {mail}")
    con.execute(f"UPDATE {t} SET _customer_id = c.id FROM (SELECT name AS k, min(id) AS id FROM customers "  # sql-ok: staging table, field names
                f"WHERE deleted_at IS NULL AND merged_into_id IS NULL GROUP BY 1) c "
                f"WHERE {_ok()} AND _customer_id IS NULL AND {mail} IS NULL AND c.k = {cname}")
    counts["customers_linked"] = db.scalar(con, f"SELECT count(DISTINCT _customer_id) FROM {t} WHERE {_ok()} "
                                                f"AND _customer_id IS NOT NULL")
    gender = f"lower({_txt(ctx, 'customer_gender')})"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _i4_cust AS SELECT {_new_ids(con, 'customers')} AS id, * FROM ("
        f"SELECT coalesce({mail}, 'name:' || {cname}) AS k, arg_min({cname}, _row) AS name, arg_min({mail}, _row) AS email, "
        f"arg_min(CASE WHEN {gender} IN ('male', 'female', 'other') THEN {gender} "
        f"WHEN {gender} IN ('男', 'm') THEN 'male' WHEN {gender} IN ('女', 'f') THEN 'female' END, _row) AS gender, "
        f"arg_min(TRY_CAST({_num(ctx, 'customer_age')} AS INTEGER), _row) AS age, "
        f"min(CAST({_ts(ctx, 'purchased_on')} AS DATE)) AS purchased FROM {t} WHERE {_ok()} AND _customer_id IS NULL "
        f"GROUP BY 1 ORDER BY min(_row))")
    con.execute(
        "INSERT INTO customers (id, name, kind, email, gender, team_id, pool_since, stage, won_at, registered_on, source, "
        "custom, import_id, created_by, created_at, updated_at) SELECT id, coalesce(name, email), 'person', email, gender, "
        f"?, ?, 'won', {_utc(ctx, 'CAST(purchased AS TIMESTAMP)')}, purchased, 'import', "
        "CASE WHEN age IS NOT NULL THEN to_json(struct_pack(age := age)) END, ?, ?, "
        f"coalesce({_utc(ctx, 'CAST(purchased AS TIMESTAMP)')}, ?), ? FROM _i4_cust",
        [team, now, ctx.import_id, ctx.actor.id, now, now])
    new_ids = [r[0] for r in con.execute("SELECT id FROM _i4_cust").fetchall()]
    con.execute(f"UPDATE {t} SET _customer_id = c.id FROM _i4_cust c WHERE {_ok()} AND _customer_id IS NULL "  # sql-ok: staging table, field names
                f"AND c.k = coalesce({mail}, 'name:' || {cname})")
    con.execute("DROP TABLE _i4_cust")
    _customer_keys(ctx, new_ids)
    counts["customers_created"] = len(new_ids)
    fr, tr, op = _ts(ctx, "first_response_at"), _ts(ctx, "resolved_at"), _ts(ctx, "opened_at")
    start = db.scalar(con, f"SELECT least(min({fr}), min({tr}), min({op})) FROM {t} WHERE {_ok()}") or now
    done = "_status IN ('resolved', 'closed')"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _i4_t AS SELECT {_new_ids(con, 'tickets')} AS id, _row, _customer_id AS customer_id, "
        f"{ref} AS ref, coalesce({_txt(ctx, 'subject')}, '') AS subject, {_txt(ctx, 'description')} AS description, "
        f"_category AS category, {_txt(ctx, 'product')} AS product, CAST({_ts(ctx, 'purchased_on')} AS DATE) AS purchased_on, "
        f"coalesce(_priority, 'medium') AS priority, _channel AS channel, coalesce(_status, 'open') AS status, "
        f"coalesce({op}, {fr}, CAST(? AS TIMESTAMP)) AS opened, "
        f"CASE WHEN {op} IS NOT NULL THEN 'file' WHEN {fr} IS NOT NULL THEN 'first_response' ELSE 'file_start' END AS opened_from, "
        f"{fr} AS fr, CASE WHEN {done} THEN {tr} END AS tr, {_txt(ctx, 'resolution')} AS resolution, "
        f"CASE WHEN {done} THEN {_num(ctx, 'satisfaction')} END AS score, "
        f"coalesce({done} AND {tr} < {fr}, FALSE) AS inconsistent, {_txt(ctx, 'customer_name')} AS file_name, "
        f"{_txt(ctx, 'customer_email')} AS file_email, {_txt(ctx, 'status')} AS file_status, "
        f"{_txt(ctx, 'channel')} AS file_channel FROM {t} WHERE {_ok()} ORDER BY _row", [start])
    n = con.execute(
        "INSERT INTO tickets (id, ticket_no, customer_id, subject, description, category, product, purchased_on, priority, "
        "channel, status, team_id, opened_at, first_response_at, resolved_at, closed_at, resolution, satisfaction, "
        "import_id, external_ref, custom, created_by, created_at, updated_at, status_changed_at) SELECT id, "
        "coalesce(ref, CAST(id AS VARCHAR)), customer_id, subject, description, category, product, purchased_on, priority, "
        f"channel, status, ?, {_utc(ctx, 'opened')}, {_utc(ctx, 'fr')}, {_utc(ctx, 'tr')}, "
        f"CASE WHEN status = 'closed' THEN {_utc(ctx, 'tr')} END, resolution, score, ?, ref, to_json(struct_pack("
        "times_inconsistent := inconsistent, opened_at_from := opened_from, customer_name := file_name, "
        "customer_email := file_email, source_status := file_status, source_channel := file_channel)), ?, "
        f"{_utc(ctx, 'opened')}, ?, coalesce({_utc(ctx, 'tr')}, {_utc(ctx, 'fr')}, {_utc(ctx, 'opened')}) FROM _i4_t",
        [team, ctx.import_id, ctx.actor.id, now]).fetchone()[0]
    # CSAT through the feedback table (kind csat, channel import), one row per rated ticket
    csat = con.execute(
        "INSERT INTO feedback (id, customer_id, ticket_id, kind, score, channel, status, team_id, created_at, closed_at, "
        f"created_by, updated_at, import_id) SELECT nextval('seq_feedback'), customer_id, id, 'csat', score, 'import', "
        f"'closed', ?, coalesce({_utc(ctx, 'tr')}, ?), coalesce({_utc(ctx, 'tr')}, ?), ?, ?, ? FROM _i4_t "
        "WHERE score IS NOT NULL", [team, now, now, ctx.actor.id, now, ctx.import_id]).fetchone()[0]
    counts["tickets"] = n
    counts["csat"] = csat
    counts["times_inconsistent"] = db.scalar(con, "SELECT count(*) FROM _i4_t WHERE inconsistent")
    con.execute("DROP TABLE _i4_t")
    counts["created"] = n
    _audit_batch(ctx, "tickets")
    return counts


TICKETS = register(ObjectSpec(
    name="tickets", module="tickets", entity="ticket", table="tickets", label_key="import.object.tickets", keys=(),
    owned=False, resolve=_resolve_tickets, write=_write_tickets,
    fields={f.name: f for f in (
        F("external_ref", "text", "import.field.external_ref", max_len=100,
          synonyms=("ticket id", "ticket_id", "ticket no", "工单号", "工单编号")),
        F("customer_name", "text", "ticket.customer_name", max_len=200, synonyms=("customer name", "客户", "客户姓名")),
        F("customer_email", "text", "ticket.customer_email", max_len=254,
          synonyms=("customer email", "email", "邮箱")),
        F("customer_age", "text", "ticket.customer_age", synonyms=("customer age", "age", "年龄")),
        F("customer_gender", "text", "ticket.customer_gender", synonyms=("customer gender", "gender", "性别")),
        F("product", "text", "ticket.product", max_len=200, synonyms=("product purchased", "product", "产品")),
        F("purchased_on", "date", "ticket.purchased_on", synonyms=("date of purchase", "purchase date", "购买日期")),
        F("category", "choice", "ticket.category", option_list="ticket_category",
          synonyms=("ticket type", "type", "category", "类型", "工单类型")),
        F("subject", "text", "ticket.subject", max_len=300, synonyms=("ticket subject", "subject", "主题")),
        F("description", "longtext", "ticket.description", synonyms=("ticket description", "description", "描述")),
        F("status", "choice", "ticket.status", option_list=("new", "open", "pending", "resolved", "closed"),
          synonyms=("ticket status", "status", "状态")),
        F("resolution", "longtext", "ticket.resolution", synonyms=("resolution", "解决方案")),
        F("priority", "choice", "ticket.priority", option_list=("low", "medium", "high", "critical"),
          synonyms=("ticket priority", "priority", "优先级")),
        F("channel", "choice", "ticket.channel", option_list=("phone", "email", "chat", "web", "visit"),
          synonyms=("ticket channel", "channel", "渠道")),
        F("opened_at", "datetime", "ticket.opened_at", synonyms=("opened", "created", "创建时间")),
        F("first_response_at", "datetime", "ticket.first_response_at",
          synonyms=("first response time", "first response", "首次响应时间")),
        F("resolved_at", "datetime", "ticket.resolved_at",
          synonyms=("time to resolution", "resolved at", "resolution time", "解决时间")),
        F("satisfaction", "text", "ticket.satisfaction",
          synonyms=("customer satisfaction rating", "csat", "satisfaction", "满意度")),
    )}))


# ------------------------------------------------------------------------------------ campaign results
def _flag(ctx, f: str) -> str:
    s = f"lower({_txt(ctx, f)})"
    return f"CASE WHEN {s} IN {TRUE} THEN TRUE WHEN {s} IN {FALSE} THEN FALSE END"


def _bad_flag(ctx, f: str) -> str:
    return f"({_txt(ctx, f)} IS NOT NULL AND ({_flag(ctx, f)}) IS NULL)" if _has(ctx, f) else "FALSE"


CAMPAIGN_LABELS = {"birth_year": "customer.birth_year", "revenue": "campaign.revenue"}
FLAG_FIELDS = ("sent", "opened", "clicked", "responded", "converted", *WIDE_CAMPAIGNS)


def _resolve_campaigns(ctx) -> None:
    _reject(ctx, f"{_txt(ctx, 'member_ref')} IS NULL AND {_txt(ctx, 'member_name')} IS NULL",
            "import.missing_customer|import.field.customer_ref")
    for f in FLAG_FIELDS:
        _reject(ctx, _bad_flag(ctx, f), f"import.bad_bool|campaign.{f}")
    for f in ("revenue", "cost_per_contact", "revenue_per_response", "birth_year"):
        _reject(ctx, _bad_num(ctx, f), f"import.bad_number|{CAMPAIGN_LABELS.get(f, 'campaign.' + f)}")
    _reject(ctx, _bad_ts(ctx, "registered_on"), "import.bad_date|customer.registered_on")
    if not any(_has(ctx, f) for f in WIDE_CAMPAIGNS):
        _reject(ctx, f"{_txt(ctx, 'campaign')} IS NULL", "import.required|campaign.name")


def _write_campaigns(ctx) -> dict:
    con, t, now = ctx.con, ctx.table, ctx.now
    counts = ctx.counts
    team = _extra(ctx, "team_id") or getattr(ctx.options, "pool_team_id", None)
    # members: customers by external_ref (the file's ID), else by name; created when unknown
    con.execute(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS _customer_id BIGINT")  # sql-ok: staging table, field names
    key = f"coalesce({_custref(ctx, 'member_ref')}, 'name:' || lower({_txt(ctx, 'member_name')}))"
    con.execute(f"UPDATE {t} SET _customer_id = c.id FROM (SELECT external_ref AS k, min(id) AS id FROM customers "  # sql-ok: staging table, field names
                f"WHERE deleted_at IS NULL AND merged_into_id IS NULL AND external_ref IS NOT NULL GROUP BY 1) c "
                f"WHERE {_ok()} AND c.k = {key}")
    con.execute(f"UPDATE {t} SET _customer_id = c.id FROM (SELECT 'name:' || lower(name) AS k, min(id) AS id FROM customers "  # sql-ok: staging table, field names
                f"WHERE deleted_at IS NULL AND merged_into_id IS NULL GROUP BY 1) c "
                f"WHERE {_ok()} AND _customer_id IS NULL AND c.k = {key}")
    counts["customers_linked"] = db.scalar(con, f"SELECT count(DISTINCT _customer_id) FROM {t} WHERE {_ok()} "
                                                f"AND _customer_id IS NOT NULL")
    prefix = _extra(ctx, "customer_prefix", "Customer ")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _i4_cust AS SELECT {_new_ids(con, 'customers')} AS id, * FROM ("
        f"SELECT {key} AS k, arg_min({_custref(ctx, 'member_ref')}, _row) AS ref, "
        f"arg_min({_txt(ctx, 'member_name')}, _row) AS name, "
        f"arg_min(TRY_CAST({_num(ctx, 'birth_year')} AS INTEGER), _row) AS birth_year, "
        f"arg_min(CAST({_ts(ctx, 'registered_on')} AS DATE), _row) AS registered_on "
        f"FROM {t} WHERE {_ok()} AND _customer_id IS NULL GROUP BY 1 ORDER BY min(_row))")
    con.execute(
        "INSERT INTO customers (id, name, kind, birth_year, registered_on, team_id, pool_since, stage, source, external_ref, "
        "import_id, created_by, created_at, updated_at) SELECT id, coalesce(name, ? || ref), 'person', birth_year, "
        f"registered_on, ?, ?, 'won', 'import', ref, ?, ?, coalesce({_utc(ctx, 'CAST(registered_on AS TIMESTAMP)')}, ?), ? "
        "FROM _i4_cust", [prefix, team, now, ctx.import_id, ctx.actor.id, now, now])
    new_ids = [r[0] for r in con.execute("SELECT id FROM _i4_cust").fetchall()]
    con.execute(f"UPDATE {t} SET _customer_id = c.id FROM _i4_cust c WHERE {_ok()} AND _customer_id IS NULL AND c.k = {key}")  # sql-ok: staging table, field names
    con.execute("DROP TABLE _i4_cust")
    _customer_keys(ctx, new_ids)
    counts["customers_created"] = len(new_ids)
    # one long table: (row, campaign name, sent, opened, clicked, responded, converted, revenue)
    names = {**WIDE_CAMPAIGNS, **(_extra(ctx, "campaigns") or {})}
    rev = _num(ctx, "revenue_per_response")
    parts = []
    for f in WIDE_CAMPAIGNS:
        if _has(ctx, f):
            acc = f"coalesce({_flag(ctx, f)}, FALSE)"
            parts.append(f"SELECT _row, _customer_id, '{names[f].replace(chr(39), chr(39) * 2)}' AS campaign, TRUE AS sent, "
                         f"FALSE AS opened, FALSE AS clicked, {acc} AS responded, {acc} AS converted, "
                         f"CASE WHEN {acc} THEN coalesce({_num(ctx, 'revenue')}, {rev}) END AS revenue, "
                         f"{_num(ctx, 'cost_per_contact')} AS cpc, {rev} AS rpr FROM {t} WHERE {_ok()}")
    if not parts:
        sent = f"coalesce({_flag(ctx, 'sent')}, TRUE)"
        parts.append(f"SELECT _row, _customer_id, {_txt(ctx, 'campaign')} AS campaign, {sent} AS sent, "
                     f"coalesce({_flag(ctx, 'opened')}, FALSE) AS opened, coalesce({_flag(ctx, 'clicked')}, FALSE) AS clicked, "
                     f"coalesce({_flag(ctx, 'responded')}, FALSE) AS responded, "
                     f"coalesce({_flag(ctx, 'converted')}, FALSE) AS converted, {_num(ctx, 'revenue')} AS revenue, "
                     f"{_num(ctx, 'cost_per_contact')} AS cpc, {rev} AS rpr FROM {t} WHERE {_ok()}")
    con.execute("CREATE OR REPLACE TEMP TABLE _i4_m AS " + " UNION ALL ".join(parts))
    # campaigns by name; unknown ones created (channel email, status done)
    made = con.execute(
        "SELECT campaign, max(cpc), max(rpr) FROM _i4_m WHERE lower(campaign) NOT IN (SELECT lower(name) FROM campaigns "
        "WHERE deleted_at IS NULL) GROUP BY campaign ORDER BY min(_row), campaign").fetchall()
    for name, cpc, rpr in made:
        con.execute("INSERT INTO campaigns (id, name, channel, status, cost_per_contact, revenue_per_response, team_id, "
                    "owner_id, import_id, external_ref, created_at, updated_at) VALUES (nextval('seq_campaigns'), ?, ?, "
                    "'done', ?, ?, ?, ?, ?, ?, ?, ?)", [name, _extra(ctx, "channel", "email"), cpc, rpr, team,
                                                        ctx.actor.id, ctx.import_id, name, now, now])
    _note(ctx, "campaigns_created", [m[0] for m in made])
    con.execute("CREATE OR REPLACE TEMP TABLE _i4_m2 AS SELECT m.*, c.id AS campaign_id FROM _i4_m m JOIN "
                "(SELECT lower(name) AS k, min(id) AS id FROM campaigns WHERE deleted_at IS NULL GROUP BY 1) c "
                "ON c.k = lower(m.campaign)")
    dup = db.scalar(con, "SELECT count(*) FROM _i4_m2 m WHERE EXISTS (SELECT 1 FROM campaign_members x WHERE "
                         "x.campaign_id = m.campaign_id AND x.customer_id = m._customer_id)")
    counts["members_existing"] = dup
    n = con.execute(
        "INSERT INTO campaign_members (campaign_id, customer_id, added_at, sent_at, opened_at, clicked_at, responded_at, "
        "converted_at, revenue, import_id) SELECT campaign_id, _customer_id, ?, CASE WHEN sent THEN ? END, "
        "CASE WHEN opened THEN ? END, CASE WHEN clicked THEN ? END, CASE WHEN responded THEN ? END, "
        "CASE WHEN converted THEN ? END, CAST(revenue AS DECIMAL(18,2)), ? FROM _i4_m2 m WHERE NOT EXISTS (SELECT 1 FROM "
        "campaign_members x WHERE x.campaign_id = m.campaign_id AND x.customer_id = m._customer_id) ORDER BY _row, campaign_id",
        [now] * 6 + [ctx.import_id]).fetchone()[0]
    # cost of each campaign: its cost per contact x its members
    con.execute("UPDATE campaigns SET cost = CAST(cost_per_contact * m.n AS DECIMAL(18,2)), updated_at = ? FROM "
                "(SELECT campaign_id, count(*) AS n FROM campaign_members GROUP BY 1) m WHERE m.campaign_id = campaigns.id "
                "AND campaigns.id IN (SELECT campaign_id FROM _i4_m2) AND cost_per_contact IS NOT NULL", [now])
    counts["members"] = n
    counts["responded"] = db.scalar(con, "SELECT count(*) FROM _i4_m2 WHERE responded")
    con.execute("DROP TABLE _i4_m")
    con.execute("DROP TABLE _i4_m2")
    counts["created"] = n
    _audit_notes(ctx, "campaign")
    _audit_batch(ctx, "campaign_results")
    return counts


CAMPAIGN_RESULTS = register(ObjectSpec(
    name="campaign_results", module="campaigns", entity="campaign", table="campaigns",
    label_key="import.object.campaign_results", keys=(), owned=False,
    resolve=_resolve_campaigns, write=_write_campaigns,
    fields={f.name: f for f in (
        F("member_ref", "text", "import.field.customer_ref", max_len=100,
          synonyms=("id", "customer id", "customerid", "member id", "客户编号")),
        F("member_name", "text", "campaign.member_name", max_len=200, synonyms=("name", "customer", "客户", "姓名")),
        F("campaign", "text", "campaign.name", max_len=200, synonyms=("campaign", "campaign name", "活动", "活动名称")),
        F("sent", "bool", "campaign.sent", synonyms=("sent", "已发送")),
        F("opened", "bool", "campaign.opened", synonyms=("opened", "已打开")),
        F("clicked", "bool", "campaign.clicked", synonyms=("clicked", "已点击")),
        F("responded", "bool", "campaign.responded", synonyms=("responded", "accepted", "已响应")),
        F("converted", "bool", "campaign.converted", synonyms=("converted", "已转化")),
        F("revenue", "text", "campaign.revenue", synonyms=("revenue", "收入")),
        *(F(k, "text", f"campaign.{k}", synonyms=(v.lower(),)) for k, v in WIDE_CAMPAIGNS.items()),
        F("cost_per_contact", "text", "campaign.cost_per_contact", synonyms=("z_costcontact", "cost per contact")),
        F("revenue_per_response", "text", "campaign.revenue_per_response", synonyms=("z_revenue", "revenue per response")),
        F("birth_year", "text", "customer.birth_year", synonyms=("year_birth", "birth year", "出生年份")),
        F("registered_on", "date", "customer.registered_on", synonyms=("dt_customer", "registered", "注册日期")),
    )}))


# ------------------------------------------------------------------------------------ users with teams
def _resolve_users(ctx) -> None:
    _reject(ctx, _bad_flag(ctx, "active"), "import.bad_bool|user.active")
    if _has(ctx, "role"):
        _reject(ctx, f"{_txt(ctx, 'role')} IS NOT NULL AND lower({_txt(ctx, 'role')}) NOT IN "
                     f"('admin', 'manager', 'sales', 'marketing', 'service')", "import.unknown_value|user.role")
    _dups(ctx, f"lower({_txt(ctx, 'name')})", None, "user.name")


def _write_users(ctx) -> dict:
    from core import auth

    con, t = ctx.con, ctx.table
    counts = ctx.counts
    hashed = auth.hash_password(secrets.token_urlsafe(24), rounds=4)
    default_active = bool(_extra(ctx, "active", False))
    parent = getattr(ctx.options, "unknown_owner_team_id", None) or _extra(ctx, "team_id")
    rows = con.execute(
        f"SELECT _row, {_txt(ctx, 'name')}, {_txt(ctx, 'manager')}, {_txt(ctx, 'team')}, lower({_txt(ctx, 'role')}), "
        f"{_flag(ctx, 'active')}, lower({_txt(ctx, 'email')}), lower({_txt(ctx, 'username')}) FROM {t} "
        f"WHERE {_ok()} ORDER BY _row").fetchall()
    teams_made = users_made = linked = 0

    def user_by_name(name: str) -> dict | None:
        return db.one(con, "SELECT id, team_id FROM users WHERE deleted_at IS NULL AND (lower(trim(name)) = lower(?) "
                           "OR lower(username) = lower(?)) ORDER BY active DESC, id LIMIT 1", [name, name])

    def team_of(office: str | None, manager: str | None) -> int | None:
        nonlocal teams_made
        top = parent
        if office:
            top, made = _team(ctx, office, parent, office)
            teams_made += made
        if manager:
            tid, made = _team(ctx, f"{office} - {manager}" if office else manager, top, office)
            teams_made += made
            return tid
        return top

    managers: dict[str, int] = {}
    for _row, name, manager, office, role, active, email, username in rows:  # managers first
        if manager and manager.lower() not in managers:
            tid = team_of(office, manager)
            found = user_by_name(manager)
            if found is None:
                managers[manager.lower()] = _new_user(ctx, manager, "manager", tid, active=default_active, hashed=hashed)
                users_made += 1
            else:
                managers[manager.lower()] = found["id"]
                linked += 1
    for _row, name, manager, office, role, active, email, username in rows:
        if name.lower() in managers:
            continue
        found = user_by_name(name)
        if found is not None:
            linked += 1
            continue
        tid = team_of(office, manager)
        uid = _new_user(ctx, name, role or "sales", tid, managers.get((manager or "").lower()),
                        active=default_active if active is None else active, hashed=hashed)
        if email:
            con.execute("UPDATE users SET email = ? WHERE id = ?", [email, uid])
        users_made += 1
    counts.update(users=users_made, teams=teams_made, users_linked=linked, created=users_made)
    _audit_batch(ctx, "users")
    return counts


USERS = register(ObjectSpec(
    name="users", module="org", entity="user", table="users", label_key="import.object.users", keys=(), owned=False,
    resolve=_resolve_users, write=_write_users,
    fields={f.name: f for f in (
        F("name", "text", "user.name", required=True, max_len=100,
          synonyms=("sales_agent", "sales agent", "agent", "name", "user", "姓名", "销售")),
        F("manager", "text", "user.manager", max_len=100, synonyms=("manager", "经理", "上级")),
        F("team", "text", "user.team", max_len=100,
          synonyms=("regional_office", "regional office", "office", "team", "region", "团队", "区域")),
        F("role", "text", "user.role", synonyms=("role", "角色")),
        F("active", "bool", "user.active", synonyms=("active", "启用")),
        F("email", "text", "user.email", max_len=254, synonyms=("email", "邮箱")),
        F("username", "text", "user.username", max_len=60, synonyms=("username", "login", "用户名")),
    )}))

# What else a batch of these objects creates (rows carrying its import_id), for undo: (entity, table) pairs with
# deleted_at (to the recycle bin), and tables without it whose rows of the batch are removed (members of a
# campaign, lines of an order: they follow their parent). The engine's undo handles spec.table itself.
ALSO_CREATED: dict[str, tuple[tuple[str, str], ...]] = {
    "deals": (("customer", "customers"), ("product", "products"), ("user", "users"), ("team", "teams")),
    "opportunities": (("customer", "customers"), ("product", "products"), ("user", "users"), ("team", "teams")),
    "orders": (("customer", "customers"), ("team", "teams")),
    "transactions": (("customer", "customers"), ("team", "teams")),
    "tickets": (("customer", "customers"), ("feedback", "feedback"), ("team", "teams")),
    "campaign_results": (("customer", "customers"),),
    "users": (("team", "teams"),),
}
REMOVED_ON_UNDO: dict[str, tuple[str, ...]] = {"campaign_results": ("campaign_members",),
                                               "orders": ("order_lines",), "transactions": ("order_lines",)}

__all__ = ["ALSO_CREATED", "REMOVED_ON_UNDO", "DEALS", "OPPORTUNITIES", "ORDERS", "TICKETS", "CAMPAIGN_RESULTS", "USERS"]
