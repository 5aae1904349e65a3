"""Orders (交易记录): the orders the user may see (filters, sort, paging), one order (`?id=N`) with its
lines, payment plans, payments and what is invoiced, received and outstanding; a new order for a
customer (`?new=1&customer=N`) or from a won deal (`?deal=N`); the overdue receivables for managers."""

import polars as pl
import streamlit as st

from core import access, clock, customers, money as money_limits, orders, pipelines, settings
from core import export
from ui import errors, forms, nav, order_panel, tables
from ui import export as export_ui
from ui.i18n import lang, t
from ui.order_panel import money, status_name
from ui.session import actor, con
from ui.text import md

me, c = actor(), con()
state = st.session_state
st.title(t("page.orders"))
forms.show_flash()

today = clock.local_today(c, me.now)
_LINE_COLUMNS = {"product": "order.product", "description": "order.description", "quantity": "order.quantity",
                 "unit_price": "order.unit_price", "discount": "order.discount", "amount": "order.amount"}
_LIST_COLUMNS = {"order_no": "order.order_no", "customer_name": "order.customer", "ordered_at": "order.ordered_at",
                 "status": "order.status", "amount": "order.amount", "received": "order.received",
                 "outstanding": "order.outstanding", "owner_name": "order.owner_id", "team_name": "order.team"}
_PLAN_COLUMNS = {"due_on": "order.due_on", "amount": "order.plan_amount", "covered": "order.covered",
                 "open": "order.open", "overdue": "order.overdue", "note": "order.note"}
_PAY_COLUMNS = {"paid_at": "order.paid_on", "amount": "order.paid_amount", "method": "order.method",
                "note": "order.note", "created_by_name": "order.recorded_by"}
_OVERDUE_COLUMNS = {"customer_name": "order.customer", "order_no": "order.order_no", "owner_name": "order.owner_id",
                    "team_name": "order.team", "due_on": "order.due_on", "amount": "order.plan_amount",
                    "covered": "order.covered", "open": "order.open", "days_overdue": "orders.days_overdue"}
_BADGE = {"draft": "gray", "confirmed": "blue", "cancelled": "red", "refunded": "orange"}
_STATUS_ICONS = {"confirmed": ":material/check_circle:", "cancelled": ":material/cancel:",
                 "refunded": ":material/currency_exchange:"}
FILTER_KEYS = ("ord_q", "ord_status", "ord_owner", "ord_from", "ord_to", "ord_sort", "ord_desc", "ord_page")


def _product_names() -> dict:
    out = {}
    for p in pipelines.products(c, include_inactive=True):
        name = p["name_zh"] if lang() == "zh" and p.get("name_zh") else p["name"]
        out[p["id"]] = f"{p['code']} · {name}" if p.get("code") else name
    return out


def _day(value) -> str:
    return clock.fmt(c, value)[:10] if value is not None else ""


# ---------------------------------------------------------------- lines as form rows
def _more_lines(key: str) -> None:
    state[f"_ol_rows_{key}"] = min(state.get(f"_ol_rows_{key}", 3) + 3, orders.MAX_LINES)


