"""The deal page (销售机会): one deal (`?id=N`) or a new one (`?new=1[&customer=N]`).

One deal: a header with the customer (a link to its page), owner and amount; the stage bar (move to
any stage of the pipeline: Won asks for the close date, Lost for a reason and a competitor; a closed
deal is reopened by the owner's manager or an admin); the won hand-off (流转单) when it is needed; the
edit form (fields from core.deals, custom fields included); the lines (product, quantity, unit price,
discount: the amount follows them); the stage history with the days spent in each stage; reassign
and delete for those allowed. Every write carries the version the user saw (a change since is shown
with Reload, nothing is overwritten). A deal out of the user's scope reads "not found", nothing more.
"""
from __future__ import annotations

import dataclasses

import polars as pl
import streamlit as st

from core import clock, contacts, customers, deals, fields, forecast, options, pipelines
from core.errors import Conflict, CRMError, NotFound
from core.i18n import translate
from ui import errors, fieldform, forms, records, tables
from ui.customer_pick import customer_for_new
from ui.i18n import label, lang, names, t
from ui.session import actor, con
from ui.text import md

PREFIX = "deal"
BOARD = "views/deals.py"
CUSTOMERS = "views/customers.py"
OPTIMISTIC_GAP = 20   # percentage points above the stage's win rate that earn a ⚠ (as views/forecast.py)


def _labels(c) -> dict:
    sources = {o["code"]: label(o) for o in options.options(c, "source", include_inactive=True)}
    reasons = {o["code"]: label(o) for o in options.options(c, "lost_reason", include_inactive=True)}
    stages = names(pipelines.stages(c, include_inactive=True))
    return {"source": lambda v: sources.get(v, v), "lost_reason": lambda v: reasons.get(v, v),
            "stage": lambda v: stages.get(v, v), "forecast_category": lambda v: t(f"deal.fc_{v}")}


def _to_board() -> None:
    for key in ("id", "new", "customer"):
        st.query_params.pop(key, None)


def _money(value, currency: str | None = None) -> str:
    if value is None:
        return "—"
    return f"{float(value):,.2f}" + (f" {currency}" if currency else "")


def render() -> None:
    me, c = actor(), con()
    st.button(t("deal.back_to_board"), icon=":material/arrow_back:", on_click=_to_board, key="deal_back")
    forms.show_flash()
    query = st.query_params
    if query.get("new"):
        with errors.handled():
            _new(c, me, query.get("customer"))
        return
    try:
        deal_id = deals.record_id(query.get("id"))
        deal = deals.get_deal(c, me, deal_id)
    except CRMError as exc:  # out of scope or a bad id: the same words, nothing more
        st.title(t("page.pipeline"))
        errors.show(exc if isinstance(exc, NotFound) else NotFound("deal.not_found"))
        return
    _show(c, me, deal)


# ---------------------------------------------------------------------------------------- one deal
def _seen(deal: dict) -> dict:
    """The version of the deal this page shows (kept until a write or a reload, like the edit form)."""
    key = f"_{PREFIX}_seen_{deal['id']}"
    if key not in st.session_state:
        st.session_state[key] = deal
    return st.session_state[key]


def _reload(did: int) -> None:
    records.reload(PREFIX, did)
    st.session_state[f"_deal_bar_{did}"] = st.session_state.get(f"_deal_bar_{did}", 0) + 1


