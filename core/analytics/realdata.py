"""Real data sets loaded into a fresh store, so the metrics layer can be checked against figures computed
independently from the raw files (issue 11, point 8). A core loader used by tests until the importer
(issue 9) lands; then the importer's own mapping replaces it.

`fresh_store(path)` opens a new database (":memory:" or a new file) migrated and seeded like any other;
`load_maven(con, folder)` loads ../shared/data/maven_crm; `load_tickets(con, csv)` loads the support
tickets; `load_retail(con, path)` loads the UCI online retail file as customers and orders (issue 12: RFM on
real data; see its docstring for the cleaning). Each load is ONE unit of work with one `INSERT ... SELECT` per table from a Polars frame (no
query per row), then the search and duplicate keys are rebuilt and one audit row says what was loaded.

Maven CRM (sales_teams, accounts, products, sales_pipeline):
- teams: one top team per regional office (`region` = the office: Central, East, West) and under it one
  team per manager ("<office> - <manager>", same region). Filters(region=...) is the office,
  Filters(team_id=<manager's team>) the manager, Filters(owner_id=<agent>) the agent.
- users: each manager (role manager, in the own team) and each agent (role sales, in the manager's team,
  manager_id set); username "first.last" in lower case; a shared bcrypt hash of a random secret (no
  password opens these accounts until an admin sets one); must_change_password.
- products: name, series, list price (sales_price). The pipeline spells "GTX Pro" as "GTXPro": products
  are matched on the name without spaces, case-insensitive.
- customers (companies) from accounts: sector -> industry ("technolgy" read as "technology"),
  office_location -> country ("Philipines" read as "Philippines"), employees, revenue -> annual_revenue
  (millions of USD, as given), year_established, subsidiary_of -> parent_customer_id. Owner: the agent
  with the most opportunities on the account (ties: the name first in order), team: that agent's team.
  stage "won" with won_at = the first won close day when the account has a won deal, else "opportunity".
- deals (currency USD, external_ref = opportunity_id, custom.maven_stage = the file's stage):
      Prospecting -> prospecting   (no dates in the file)
      Engaging    -> qualification (the first stage after prospecting: engaged with the buyer, nothing
                                    later is recorded, so no proposal / negotiation step is invented)
      Won         -> won           Lost -> lost
  engaged_on = engage_date, closed_on = close_date (company days), amount = close_value when closed
  (0 for every lost deal, as given); an open deal has no close value, so its amount is the product's list
  price, marked custom.amount_from = "list_price". created_at = the engage day (company midnight); a
  Prospecting deal, which has no date at all, is created on the file's last day (the latest close date).
  Deals without an account have no customer.
- stage history, consistent with the dates (company time): entered prospecting at created_at; an
  Engaging / Won / Lost deal entered qualification at 12:00 of the engage day; a closed deal entered
  won / lost at 18:00 of the close day. The funnel therefore counts every deal at prospecting, every
  engaged deal at qualification, and the closed ones at won / lost.

Support tickets (customer_support_tickets.csv), no column lost:
- Ticket ID -> ticket_no and external_ref; subject, description, resolution, product, purchased_on;
  Ticket Type -> category (technical, billing, refund, product, cancellation); Ticket Status -> status
  (Open -> open, Pending Customer Response -> pending, Closed -> closed); priority and channel in lower
  case ("Social media" -> social); First Response Time -> first_response_at; Time to Resolution ->
  resolved_at and closed_at of a closed ticket; Customer Satisfaction Rating -> satisfaction. The
  timestamps carry no zone: they are read as company time. The file's original text of type, status,
  priority and channel, and the customer's name, e-mail, age and gender as written on the row, are kept in
  `tickets.custom` (the customer record holds the first row's values).
- The file has no opening time. opened_at = the first response time when the ticket has one (so the
  first-response figures of this file are 0 h and its resolution times run from the first response),
  else the file's earliest timestamp; custom.opened_at_from says which ("first_response" | "file_start").
- Customers: matched to live customers by e-mail (case-insensitive), a row without e-mail by exact name;
  the others are created once per e-mail (person customers: name, e-mail, gender, custom.age; stage won,
  won_at / registered_on the earliest purchase date; team: a "Customer service" team, no owner).
- THE QUIRK: about half of the closed tickets were resolved before their first response. Such a row gets
  custom.times_inconsistent = true. The metrics layer excludes every ticket whose resolution precedes its
  first response from the time figures (first response, resolution, SLA) and reports how many it left
  out as the `tickets_inconsistent` figure (core.analytics.metrics).
"""
from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import duckdb
import polars as pl