def line_inputs(key: str, existing: list[dict], product_names: dict) -> list[dict]:
    """One row of inputs per line (product, description, quantity, unit price, discount %); rows left
    without a product and a description are skipped; a product without a price takes its list price."""
    active = {p["id"]: p for p in pipelines.products(c)}
    prices = {p["id"]: p["list_price"] for p in pipelines.products(c, include_inactive=True)}
    rows = state.setdefault(f"_ol_rows_{key}", max(len(existing) + 1, 3))
    options = [None, *active, *[x["product_id"] for x in existing if x.get("product_id") not in active
                                and x.get("product_id") is not None]]
    head = st.columns([3, 3, 1.2, 1.6, 1.2])
    for col, label in zip(head, ("order.product", "order.description", "order.quantity", "order.unit_price",
                                 "order.discount")):
        col.caption(t(label))
    out = []
    for i in range(rows):
        line = existing[i] if i < len(existing) else {}
        cols = st.columns([3, 3, 1.2, 1.6, 1.2])
        pid = line.get("product_id")
        product = cols[0].selectbox(t("order.product"), options, index=options.index(pid) if pid in options else 0,
                                    key=f"{key}_p{i}", label_visibility="collapsed",
                                    format_func=lambda v: "—" if v is None else product_names.get(v, str(v)))
        desc = cols[1].text_input(t("order.description"), line.get("description") or "", key=f"{key}_d{i}",
                                  max_chars=200, label_visibility="collapsed")
        # the limits and decimals of core.money (those of a deal's lines): 3 decimals a quantity, 4 a price
        qty = cols[2].number_input(t("order.quantity"), min_value=0.0, max_value=float(money_limits.QUANTITY_MAX),
                                   value=float(line.get("quantity", 1.0)), step=1.0, format="%.3f",
                                   key=f"{key}_q{i}", label_visibility="collapsed")
        price = cols[3].number_input(t("order.unit_price"), min_value=0.0, max_value=float(money_limits.UNIT_PRICE_MAX),
                                     value=line.get("unit_price"), step=100.0, format="%.4f", key=f"{key}_u{i}",
                                     label_visibility="collapsed", placeholder=t("orders.list_price"))
        disc = cols[4].number_input(t("order.discount"), min_value=0.0, max_value=100.0,
                                    value=float(line.get("discount") or 0.0), step=1.0, key=f"{key}_x{i}",
                                    label_visibility="collapsed")
        if product is None and not desc.strip():
            continue
        if price is None:
            price = prices.get(product) if product is not None else None
        out.append({"product_id": product, "description": desc.strip() or None, "quantity": qty,
                    "unit_price": 0.0 if price is None else price, "discount": disc})
    return out


# ---------------------------------------------------------------- one order
def _close() -> None:
    for k in ("id", "new", "deal"):
        st.query_params.pop(k, None)


def _reload(oid: int) -> None:
    state.pop(f"_ord_seen_{oid}", None)
    state[f"_ord_nonce_{oid}"] = state.get(f"_ord_nonce_{oid}", 0) + 1


def _remove_one(oid: int, labels: dict, key: str, what: str, remove) -> None:
    """Pick one plan or payment of the order and remove it (to the bin, through core)."""
    r1, r2 = st.columns([3, 1], vertical_alignment="bottom")
    pick = r1.selectbox(t(f"orders.{what}_to_remove"), [None, *labels], key=key,
                        format_func=lambda v: "—" if v is None else labels[v])
    if r2.button(t(f"orders.remove_{what}"), key=f"{key}_btn", disabled=pick is None):
        with errors.handled():
            remove(c, me, pick)
            _done(oid, t(f"orders.{what}_removed"))


def _done(oid: int, text: str) -> None:
    _reload(oid)
    forms.flash(text)
    st.rerun()


def _header(detail: dict) -> None:
    st.subheader(f"{md(detail['order_no'] or detail['id'])} · {md(detail['customer_name'] or '—')}")
    status = detail["status"]
    facts = [f":{_BADGE.get(status, 'gray')}-badge[{status_name(status)}]",
             t("orders.ordered_on", day=_day(detail["ordered_at"])),
             t("orders.owned_by", owner=detail["owner_name"] or "—", team=detail["team_name"] or "—")]
    st.markdown(" · ".join(facts))
    links = st.columns(3)
    if detail["customer_id"] and order_panel.has_page(c, me, "views/customers.py"):
        links[0].page_link("views/customers.py", label=t("orders.open_customer"), icon=":material/groups:",
                           query_params={"id": str(detail["customer_id"])})
    if detail["deal_id"]:
        if order_panel.has_page(c, me, "views/deals.py"):
            links[1].page_link("views/deals.py", label=t("orders.open_deal", name=detail["deal_name"] or ""),
                               icon=":material/handshake:", query_params={"id": str(detail["deal_id"])})
        else:
            links[1].caption(t("orders.from_deal", name=detail["deal_name"] or detail["deal_id"]))