def _show(c, me, deal: dict) -> None:
    did = deal["id"]
    st.title(md(deal["name"]), anchor=False)
    stage_names = names(pipelines.stages(c, include_inactive=True))
    pipeline = deal.get(f"pipeline_name_{lang()}") or deal.get("pipeline_name_en") or ""
    st.caption(t("deal.header", pipeline=pipeline, stage=stage_names.get(deal["stage"], deal["stage"]),
                 owner=deal.get("owner_name") or "—", team=deal.get("team_name") or "—"))
    top = st.columns([3, 2, 2, 2])
    with top[0]:
        if deal.get("customer_id") is not None and customers.allowed(c, me, deal["customer_id"], "view"):
            st.page_link(CUSTOMERS, label=t("deal.open_customer", name=deal.get("customer_name") or "—"),
                         query_params={"id": str(deal["customer_id"])}, icon=":material/person:")
        elif deal.get("customer_name"):
            st.text(deal["customer_name"])
    top[1].metric(t("deal.amount"), _money(deal.get("amount"), deal.get("currency")))
    top[2].metric(t("deal.probability"), "—" if deal.get("probability") is None else f"{deal['probability']} %")
    if not deal.get("is_closed"):
        with top[2], errors.handled():
            _win_rate(c, me, deal)
    top[3].metric(t("deal.expected_close"), str(deal.get("expected_close") or "—"))

    may_edit = deals.allowed(c, me, did, "edit")
    seen = _seen(deal)
    if seen["updated_at"] != deal["updated_at"]:
        st.warning(t("deal.changed_reload"))
        st.button(t("action.reload"), key=f"deal_reload_top_{did}", on_click=_reload, args=(did,))
    with errors.handled():
        _stage_bar(c, me, deal, seen, may_edit, stage_names)
    if deal.get("is_won"):
        _handoff(c, me, deal)

    st.subheader(t("deal.details"), anchor=False)
    defs = fields.definitions(c, "deal", me.role, "edit" if may_edit else "view")
    labels = {**_labels(c), "contact_id": _contact_label(c, me, deal)}
    if may_edit:
        form_defs = _form_defs(c, deal, defs)
        records.edit_form(c, me, PREFIX, deal, form_defs,
                          lambda changes, **kw: deals.update_deal(c, me, did, changes, seen=kw.get("seen")), labels,
                          stale_key=None)
    else:
        st.caption(t("deal.read_only"))
        shown = {k: f for k, f in defs.items() if k not in ("customer_id", "pipeline_id", "stage", "contact_id")}
        fieldform.view(c, shown, deal, choice_labels=labels)
    if deal.get("is_lost") or deal.get("is_won"):
        _closed_facts(c, deal, labels)

    st.subheader(t("deal.lines"), anchor=False)
    with errors.handled():
        _lines(c, me, deal, seen, may_edit)
    st.subheader(t("deal.history"), anchor=False)
    with errors.handled():
        _history(c, me, did, stage_names)
    with errors.handled():
        _actions(c, me, deal)


def _win_rate(c, me, deal: dict) -> None:
    """Beside an open deal's probability: the historical win rate of deals that reached the same stage of
    the same pipeline (core.forecast), with ⚠ when the probability is 20 points or more above it (as the
    forecast's hot list marks it)."""
    rate = forecast.deal_win_rate(c, me, deal)
    if rate is None:
        st.caption(t("deal.win_rate_none"))
        return
    pct = round(rate * 100)
    optimistic = deal.get("probability") is not None and deal["probability"] - rate * 100 >= OPTIMISTIC_GAP
    st.caption(t("deal.win_rate_optimistic" if optimistic else "deal.win_rate", rate=pct))


def _form_defs(c, deal: dict, defs: dict) -> dict:
    """The fields the edit form draws: the contact as a choice among the customer's contacts; no amount
    while lines set it; the stage, customer and pipeline are changed elsewhere (or not at all)."""
    out = {}
    for name, f in defs.items():
        if not f.custom and name not in deals.FORM_FIELDS:
            continue
        if name == "amount" and deal.get("lines"):
            continue
        if name == "won_reason" and not deal.get("is_won"):
            continue
        if name == "contact_id":
            ids = tuple(_contacts(c, actor(), deal))   # the deal's own contact among them
            if not ids:
                continue
            f = dataclasses.replace(f, kind="choice", options=ids)
        out[name] = f
    return out


def _closed_facts(c, deal: dict, labels: dict) -> None:
    parts = [t("deal.closed_on_is", day=str(deal.get("closed_on") or "—"))]
    if deal.get("is_lost") and deal.get("lost_reason"):
        parts.append(t("deal.lost_because", reason=labels["lost_reason"](deal["lost_reason"])))
    if deal.get("is_lost") and deal.get("competitor"):
        parts.append(t("deal.lost_to", competitor=deal["competitor"]))
    if deal.get("is_won") and deal.get("won_reason"):
        parts.append(t("deal.won_because", reason=deal["won_reason"]))
    st.info(" · ".join(parts), icon=":material/flag:")


def _contacts(c, me, deal: dict) -> dict:
    """id -> name of the contacts of the deal's customer the user may see: none when the customer is no
    longer the user's to see (reassigned, or released to the pool: the deal stays with its owner), and
    the deal's own contact by the name the deal carries."""
    found = {}
    if deal.get("customer_id") is not None:
        try:
            people = contacts.list_contacts(c, me, deal["customer_id"])
        except NotFound:
            people = None
        if people is not None and not people.is_empty():
            found = dict(zip(people["id"].to_list(), people["name"].to_list()))
    if deal.get("contact_id") is not None and deal["contact_id"] not in found:
        found[deal["contact_id"]] = deal.get("contact_name") or "—"
    return found