from core import access, audit, auth, clock, db, dedup, search, setup
from core.context import SYSTEM, Actor

ROOT = Path(__file__).resolve().parents[3] / "shared" / "data"
MAVEN = ROOT / "maven_crm"
TICKETS = ROOT / "support_tickets" / "customer_support_tickets.csv"
RETAIL = ROOT / "online_retail" / "online_retail_full.csv.gz"
RETAIL_TEAM = "Online retail"

STAGES = {"Prospecting": "prospecting", "Engaging": "qualification", "Won": "won", "Lost": "lost"}
TICKET_STATUS = {"Open": "open", "Pending Customer Response": "pending", "Closed": "closed"}
TICKET_CATEGORY = {"Technical issue": "technical", "Billing inquiry": "billing", "Refund request": "refund",
                   "Product inquiry": "product", "Cancellation request": "cancellation"}
TICKET_CHANNEL = {"Email": "email", "Phone": "phone", "Chat": "chat", "Social media": "social"}
SECTOR_FIX = {"technolgy": "technology"}
COUNTRY_FIX = {"Philipines": "Philippines"}
SERVICE_TEAM = "Customer service"


def fresh_store(path: str | Path = ":memory:") -> duckdb.DuckDBPyConnection:
    """A new database migrated and seeded (core.setup.prepare); refuses a file that already holds data."""
    con = db.connect(path)
    setup.prepare(con)
    if not setup.is_empty(con):
        con.close()
        raise ValueError(f"{path} is not empty")
    return con


# ------------------------------------------------------------------------------------------ helpers
def _dates(col: str) -> pl.Expr:
    """ISO dates, or the M/D/YYYY a spreadsheet writes when it re-saves the file."""
    c = pl.col(col).cast(pl.String).str.strip_chars()
    return pl.coalesce(c.str.strptime(pl.Date, "%Y-%m-%d", strict=False),
                       c.str.strptime(pl.Date, "%m/%d/%Y", strict=False))


def _utc(expr: pl.Expr, tz: str) -> pl.Expr:
    """Naive company-local datetimes -> naive UTC (the store's form)."""
    return expr.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null") \
        .dt.convert_time_zone("UTC").dt.replace_time_zone(None)


def _at(day: pl.Expr, hour: int, tz: str) -> pl.Expr:
    return _utc(day.cast(pl.Datetime("us")) + pl.duration(hours=hour), tz)


def _ids(con, table: str, n: int) -> pl.Series:
    return pl.Series("id", db.next_ids(con, table, n), dtype=pl.Int64)


def _insert(con, table: str, frame: pl.DataFrame) -> int:
    """One INSERT ... SELECT of the frame's columns (by name) into `table` (a fixed name)."""
    if frame.height:
        cols = ", ".join(frame.columns)
        con.register("_load_frame", frame)
        try:
            con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _load_frame")  # sql-ok: fixed names
        finally:
            con.unregister("_load_frame")
    return frame.height


def _username(name: pl.Expr) -> pl.Expr:
    return name.str.strip_chars().str.to_lowercase().str.replace_all(r"[^a-z0-9\-]+", ".")