def _figures(oid: int) -> dict:
    s = orders.order_summary(c, me, oid)
    a, b, d, e, f = st.columns(5)
    a.metric(t("order.amount"), money(s["amount"]))
    b.metric(t("order.invoiced"), money(s["invoiced"]))
    d.metric(t("order.received"), money(s["received"]))
    e.metric(t("order.outstanding"), money(s["outstanding"]))
    f.metric(t("order.overdue"), money(s["overdue"]))
    notes = [t("orders.currency", currency=s["currency"])]
    if s["status"] == "refunded" and s["refunded"]:
        notes.append(t("orders.refunded_amount", amount=money(s["refunded"])))
    if s["status"] in ("draft", "confirmed") and s["unplanned"] and s["planned"]:
        notes.append(t("orders.unplanned", amount=money(s["unplanned"])))
    st.caption(" · ".join(notes))
    return s


def _edit(detail: dict, seen: dict, names: dict) -> None:
    oid = detail["id"]
    key = f"ord_edit_{oid}_{state.get(f'_ord_nonce_{oid}', 0)}"
    draft = detail["status"] == "draft"
    with st.expander(t("orders.edit"), icon=":material/edit:", expanded=draft):
        with st.form(key):
            day = None
            if draft:
                dated = clock.to_local(c, seen["ordered_at"]).date()
                day = st.date_input(t("order.ordered_at"), value=dated, max_value=max(today, dated),
                                    key=f"{key}_day", format="YYYY-MM-DD")
                st.markdown(f"**{t('orders.lines')}**")
                lines = line_inputs(key, seen["lines"], names)
            notes = st.text_area(t("order.notes"), seen.get("notes") or "", key=f"{key}_notes", max_chars=2000)
            submitted = st.form_submit_button(t("action.save"), type="primary")
        if draft:
            st.button(t("orders.more_lines"), key=f"{key}_more", on_click=_more_lines, args=(key,),
                      icon=":material/add:")
        if not submitted:
            return
        changes = {}
        if (notes.strip() or None) != (seen.get("notes") or None):
            changes["notes"] = notes.strip() or None
        if draft and day != clock.to_local(c, seen["ordered_at"]).date():
            changes["ordered_at"] = day
        with errors.handled():
            diff = orders.update_order(c, me, oid, changes, lines=lines if draft else None, seen=seen)
            if not diff:
                st.info(t("action.nothing_changed"))
            else:
                state.pop(f"_ol_rows_{key}", None)
                _done(oid, t("action.saved", n=len(diff)))


def _status_buttons(detail: dict, seen: dict, summary: dict) -> None:
    """The moves the order may make now: a confirmed order with money in is refunded, without money
    cancelled (core refuses the other one anyway)."""
    oid = detail["id"]
    moves = [m for m in detail["transitions"]
             if not (detail["status"] == "confirmed" and m == ("cancelled" if summary["paid"] > 0 else "refunded"))]
    if not moves:
        return
    cols = st.columns(len(moves) + 1)
    for col, to in zip(cols, moves):
        with col.popover(t(f"orders.to_{to}"), icon=_STATUS_ICONS.get(to)):
            st.write(t(f"orders.to_{to}_confirm"))
            if st.button(t("action.confirm"), key=f"ord_to_{to}_{oid}", type="primary"):
                with errors.handled():
                    orders.set_status(c, me, oid, to, seen=seen)
                    _done(oid, t("orders.moved", status=status_name(to)))