def _contact_label(c, me, deal: dict):
    found = _contacts(c, me, deal)
    return lambda v: found.get(v, "—")


# ---------------------------------------------------------------------------------------- stage bar
def _stage_bar(c, me, deal: dict, seen: dict, may_edit: bool, stage_names: dict) -> None:
    did = deal["id"]
    stages = pipelines.stages(c, deal["pipeline_id"])
    codes = [s["code"] for s in stages]
    if deal["stage"] not in codes:
        codes.append(deal["stage"])
    by_code = {s["code"]: s for s in stages}
    closed = deal.get("is_closed")
    may_reopen = closed and may_edit and deals.can_reopen(c, me, deal)
    may_move = may_edit and (not closed or may_reopen)
    nonce = st.session_state.get(f"_deal_bar_{did}", 0)
    picked = st.segmented_control(t("deal.stage"), codes, default=deal["stage"], key=f"deal_bar_{did}_{nonce}",
                                  format_func=lambda v: stage_names.get(v, v), disabled=not may_move,
                                  selection_mode="single")
    if closed and may_edit and not may_reopen:
        st.caption(t("deal.reopen_who"))
    if may_reopen:
        if st.button(t("deal.reopen"), key=f"deal_reopen_{did}", icon=":material/undo:"):
            with errors.handled():
                _moved(did, deals.reopen(c, me, did, seen=seen), stage_names)
    if not may_move or not picked or picked == deal["stage"]:
        return
    target = by_code.get(picked, {})
    with st.form(f"deal_move_{did}_{nonce}_{picked}", border=True):
        st.markdown(t("deal.move_to", stage=stage_names.get(picked, picked)))
        values = {}
        if target.get("is_won"):
            values["closed_on"] = st.date_input(t("deal.closed_on"), value=clock.local_today(c, me.now),
                                                max_value=clock.local_today(c, me.now), format="YYYY-MM-DD",
                                                key=f"deal_won_on_{did}")
            values["won_reason"] = st.text_input(t("deal.won_reason"), max_chars=200, key=f"deal_won_why_{did}")
        if target.get("is_lost"):
            reasons = deals.lost_reasons(c)
            values["lost_reason"] = st.selectbox(t("deal.lost_reason") + " *", [None] + [r["code"] for r in reasons],
                                                 format_func=lambda v: "—" if v is None else names(reasons).get(v, v),
                                                 key=f"deal_lost_why_{did}")
            values["competitor"] = st.text_input(t("deal.competitor"), value=deal.get("competitor") or "",
                                                 max_chars=100, key=f"deal_lost_to_{did}")
            values["closed_on"] = st.date_input(t("deal.closed_on"), value=clock.local_today(c, me.now),
                                                max_value=clock.local_today(c, me.now), format="YYYY-MM-DD",
                                                key=f"deal_lost_on_{did}")
        submitted = st.form_submit_button(t("deal.move"), type="primary", icon=":material/arrow_forward:")
    if not submitted:
        return
    values = {k: (v.strip() or None) if isinstance(v, str) else v for k, v in values.items()}
    try:
        result = deals.move_stage(c, me, did, picked, seen=seen, **values)
    except Conflict as exc:
        errors.show(exc)
        st.button(t("action.reload"), key=f"deal_reload_move_{did}", on_click=_reload, args=(did,))
        return
    _moved(did, result, stage_names)


def _moved(did: int, result: dict, stage_names: dict) -> None:
    _reload(did)
    forms.flash(t("deal.moved", old=stage_names.get(result["from"], result["from"]),
                  new=stage_names.get(result["to"], result["to"])))
    st.rerun()


def _handoff(c, me, deal: dict) -> None:
    """The won hand-off (流转单), asked for while the customer still needs one (ui.handoff decides)."""
    try:
        from ui import handoff
    except ImportError:  # the hand-off part is not there: nothing to ask
        return
    if deal.get("customer_id") is not None:
        with errors.handled():
            handoff.form(c, me, deal["customer_id"], deal["id"])


# ---------------------------------------------------------------------------------------- lines
_LINE_COLS = ("product", "description", "quantity", "unit_price", "discount")