# ------------------------------------------------------------------------------------------ Maven CRM
def load_maven(con: duckdb.DuckDBPyConnection, folder: str | Path = MAVEN, actor: Actor = SYSTEM,
               pipeline_file: str = "sales_pipeline.csv") -> dict[str, int]:
    """Load the Maven CRM folder (module doc); returns the row counts per table."""
    access.require(con, actor, "customers", "import")
    folder = Path(folder)
    tz = clock.zone(con).key
    now = actor.now
    read = dict(infer_schema=False, encoding="utf8-lossy")
    teams_raw = pl.read_csv(folder / "sales_teams.csv", **read).select(
        pl.col("sales_agent").str.strip_chars().alias("agent"), pl.col("manager").str.strip_chars(),
        pl.col("regional_office").str.strip_chars().alias("office"))
    accounts = pl.read_csv(folder / "accounts.csv", **read)
    products = pl.read_csv(folder / "products.csv", **read)
    pipe = pl.read_csv(folder / pipeline_file, **read).with_columns(
        pl.col("sales_agent").str.strip_chars().alias("agent"), pl.col("account").str.strip_chars(),
        pl.col("deal_stage").str.strip_chars(), _dates("engage_date").alias("engaged_on"),
        _dates("close_date").alias("closed_on"), pl.col("close_value").cast(pl.Float64, strict=False))
    unknown = set(pipe["deal_stage"].unique().to_list()) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown deal stages {sorted(unknown)}")
    last_day = pipe["closed_on"].max() or pipe["engaged_on"].max()

    def work() -> dict[str, int]:
        counts: dict[str, int] = {}
        # teams: offices, then one per manager under its office
        offices = teams_raw.select("office").unique().sort("office")
        offices = offices.with_columns(_ids(con, "teams", offices.height).alias("office_id"))
        mgrs = teams_raw.select("manager", "office").unique().sort("office", "manager") \
            .join(offices, on="office")
        mgrs = mgrs.with_columns(_ids(con, "teams", mgrs.height).alias("team_id"))
        team_rows = pl.concat([
            offices.select(pl.col("office_id").alias("id"), pl.col("office").alias("name"),
                           pl.lit(None, pl.Int64).alias("parent_id"), pl.col("office").alias("region")),
            mgrs.select(pl.col("team_id").alias("id"), (pl.col("office") + " - " + pl.col("manager")).alias("name"),
                        pl.col("office_id").alias("parent_id"), pl.col("office").alias("region")),
        ]).with_columns(pl.lit(now).alias("created_at"))
        counts["teams"] = _insert(con, "teams", team_rows)

        # users: managers, then agents
        mgrs = mgrs.with_columns(_ids(con, "users", mgrs.height).alias("user_id"))
        agents = teams_raw.select("agent", "manager").unique().sort("agent").join(
            mgrs.select("manager", "team_id", pl.col("user_id").alias("manager_user")), on="manager")
        agents = agents.with_columns(_ids(con, "users", agents.height).alias("user_id"))
        hashed = auth.hash_password(secrets.token_urlsafe(24))
        user_rows = pl.concat([
            mgrs.select(pl.col("user_id").alias("id"), pl.col("manager").alias("name"), pl.lit("manager").alias("role"),
                        "team_id", pl.lit(None, pl.Int64).alias("manager_id")),
            agents.select(pl.col("user_id").alias("id"), pl.col("agent").alias("name"), pl.lit("sales").alias("role"),
                          "team_id", pl.col("manager_user").alias("manager_id")),
        ]).with_columns(_username(pl.col("name")).alias("username"), pl.lit(hashed).alias("password_hash"),
                        pl.lit(True).alias("must_change_password"), pl.lit(now).alias("created_at"),
                        pl.lit(now).alias("updated_at"))
        counts["users"] = _insert(con, "users", user_rows)

        # products, matched by the name without spaces
        prods = products.select(pl.col("product").str.strip_chars().alias("name"),
                                pl.col("series").str.strip_chars().alias("series"),
                                pl.col("sales_price").cast(pl.Float64).alias("list_price"))
        prods = prods.with_columns(_ids(con, "products", prods.height).alias("id"),
                                   pl.col("name").str.replace_all(" ", "").str.to_lowercase().alias("pkey"))
        counts["products"] = _insert(con, "products", prods.select(
            "id", "name", "series", "list_price", pl.lit(now).alias("created_at"), pl.lit(now).alias("updated_at")))

        # customers from accounts; owner = the agent with most opportunities on the account
        acc = accounts.select(
            pl.col("account").str.strip_chars().alias("name"),
            pl.col("sector").str.strip_chars().replace(SECTOR_FIX).alias("industry"),
            pl.col("year_established").cast(pl.Int32, strict=False).alias("year_established"),
            pl.col("revenue").cast(pl.Float64, strict=False).alias("annual_revenue"),
            pl.col("employees").cast(pl.Int32, strict=False).alias("employees"),
            pl.col("office_location").str.strip_chars().replace(COUNTRY_FIX).alias("country"),
            pl.col("subsidiary_of").str.strip_chars().alias("parent_name"))
        acc = acc.with_columns(_ids(con, "customers", acc.height).alias("id"))
        deals_of = pipe.filter(pl.col("account").is_not_null()).join(
            agents.select("agent", "user_id", "team_id"), on="agent", how="left")
        owner = deals_of.group_by("account", "agent", "user_id", "team_id").len() \
            .sort(["account", "len", "agent"], descending=[False, True, False]) \
            .group_by("account", maintain_order=True).first() \
            .select(pl.col("account").alias("name"), pl.col("user_id").alias("owner_id"), "team_id")
        firsts = deals_of.group_by("account").agg(
            pl.col("engaged_on").min().alias("first_engaged"),
            pl.col("closed_on").filter(pl.col("deal_stage") == "Won").min().alias("first_won")) \
            .rename({"account": "name"})
        acc = acc.join(owner, on="name", how="left").join(firsts, on="name", how="left") \
            .join(acc.select(pl.col("name").alias("parent_name"), pl.col("id").alias("parent_customer_id")),
                  on="parent_name", how="left")
        cust_rows = acc.select(
            "id", "name", pl.lit("company").alias("kind"), "industry", "employees", "annual_revenue",
            "year_established", "parent_customer_id", "country", "owner_id", "team_id",
            pl.when(pl.col("first_won").is_not_null()).then(pl.lit("won")).otherwise(pl.lit("opportunity")).alias("stage"),
            _at(pl.col("first_won"), 18, tz).alias("won_at"),
            pl.when(pl.col("owner_id").is_not_null()).then(pl.lit(now)).alias("assigned_at"),
            _at(pl.coalesce(pl.col("first_engaged"), pl.lit(last_day)), 0, tz).alias("created_at"),
            pl.lit(now).alias("updated_at"),
            pl.col("name").alias("external_ref"))
        counts["customers"] = _insert(con, "customers", cust_rows)

        # deals
        d = pipe.join(agents.select("agent", pl.col("user_id").alias("owner_id"), "team_id"), on="agent", how="left") \
            .join(acc.select(pl.col("name").alias("account"), pl.col("id").alias("customer_id")), on="account", how="left") \
            .with_columns(pl.col("product").str.strip_chars().str.replace_all(" ", "").str.to_lowercase().alias("pkey")) \
            .join(prods.select("pkey", pl.col("id").alias("product_id"), "list_price", pl.col("name").alias("pname")),
                  on="pkey", how="left")
        missing = d.filter(pl.col("owner_id").is_null()).height
        if missing:
            raise ValueError(f"{missing} opportunities name an agent missing from sales_teams.csv")
        d = d.with_columns(_ids(con, "deals", d.height).alias("id"),
                           pl.col("deal_stage").replace_strict(STAGES).alias("stage"),
                           pl.coalesce(pl.col("engaged_on"), pl.lit(last_day)).alias("day0"))
        closed = pl.col("deal_stage").is_in(["Won", "Lost"])
        d = d.with_columns(
            pl.when(closed).then(pl.col("close_value")).otherwise(pl.col("list_price")).alias("amount"),
            _at(pl.col("day0"), 0, tz).alias("created_at"),
            _at(pl.col("engaged_on"), 12, tz).alias("qualified_at"),
            pl.when(closed).then(_at(pl.col("closed_on"), 18, tz)).alias("closed_at"),
            pl.struct(pl.col("deal_stage").alias("maven_stage"),
                      pl.when(~closed).then(pl.lit("list_price")).alias("amount_from")).struct.json_encode()
            .alias("custom"))
        stage_prob = pl.DataFrame(db.rows(con, "SELECT code AS stage, probability FROM pipeline_stages"))
        d = d.join(stage_prob, on="stage", how="left")
        deal_rows = d.select(
            "id", (pl.coalesce(pl.col("account"), pl.lit("(no account)")) + " - " +
                   pl.coalesce(pl.col("pname"), pl.col("product"))).alias("name"),
            "customer_id", "product_id", pl.col("amount").cast(pl.Decimal(18, 2)), pl.lit("USD").alias("currency"),
            "stage", pl.col("probability").cast(pl.Int32), "engaged_on", "closed_on", "owner_id", "team_id",
            pl.col("opportunity_id").alias("external_ref"), "custom", "created_at",
            pl.lit(now).alias("updated_at"), pl.lit(1, pl.Int64).alias("pipeline_id"),
            pl.coalesce(pl.col("closed_at"), pl.col("qualified_at"), pl.col("created_at")).alias("stage_changed_at"))
        counts["deals"] = _insert(con, "deals", deal_rows)

        # stage history consistent with the dates
        steps = pl.concat([
            d.select(pl.col("id").alias("deal_id"), pl.lit(None, pl.String).alias("from_stage"),
                     pl.lit("prospecting").alias("to_stage"), pl.col("created_at").alias("changed_at"), "owner_id"),
            d.filter(pl.col("engaged_on").is_not_null()).select(
                pl.col("id").alias("deal_id"), pl.lit("prospecting").alias("from_stage"),
                pl.lit("qualification").alias("to_stage"), pl.col("qualified_at").alias("changed_at"), "owner_id"),
            d.filter(closed).select(
                pl.col("id").alias("deal_id"), pl.lit("qualification").alias("from_stage"),
                pl.col("stage").alias("to_stage"), pl.col("closed_at").alias("changed_at"), "owner_id"),
        ]).sort("deal_id", "changed_at")
        steps = steps.with_columns(_ids(con, "deal_stage_history", steps.height).alias("id"),
                                   pl.col("owner_id").alias("changed_by"))
        counts["deal_stage_history"] = _insert(con, "deal_stage_history", steps.select(
            "id", "deal_id", "from_stage", "to_stage", "changed_at", "changed_by"))
        _finish(con, actor, "maven_crm", counts)
        return counts

    return db.write(con, work)