def _plans(detail: dict, may_edit: bool) -> None:
    oid = detail["id"]
    st.subheader(t("orders.plans"))
    df = orders.order_plans(c, me, oid)
    if df.is_empty():
        st.caption(t("orders.no_plans"))
    else:
        tables.show(df, _PLAN_COLUMNS, key=f"ord_plans_{oid}_{df.height}")
    if not may_edit or detail["status"] not in ("draft", "confirmed"):
        return
    nonce = state.get(f"_ord_nonce_{oid}", 0)
    key = f"ord_plan_{oid}_{nonce}"
    with st.form(key):
        a, b, d = st.columns([1, 1, 2])
        due = a.date_input(t("order.due_on"), value=None, key=f"{key}_due", format="YYYY-MM-DD")
        amount = b.number_input(t("order.plan_amount"), min_value=0.0, value=None, step=100.0, format="%.2f",
                                key=f"{key}_amount")
        note = d.text_input(t("order.note"), key=f"{key}_note", max_chars=200)
        submitted = st.form_submit_button(t("orders.add_plan"), icon=":material/event:")
    if submitted:
        values = {"due_on": due, "amount": amount, "note": note or None}
        sig = {**values, "order": oid, "nonce": nonce}
        if not forms.first_submit("order_plan", sig):
            st.info(t("action.already_done"))
        else:
            with errors.handled():
                orders.add_plan(c, me, oid, values)
                forms.remember_submit("order_plan", sig)
                _done(oid, t("orders.plan_added"))
    if not df.is_empty():
        _remove_one(oid, {r["id"]: f"{r['due_on']} · {money(r['amount'])}" for r in df.iter_rows(named=True)},
                    f"ord_plan_rm_{oid}_{nonce}", "plan", orders.delete_plan)


def _payments(detail: dict, summary: dict, may_edit: bool) -> None:
    oid = detail["id"]
    st.subheader(t("orders.payments"))
    df = orders.order_payments(c, me, oid)
    if df.is_empty():
        st.caption(t("orders.no_payments"))
    else:
        shown = df.with_columns(pl.col("method").replace_strict({m: t(f"order.method_{m}") for m in orders.METHODS},
                                                                default=pl.col("method")),
                                pl.Series("paid_at", [_day(v) for v in df["paid_at"]], dtype=pl.String))
        tables.show(shown, _PAY_COLUMNS, key=f"ord_pays_{oid}_{df.height}")
    nonce = state.get(f"_ord_nonce_{oid}", 0)
    if may_edit and detail["status"] == "confirmed" and summary["outstanding"] > 0:
        key = f"ord_pay_{oid}_{nonce}"
        with st.form(key):
            a, b, d = st.columns(3)
            paid_on = a.date_input(t("order.paid_on"), value=today, max_value=today, key=f"{key}_day",
                                   format="YYYY-MM-DD")
            amount = b.number_input(t("order.paid_amount"), min_value=0.0, value=float(summary["outstanding"]),
                                    step=100.0, format="%.2f", key=f"{key}_amount")
            method = d.selectbox(t("order.method"), [None, *orders.METHODS], key=f"{key}_method",
                                 format_func=lambda v: "—" if v is None else t(f"order.method_{v}"))
            note = st.text_input(t("order.note"), key=f"{key}_note", max_chars=200)
            submitted = st.form_submit_button(t("orders.add_payment"), type="primary", icon=":material/payments:")
        if submitted:
            values = {"paid_on": paid_on, "amount": amount, "method": method, "note": note or None}
            sig = {**values, "order": oid, "nonce": nonce}
            if not forms.first_submit("order_payment", sig):
                st.info(t("action.already_done"))
            else:
                with errors.handled():
                    orders.add_payment(c, me, oid, values)
                    forms.remember_submit("order_payment", sig)
                    _done(oid, t("orders.payment_added", amount=money(amount)))
    elif may_edit and detail["status"] == "confirmed":
        st.caption(t("orders.fully_paid"))
    elif detail["status"] == "draft":
        st.caption(t("orders.pay_after_confirm"))
    if not df.is_empty() and detail["status"] == "confirmed" and orders.allowed(c, me, oid, "delete"):
        _remove_one(oid, {r["id"]: f"{_day(r['paid_at'])} · {money(r['amount'])}" for r in df.iter_rows(named=True)},
                    f"ord_pay_rm_{oid}_{nonce}", "payment", orders.delete_payment)