def _lines(c, me, deal: dict, seen: dict, may_edit: bool) -> None:
    did = deal["id"]
    catalogue = pipelines.products(c, include_inactive=True)
    by_id = {p["id"]: p for p in catalogue}

    def product_label(p: dict) -> str:
        name = (p.get("name_zh") if lang() == "zh" else None) or p.get("name") or ""
        return f"{p.get('code') or p['id']} · {name}"

    lines = deal.get("lines") or []
    rows = pl.DataFrame({
        "product": [product_label(by_id[x["product_id"]]) if x.get("product_id") in by_id else None for x in lines],
        "description": [x.get("description") for x in lines],
        "quantity": [x.get("quantity") for x in lines],
        "unit_price": [x.get("unit_price") for x in lines],
        "discount": [x.get("discount") for x in lines],
        "amount": [x.get("amount") for x in lines],
    }, schema={"product": pl.String, "description": pl.String, "quantity": pl.Float64, "unit_price": pl.Float64,
               "discount": pl.Float64, "amount": pl.Float64})
    heads = {"product": "deal.line_product", "description": "deal.line_description",
             "quantity": "deal.line_quantity", "unit_price": "deal.line_unit_price",
             "discount": "deal.line_discount", "amount": "deal.line_amount"}
    if not may_edit:
        if rows.is_empty():
            st.caption(t("deal.no_lines"))
        else:
            tables.show(rows, heads, key=f"deal_lines_view_{did}")
        return
    st.caption(t("deal.lines_hint"))
    active = [p for p in catalogue if p.get("active")]
    choices = [product_label(p) for p in active] + [x for x in rows["product"].to_list() if x is not None]
    by_label = {product_label(p): p for p in catalogue}
    nonce = st.session_state.get(f"_{PREFIX}_form_{did}", 0)
    edited = st.data_editor(
        rows.drop("amount").to_pandas(), key=f"deal_lines_{did}_{nonce}", num_rows="dynamic", hide_index=True,
        width="stretch",
        column_config={
            "product": st.column_config.SelectboxColumn(t("deal.line_product"), options=sorted(set(choices))),
            "description": st.column_config.TextColumn(t("deal.line_description"), max_chars=200),
            "quantity": st.column_config.NumberColumn(t("deal.line_quantity"), min_value=0.0, max_value=1e9,
                                                      format="%.3f"),
            "unit_price": st.column_config.NumberColumn(t("deal.line_unit_price"), min_value=0.0, max_value=1e12,
                                                        format="%.2f"),
            "discount": st.column_config.NumberColumn(t("deal.line_discount"), min_value=0.0, max_value=100.0,
                                                      format="%.2f"),
        })
    if not rows.is_empty():
        st.caption(t("deal.lines_total", total=_money(sum(x["amount"] or 0 for x in lines), deal.get("currency"))))
    if not st.button(t("deal.save_lines"), key=f"deal_lines_save_{did}", icon=":material/save:"):
        return
    out = editor_lines(edited.to_dict("records"), by_label)
    try:
        deals.set_lines(c, me, did, out, seen=seen)
    except Conflict as exc:
        errors.show(exc)
        st.button(t("action.reload"), key=f"deal_reload_lines_{did}", on_click=_reload, args=(did,))
        return
    _reload(did)
    forms.flash(t("deal.lines_saved", n=len(out)))
    st.rerun()


def editor_lines(rows: list[dict], by_label: dict) -> list[dict]:
    """The editor's rows as core.deals lines: the product by its label, empty cells (None or NaN) as
    missing, the list price when no unit price was typed, rows left blank dropped."""
    out = []
    for rec in rows:
        product = by_label.get(rec.get("product")) if isinstance(rec.get("product"), str) else None
        desc = rec.get("description") if isinstance(rec.get("description"), str) else None
        qty, price, disc = (None if v is None or v != v else v for v in
                            (rec.get("quantity"), rec.get("unit_price"), rec.get("discount")))
        if product is None and not (desc or "").strip() and qty is None and price is None:
            continue  # an empty row the editor added
        if price is None and product is not None:
            price = product.get("list_price")
        out.append({"product_id": product["id"] if product else None, "description": desc,
                    "quantity": 1 if qty is None else qty, "unit_price": price, "discount": disc or 0})
    return out