# ------------------------------------------------------------------------------------------ support tickets
def load_tickets(con: duckdb.DuckDBPyConnection, path: str | Path = TICKETS, actor: Actor = SYSTEM) -> dict[str, int]:
    """Load the support tickets file (module doc); returns the row counts, incl. `inconsistent`."""
    access.require(con, actor, "tickets", "import")
    tz = clock.zone(con).key
    now = actor.now
    raw = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    ts = lambda c: pl.col(c).str.strip_chars().str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)  # noqa: E731
    t = raw.with_columns(
        pl.col("Ticket ID").str.strip_chars().alias("ticket_no"),
        pl.col("Customer Name").str.strip_chars().alias("cname"),
        pl.col("Customer Email").str.strip_chars().str.to_lowercase().alias("email"),
        pl.col("Customer Age").cast(pl.Int32, strict=False).alias("age"),
        pl.col("Customer Gender").str.strip_chars().str.to_lowercase().alias("gender"),
        _dates("Date of Purchase").alias("purchased_on"),
        ts("First Response Time").alias("fr_local"), ts("Time to Resolution").alias("tr_local"),
        pl.col("Customer Satisfaction Rating").cast(pl.Float64, strict=False).alias("satisfaction"))
    for col, mapping in (("Ticket Status", TICKET_STATUS), ("Ticket Type", TICKET_CATEGORY),
                         ("Ticket Channel", TICKET_CHANNEL)):
        unknown = set(t[col].drop_nulls().unique().to_list()) - set(mapping)
        if unknown:
            raise ValueError(f"unknown {col} {sorted(unknown)}")
    file_start = min(x for x in (t["fr_local"].min(), t["tr_local"].min()) if x is not None)
    closed = pl.col("status") == "closed"
    t = t.with_columns(
        pl.col("Ticket Status").replace_strict(TICKET_STATUS).alias("status"),
        pl.col("Ticket Type").replace_strict(TICKET_CATEGORY, default=None).alias("category"),
        pl.col("Ticket Channel").replace_strict(TICKET_CHANNEL, default=None).alias("channel"),
        pl.col("Ticket Priority").str.strip_chars().str.to_lowercase().alias("priority"))
    t = t.with_columns(
        (closed & (pl.col("tr_local") < pl.col("fr_local"))).fill_null(False).alias("inconsistent"),
        pl.coalesce(pl.col("fr_local"), pl.lit(file_start)).alias("opened_local"),
        pl.when(pl.col("fr_local").is_not_null()).then(pl.lit("first_response"))
        .otherwise(pl.lit("file_start")).alias("opened_at_from"))

    def work() -> dict[str, int]:
        counts: dict[str, int] = {}
        # the service team that holds the new customers (created once)
        service = db.scalar(con, "SELECT id FROM teams WHERE name = ? AND parent_id IS NULL AND deleted_at IS NULL",
                            [SERVICE_TEAM])
        if service is None:
            service = db.next_id(con, "teams")
            con.execute("INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)", [service, SERVICE_TEAM, now])
            counts["teams"] = 1
        # customers: existing by e-mail, else by exact name (rows without e-mail); the rest created per e-mail
        existing = con.sql("SELECT id, lower(email) AS email, name FROM customers WHERE deleted_at IS NULL "
                           "AND merged_into_id IS NULL").pl()
        by_mail = existing.filter(pl.col("email").is_not_null()).group_by("email").agg(pl.col("id").min().alias("cid"))
        by_name = existing.group_by("name").agg(pl.col("id").min().alias("nid")).rename({"name": "cname"})
        rows = t.join(by_mail, on="email", how="left").join(by_name, on="cname", how="left").with_columns(
            pl.when(pl.col("email").is_null()).then(pl.col("nid")).otherwise(pl.col("cid")).alias("customer_id"),
            pl.coalesce(pl.col("email"), pl.lit("name:") + pl.col("cname")).alias("ckey"))
        new = rows.filter(pl.col("customer_id").is_null()).sort(pl.col("Ticket ID").cast(pl.Int64, strict=False)) \
            .group_by("ckey", maintain_order=True).agg(
                pl.col("cname").first(), pl.col("email").first(), pl.col("gender").first(), pl.col("age").first(),
                pl.col("purchased_on").min())
        new = new.with_columns(_ids(con, "customers", new.height).alias("new_id"))
        genders = ("male", "female", "other")
        counts["customers"] = _insert(con, "customers", new.select(
            pl.col("new_id").alias("id"), pl.col("cname").alias("name"), pl.lit("person").alias("kind"), "email",
            pl.when(pl.col("gender").is_in(genders)).then(pl.col("gender")).alias("gender"),
            pl.lit(service).alias("team_id"), pl.lit(now).alias("pool_since"), pl.lit("won").alias("stage"),
            _at(pl.col("purchased_on"), 0, tz).alias("won_at"), pl.col("purchased_on").alias("registered_on"),
            pl.struct("age").struct.json_encode().alias("custom"),
            pl.coalesce(_at(pl.col("purchased_on"), 0, tz), pl.lit(now)).alias("created_at"),
            pl.lit(now).alias("updated_at")))
        rows = rows.join(new.select("ckey", "new_id"), on="ckey", how="left") \
            .with_columns(pl.coalesce(pl.col("customer_id"), pl.col("new_id")).alias("customer_id"))
        rows = rows.with_columns(_ids(con, "tickets", rows.height).alias("id"))
        custom = pl.struct(
            pl.col("inconsistent").alias("times_inconsistent"), "opened_at_from",
            pl.col("cname").alias("customer_name"), pl.col("Customer Email").alias("customer_email"),
            pl.col("age").alias("customer_age"), pl.col("Customer Gender").alias("customer_gender"),
            pl.col("Ticket Type").alias("source_type"), pl.col("Ticket Status").alias("source_status"),
            pl.col("Ticket Priority").alias("source_priority"), pl.col("Ticket Channel").alias("source_channel"),
        ).struct.json_encode()
        counts["tickets"] = _insert(con, "tickets", rows.select(
            "id", "ticket_no", "customer_id", pl.coalesce(pl.col("Ticket Subject"), pl.lit("")).alias("subject"),
            pl.col("Ticket Description").alias("description"), "category",
            pl.col("Product Purchased").alias("product"), "purchased_on",
            pl.coalesce(pl.col("priority"), pl.lit("medium")).alias("priority"), "channel", "status",
            pl.lit(service).alias("team_id"), _utc(pl.col("opened_local"), tz).alias("opened_at"),
            _utc(pl.col("fr_local"), tz).alias("first_response_at"),
            pl.when(closed).then(_utc(pl.col("tr_local"), tz)).alias("resolved_at"),
            pl.when(closed).then(_utc(pl.col("tr_local"), tz)).alias("closed_at"),
            pl.col("Resolution").alias("resolution"), "satisfaction",
            pl.col("ticket_no").alias("external_ref"), custom.alias("custom"),
            _utc(pl.col("opened_local"), tz).alias("created_at"), pl.lit(now).alias("updated_at")))
        counts["inconsistent"] = int(rows["inconsistent"].sum())
        _finish(con, actor, "support_tickets", counts)
        return counts

    return db.write(con, work)