def show_order(order_id) -> None:
    detail = orders.get_order(c, me, order_id)
    oid = detail["id"]
    seen = state.get(f"_ord_seen_{oid}")
    if seen is None:
        seen = state[f"_ord_seen_{oid}"] = detail
    _header(detail)
    if seen["updated_at"] != detail["updated_at"]:
        st.warning(t("orders.changed_reload"))
        st.button(t("action.reload"), key=f"ord_reload_{oid}", on_click=_reload, args=(oid,))
    summary = _figures(oid)
    names = _product_names()
    st.markdown(f"**{t('orders.lines')}**")
    lines = pl.DataFrame(detail["lines"], schema={"id": pl.Int64, "product_id": pl.Int64, "sku": pl.String,
                                                  "description": pl.String, "quantity": pl.Float64,
                                                  "unit_price": pl.Float64, "discount": pl.Float64,
                                                  "amount": pl.Float64})
    lines = lines.with_columns(pl.col("product_id").replace_strict(names, default=None, return_dtype=pl.String)
                               .alias("product"))
    if lines.is_empty():
        st.caption(t("orders.no_lines"))
    else:
        tables.show(lines, _LINE_COLUMNS, key=f"ord_lines_{oid}_{detail['updated_at']}")
    if detail.get("notes"):
        st.caption(t("order.notes"))
        st.text(detail["notes"])
    may_edit = orders.allowed(c, me, oid, "edit")
    if may_edit:
        _status_buttons(detail, seen, summary)
        _edit(detail, seen, names)
    else:
        st.caption(t("orders.read_only"))
    left, right = st.columns(2, gap="large")
    with left:
        _plans(detail, may_edit)
    with right:
        _payments(detail, summary, may_edit)
    if orders.allowed(c, me, oid, "delete"):
        with st.popover(t("action.delete"), icon=":material/delete:"):
            st.write(t("orders.delete_confirm", order_no=detail["order_no"] or oid))
            if st.button(t("action.delete_confirm"), key=f"ord_del_{oid}", type="primary"):
                with errors.handled():
                    orders.delete_order(c, me, oid)
                    forms.flash(t("orders.deleted", order_no=detail["order_no"] or oid))
                    _close()
                    st.rerun()


# ---------------------------------------------------------------- new orders
def new_order(customer_param) -> None:
    if not customer_param:
        st.info(t("orders.new_pick_customer"))
        if order_panel.has_page(c, me, "views/customers.py"):
            st.page_link("views/customers.py", label=t("page.customers"), icon=":material/groups:")
        return
    customer = customers.get_customer(c, me, customer_param)
    cid = customer["id"]
    if not orders.can_create_for(c, me, cid):
        st.info(t("orders.cannot_create"))
        return
    st.subheader(t("orders.new_for", name=customer["name"]))
    nonce = state.get("_ord_new_nonce", 0)
    key = f"ord_new_{cid}_{nonce}"
    with st.form(key):
        a, b = st.columns([1, 3])
        day = a.date_input(t("order.ordered_at"), value=today, max_value=today, key=f"{key}_day",
                           format="YYYY-MM-DD")  # an order is dated no later than today
        notes = b.text_input(t("order.notes"), key=f"{key}_notes", max_chars=2000)
        st.markdown(f"**{t('orders.lines')}**")
        lines = line_inputs(key, [], _product_names())
        submitted = st.form_submit_button(t("action.create"), type="primary")
    st.button(t("orders.more_lines"), key=f"{key}_more", on_click=_more_lines, args=(key,), icon=":material/add:")
    st.caption(t("orders.new_hint"))
    if not submitted:
        return
    values = {"customer_id": cid, "ordered_at": day, "notes": notes.strip() or None}
    sig = {**values, "lines": lines, "nonce": nonce}
    if not forms.first_submit("new_order", sig):
        st.info(t("action.already_done"))
        return
    with errors.handled():
        new_id = orders.create_order(c, me, values, lines)
        forms.remember_submit("new_order", sig)
        state["_ord_new_nonce"] = nonce + 1
        state.pop(f"_ol_rows_{key}", None)
        forms.flash(t("orders.created"))
        _close()
        st.query_params["id"] = str(new_id)
        st.rerun()