# ---------------------------------------------------------------------------------------- history
def _history(c, me, did: int, stage_names: dict) -> None:
    df = deals.stage_timeline(c, me, did)
    if df.is_empty():
        st.caption(t("deal.no_history"))
        return
    tz = clock.zone(c)
    for row in reversed(df.to_dicts()):
        to_name = stage_names.get(row["to_stage"], row["to_stage"])
        when = clock.utc_to_local(row["changed_at"], tz).strftime("%Y-%m-%d %H:%M")
        if row["from_stage"] is None:
            head = t("deal.history_start", stage=to_name)
        else:
            head = t("deal.history_move", old=stage_names.get(row["from_stage"], row["from_stage"]), new=to_name)
        days = t("deal.days_in_stage_now" if row["current"] else "deal.days_in_stage", days=f"{row['days']:g}")
        with st.container(border=True):
            st.markdown(f":material/{'radio_button_checked' if row['current'] else 'trip_origin'}: **{head}**")
            st.caption(t("deal.history_when", when=when, who=row["who"] or "—") + " · " + days)


# ---------------------------------------------------------------------------------------- reassign, delete
def _actions(c, me, deal: dict) -> None:
    did = deal["id"]
    may_assign = deals.allowed(c, me, did, "assign")
    may_delete = deals.allowed(c, me, did, "delete")
    if not (may_assign or may_delete):
        return
    st.divider()
    left, right = st.columns(2)
    if may_assign:
        people = [p for p in deals.assignees(c, me) if p["id"] != deal.get("owner_id")]
        with left.form(f"deal_reassign_{did}", border=True):
            who = st.selectbox(t("deal.reassign_to"), [p["id"] for p in people],
                               format_func={p["id"]: f"{p['name']} ({p['team_name'] or '—'})" for p in people}.get,
                               index=None, placeholder=t("deal.pick_owner"))
            if st.form_submit_button(t("deal.reassign"), icon=":material/swap_horiz:") and who is not None:
                with errors.handled():
                    deals.reassign(c, me, [did], who)
                    _reload(did)
                    forms.flash(t("deal.reassigned"))
                    st.rerun()
    if may_delete:
        with right:
            records.delete_button(PREFIX, did, deal["name"], lambda: deals.delete_deal(c, me, did), _to_board)


# ---------------------------------------------------------------------------------------- new deal
_NEW_FIELDS = ("name", "amount", "currency", "expected_close", "probability", "source", "competitor", "next_step")


def _new(c, me, customer_param) -> None:
    st.title(t("deal.new_title"), anchor=False)
    if not deals.can_create(c, me):
        st.info(t("deal.cannot_create"))
        return
    customer = customer_for_new(c, me, customer_param, "deal_new", "deal")
    if customer is None:
        return
    cid = customer["id"]
    defs = fields.definitions(c, "deal", me.role, "edit")
    shown = {k: f for k, f in defs.items() if k in _NEW_FIELDS or (f.custom and f.editable_by(me.role))}
    people = contacts.list_contacts(c, me, cid)
    contact_ids = people["id"].to_list() if not people.is_empty() else []
    contact_names = dict(zip(contact_ids, people["name"].to_list())) if contact_ids else {}
    choices = pipelines.pipelines(c)
    with st.form("deal_new", border=True):
        pipeline_id = st.selectbox(t("deal.pipeline"), [p["id"] for p in choices],
                                   format_func={p["id"]: label(p) for p in choices}.get) if len(choices) > 1 else (
            choices[0]["id"] if choices else None)
        start = {"name": translate(lang(), "deal.default_name", customer=customer["name"])[:200],
                 "currency": deals.company_currency(c)}
        typed = fieldform.inputs(c, shown, start, key="deal_new_f", choice_labels=_labels(c))
        contact = st.selectbox(t("deal.contact"), [None] + contact_ids, format_func=lambda v: contact_names.get(v, "—"),
                               key="deal_new_contact") if contact_ids else None
        submitted = st.form_submit_button(t("action.create"), type="primary")
    if not submitted:
        return
    values = fieldform.changes(c, shown, {}, typed)
    values = {k: v for k, v in values.items() if v is not None}
    values.update({"customer_id": cid, "pipeline_id": pipeline_id})
    if contact is not None:
        values["contact_id"] = contact
    signature = {**values, "_user": me.id}
    if not forms.first_submit("deal_new", signature):
        st.info(t("action.already_done"))
        return
    with errors.handled():
        new_id = deals.create_deal(c, me, values)
        forms.remember_submit("deal_new", signature)
        forms.flash(t("deal.created", name=values.get("name") or ""))
        st.query_params.pop("new", None)
        st.query_params.pop("customer", None)
        st.query_params["id"] = str(new_id)
        st.rerun()


__all__ = ["render"]