# ------------------------------------------------------------------------------------------ UCI online retail
def retail_rows(path: str | Path = RETAIL, cancellations: str = "drop") -> pl.DataFrame:
    """The retail file's rows after the standard cleaning, one row per kept line: exact duplicate rows
    dropped (all eight columns as written), rows without CustomerID dropped, and
    - cancellations="drop" (the standard cleaning): C-invoices dropped, then every row with a quantity or
      unit price <= 0 (e.g. the "A" bad-debt adjustments);
    - cancellations="credit": C-invoices kept as credit notes (negative quantity, price > 0).
    Columns: invoice, sku, description, quantity (Int64), local (naive datetime as written: company time),
    unit_price (Float64), customer (the CustomerID text), country, cancel (bool), amount (Decimal(18,2):
    quantity x unit price rounded to cents, per line)."""
    if cancellations not in ("drop", "credit"):
        raise ValueError(cancellations)
    raw = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy").unique(maintain_order=True)
    t = raw.select(
        pl.col("InvoiceNo").str.strip_chars().alias("invoice"), pl.col("StockCode").alias("sku"),
        pl.col("Description").alias("description"), pl.col("Quantity").cast(pl.Int64, strict=False).alias("quantity"),
        pl.col("InvoiceDate").str.strip_chars().str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
        .alias("local"),
        pl.col("UnitPrice").cast(pl.Float64, strict=False).alias("unit_price"),
        pl.col("CustomerID").str.strip_chars().alias("customer"), pl.col("Country").str.strip_chars().alias("country"),
    ).with_columns(pl.col("invoice").str.starts_with("C").alias("cancel"))
    t = t.filter(pl.col("customer").is_not_null() & (pl.col("customer") != "") & pl.col("local").is_not_null()
                 & (pl.col("unit_price") > 0))
    if cancellations == "drop":
        t = t.filter(~pl.col("cancel") & (pl.col("quantity") > 0))
    else:
        t = t.filter((~pl.col("cancel") & (pl.col("quantity") > 0)) | (pl.col("cancel") & (pl.col("quantity") < 0)))
    return t.with_columns((pl.col("quantity") * pl.col("unit_price")).round(2).cast(pl.Decimal(18, 2)).alias("amount"))