def from_deal(deal_param) -> None:
    info = orders.deal_for_order(c, me, deal_param)
    st.subheader(t("orders.from_deal_title", name=info["name"]))
    st.caption(t("orders.from_deal_facts", customer=info["customer_name"] or "—",
                 amount=money(info["amount"], info["currency"]), n=int(info["lines"])))
    if not info["won"]:
        st.warning(t("order.deal_not_won"))
        return
    again = False
    if info["orders"]:
        st.warning(t("orders.deal_has_orders", n=len(info["orders"])))
        for o in info["orders"]:
            nav.record_link("views/orders.py", f"{o['order_no']} · {status_name(o['status'])} · {money(o['amount'])}",
                            o["id"], icon=":material/receipt_long:")
        again = st.checkbox(t("orders.create_again"), key=f"ord_again_{info['id']}")
    if not access.can(c, me, "orders", "create"):
        st.info(t("orders.cannot_create"))
        return
    if st.button(t("orders.create_from_deal"), type="primary", disabled=bool(info["orders"]) and not again,
                 key=f"ord_from_deal_{info['id']}"):
        # a double click: the same deal, the same orders seen and the same choice went through already
        sig = {"deal": info["id"], "orders": [o["id"] for o in info["orders"]], "again": again}
        if not forms.first_submit("order_from_deal", sig):
            st.info(t("action.already_done"))
            return
        with errors.handled():
            new_id = orders.create_from_deal(c, me, info["id"], again=again)
            forms.remember_submit("order_from_deal", sig)
            forms.flash(t("orders.created_from_deal"))
            _close()
            st.query_params["id"] = str(new_id)
            st.rerun()


# ---------------------------------------------------------------- the list and the overdue receivables
def _step(delta: int) -> None:
    state["ord_page"] = max(1, int(state.get("ord_page", 1)) + delta)


def _drop_customer() -> None:
    st.query_params.pop("customer", None)


def list_view() -> None:
    forms.keep(FILTER_KEYS)
    customer_id = None
    linked = st.query_params.get("customer")
    if linked:
        with errors.handled():
            customer = customers.get_customer(c, me, linked)
            customer_id = customer["id"]
            a, b = st.columns([4, 1], vertical_alignment="center")
            a.markdown(t("orders.of_customer", name=customer["name"]))
            b.button(t("orders.all_customers"), key="ord_drop_customer", on_click=_drop_customer)
    owners = {u["id"]: f"{u['name']} ({u['team'] or '—'})" for u in orders.owner_choices(c, me)}
    with st.container(border=True):
        f1, f2, f3 = st.columns([2, 3, 2])
        q = f1.text_input(t("orders.search"), key="ord_q", max_chars=50, placeholder=t("orders.search_hint"))
        status = f2.multiselect(t("order.status"), list(orders.STATUSES), format_func=status_name, key="ord_status",
                                placeholder=t("list.choose"))
        owner = f3.selectbox(t("order.owner_id"), [None, *owners], key="ord_owner",
                             format_func=lambda v: t("orders.any_owner") if v is None else owners.get(v, str(v)))
        d1, d2, s1, s2 = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
        day_from = d1.date_input(t("orders.date_from"), value=None, key="ord_from", format="YYYY-MM-DD")
        day_to = d2.date_input(t("orders.date_to"), value=None, key="ord_to", format="YYYY-MM-DD")
        sort = s1.selectbox(t("orders.sort"), orders.SORTS, key="ord_sort", format_func=lambda v: t(f"orders.sort_{v}"))
        state.setdefault("ord_desc", True)
        desc = s2.toggle(t("orders.descending"), key="ord_desc")
    filters = {"q": q, "status": status, "owner_id": owner, "customer_id": customer_id,
               "date_from": day_from, "date_to": day_to}
    page_size = settings.get(c, "lists.page_size")
    signature = (q, tuple(status), owner, customer_id, day_from, day_to, sort, desc)
    if state.get("_ord_sig") != signature:
        state["_ord_sig"] = signature
        state["ord_page"] = 1
    picked = None
    with errors.handled():
        df, total, page, pages = tables.current_page(
            "ord_page", page_size,
            lambda i: orders.list_orders(c, me, filters, sort=sort, desc=desc, page=i, page_size=page_size))
        st.caption(t("orders.count", n=f"{total:,}", page=f"{page:,}", pages=f"{pages:,}"))
        picked = tables.select_one(order_panel.with_status_names(df), _LIST_COLUMNS, key="ord_table")
        if total == 0:
            st.info(t("orders.none"))
        n1, n2, n3, _ = st.columns([1, 2, 1, 5], vertical_alignment="bottom")
        n1.button(t("list.previous"), disabled=page <= 1, key="ord_prev", on_click=_step, args=(-1,))
        n2.number_input(t("list.page_of", pages=f"{pages:,}"), min_value=1, max_value=pages, step=1, key="ord_page")
        n3.button(t("list.next"), disabled=page >= pages, key="ord_next", on_click=_step, args=(1,))
        status_names = {s: status_name(s) for s in orders.STATUSES}
        export_ui.buttons(c, me, "orders", lambda cur: export.all_rows(
            orders.list_orders, cur, me, filters, sort=sort, desc=desc)[0].with_columns(
                pl.col("status").replace_strict(status_names, default=pl.col("status"))),
            _LIST_COLUMNS, t("page.orders"), total)
    forms.remember(FILTER_KEYS)
    if picked is not None:
        st.query_params["id"] = str(picked)
        st.rerun()


def overdue_view() -> None:
    owners = {u["id"]: f"{u['name']} ({u['team'] or '—'})" for u in orders.owner_choices(c, me)}
    owner = st.selectbox(t("order.owner_id"), [None, *owners], key="ord_overdue_owner",
                         format_func=lambda v: t("orders.any_owner") if v is None else owners.get(v, str(v)))
    df, summary = orders.overdue(c, me, {"owner_id": owner} if owner else None)
    a, b, d, e = st.columns(4)
    a.metric(t("orders.overdue_total"), money(summary["amount"]))
    b.metric(t("orders.overdue_plans"), f"{summary['plans']:,}")
    d.metric(t("orders.overdue_orders"), f"{summary['orders']:,}")
    e.metric(t("orders.overdue_customers"), f"{summary['customers']:,}")
    st.caption(t("orders.overdue_hint", day=summary["as_of"].isoformat()))
    if df.is_empty():
        st.success(t("orders.overdue_none"))
        return
    if summary["plans"] > df.height:
        st.caption(t("orders.overdue_first", n=df.height))
    picked = tables.select_one(df, _OVERDUE_COLUMNS, key="ord_overdue_table", id_column="order_id")
    if picked is not None:
        st.query_params["id"] = str(picked)
        st.rerun()


open_id = st.query_params.get("id")
if open_id:
    st.button(t("orders.back_to_list"), icon=":material/arrow_back:", key="ord_back", on_click=_close)
    with st.container(border=True):
        with errors.handled():
            show_order(open_id)
elif st.query_params.get("deal"):
    st.button(t("orders.back_to_list"), icon=":material/arrow_back:", key="ord_back", on_click=_close)
    with errors.handled():
        from_deal(st.query_params.get("deal"))
elif st.query_params.get("new"):
    st.button(t("orders.back_to_list"), icon=":material/arrow_back:", key="ord_back", on_click=_close)
    with errors.handled():
        new_order(st.query_params.get("customer"))
elif orders.can_see_overdue(c, me):
    tab_list, tab_overdue = st.tabs([t("orders.tab_list"), t("orders.tab_overdue")])
    with tab_list:
        list_view()
    with tab_overdue:
        with errors.handled():
            overdue_view()
else:
    list_view()