def load_retail(con: duckdb.DuckDBPyConnection, path: str | Path = RETAIL, actor: Actor = SYSTEM,
                cancellations: str = "drop") -> dict[str, int]:
    """Load the UCI Online Retail file (541,909 rows) as customers, orders and order lines, in bulk.

    Cleaning: `retail_rows` (the standard cleaning by default; `cancellations="credit"` keeps the C-invoices
    as credit notes instead). Then
    - customers: one per CustomerID (external_ref = the id, name "Retail <id>", country of the first
      invoice), person customers in the shared pool of a team "Online retail" (created once; no owner),
      stage won, won_at and created_at = the first invoice, registered_on its day;
    - orders: one per InvoiceNo (order_no and external_ref = InvoiceNo), ordered_at = the invoice's earliest
      line time (the file's times are read as company time), currency GBP, channel web, country; a normal
      invoice is "confirmed" with amount = the sum of its lines; a C-invoice (credit mode only) is
      "cancelled" with its negative amount: an imported credit note, as core.orders and core.analytics.rfm
      count it (subtracted from revenue, never a purchase);
    - order_lines: sku = StockCode, description, quantity, unit_price, amount = quantity x price in cents.
    One unit of work, one INSERT ... SELECT per table from Polars frames; returns the row counts."""
    access.require(con, actor, "customers", "import")
    tz = clock.zone(con).key
    now = actor.now
    lines = retail_rows(path, cancellations)
    inv = lines.group_by("invoice").agg(
        pl.col("customer").first(), pl.col("country").first(), pl.col("local").min(), pl.col("cancel").first(),
        pl.col("amount").sum()).sort("local", "invoice")
    cust = inv.sort("local", "invoice").group_by("customer", maintain_order=True).agg(
        pl.col("country").first(), pl.col("local").first().alias("first_local"),
        pl.col("local").filter(~pl.col("cancel")).first().alias("first_buy"))

    def work() -> dict[str, int]:
        counts: dict[str, int] = {}
        team = db.scalar(con, "SELECT id FROM teams WHERE name = ? AND parent_id IS NULL AND deleted_at IS NULL",
                         [RETAIL_TEAM])
        if team is None:
            team = db.next_id(con, "teams")
            con.execute("INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)", [team, RETAIL_TEAM, now])
            counts["teams"] = 1
        c = cust.with_columns(_ids(con, "customers", cust.height).alias("customer_id"))
        counts["customers"] = _insert(con, "customers", c.select(
            pl.col("customer_id").alias("id"), (pl.lit("Retail ") + pl.col("customer")).alias("name"),
            pl.lit("person").alias("kind"), "country", pl.lit(team).alias("team_id"), pl.lit(now).alias("pool_since"),
            pl.when(pl.col("first_buy").is_not_null()).then(pl.lit("won")).otherwise(pl.lit("raw")).alias("stage"),
            _utc(pl.col("first_buy"), tz).alias("won_at"), pl.col("first_local").dt.date().alias("registered_on"),
            pl.lit("uci_online_retail").alias("source"), pl.col("customer").alias("external_ref"),
            _utc(pl.col("first_local"), tz).alias("created_at"), pl.lit(now).alias("updated_at")))
        o = inv.join(c.select("customer", "customer_id"), on="customer").with_columns(
            _ids(con, "orders", inv.height).alias("order_id"))
        counts["orders"] = _insert(con, "orders", o.select(
            pl.col("order_id").alias("id"), pl.col("invoice").alias("order_no"), "customer_id",
            _utc(pl.col("local"), tz).alias("ordered_at"),
            pl.when(pl.col("cancel")).then(pl.lit("cancelled")).otherwise(pl.lit("confirmed")).alias("status"),
            "amount", pl.lit("GBP").alias("currency"), pl.lit("web").alias("channel"), "country",
            pl.lit(team).alias("team_id"), pl.col("invoice").alias("external_ref"),
            pl.lit(now).alias("created_at"), pl.lit(now).alias("updated_at")))
        ln = lines.join(o.select("invoice", "order_id"), on="invoice").with_columns(
            _ids(con, "order_lines", lines.height).alias("line_id"))
        counts["order_lines"] = _insert(con, "order_lines", ln.select(
            pl.col("line_id").alias("id"), "order_id", "sku", "description",
            pl.col("quantity").cast(pl.Decimal(18, 3)), pl.col("unit_price").cast(pl.Decimal(18, 4)), "amount"))
        _finish(con, actor, "online_retail", counts)
        return counts

    return db.write(con, work)


def _finish(con, actor: Actor, what: str, counts: dict[str, int]) -> None:
    dedup.rebuild(con)
    search.rebuild(con)
    audit.record(con, actor, "import", "dataset", None, {"dataset": (None, what),
                                                        **{k: (None, v) for k, v in counts.items()}})


def load_all(con: duckdb.DuckDBPyConnection, root: str | Path = ROOT, actor: Actor = SYSTEM) -> dict[str, dict]:
    """Both data sets; then a CHECKPOINT (a bulk load)."""
    root = Path(root)
    out = {"maven_crm": load_maven(con, root / "maven_crm", actor),
           "support_tickets": load_tickets(con, root / "support_tickets" / "customer_support_tickets.csv", actor)}
    db.checkpoint(con)
    return out


def data_days(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[dt.date, dt.date]]:
    """The company days the loaded data covers: deals (first engagement .. last close or creation) and
    tickets (first .. last opening, response or resolution)."""
    d = con.execute("SELECT min(coalesce(engaged_on, closed_on)), max(coalesce(closed_on, engaged_on)) FROM deals "
                    "WHERE deleted_at IS NULL").fetchone()
    t = con.execute("SELECT min(opened_at), max(greatest(opened_at, coalesce(first_response_at, opened_at), "
                    "coalesce(resolved_at, opened_at))) FROM tickets WHERE deleted_at IS NULL").fetchone()
    zone = clock.zone(con)
    local = lambda x: None if x is None else clock.utc_to_local(x, zone).date()  # noqa: E731
    return {"deals": (d[0], d[1]), "tickets": (local(t[0]), local(t[1]))}
