"""Leads (线索): filter (any field, custom fields included), save views, page through the leads the user
may see; open one by its id (`?id=…`), edit, disqualify with a reason, convert to a customer (and a
deal); add one by hand or from a business card."""
import polars as pl
import streamlit as st

from core import access, fields, leads, options, recycle, settings
from core.errors import DuplicateError
from core import export
from ui import duplicates, errors, fieldform, filterbuilder, forms, records, tables
from ui import export as export_ui
from ui.i18n import label, t
from ui.session import actor, con
from ui.text import md

me, c = actor(), con()
st.title(t("page.leads"))
forms.show_flash()
state = st.session_state

sources = {o["code"]: label(o) for o in options.options(c, "source", include_inactive=True)}
reasons = {o["code"]: label(o) for o in options.options(c, "disqualify_reason")}
labels = {"source": lambda v: sources.get(v, v), "status": lambda v: t(f"lead.status_{v}")}
HOLDERS = ("all", "mine", "owned", "pool") if me.role in access.HOLDER_ROLES else ("all", "owned", "pool")
FILTER_KEYS = ("lead_q", "lead_status", "lead_source", "lead_holder", "lead_sort", "lead_desc", "lead_page")


def _close() -> None:
    st.query_params.pop("id", None)
    state["lead_nonce"] = state.get("lead_nonce", 0) + 1


def _reload(lid: int) -> None:
    records.reload("lead", lid)


def show_lead(lid) -> None:
    lead = leads.get_lead(c, me, lid)
    lid = lead["id"]
    st.subheader(md(lead["name"]) + (f" · {md(lead['company'])}" if lead.get("company") else ""))
    st.caption(t("customer.owned_by", owner=lead["owner_name"] or t("customers.in_pool"), team=lead["team_name"] or "—")
               + f" · {t('lead.status')}: {t('lead.status_' + lead['status'])}")
    if lead["status"] == "converted" and lead.get("converted_customer_id"):
        st.page_link("views/customers.py", label=t("lead.open_customer"), icon=":material/person:",
                     query_params={"id": str(lead["converted_customer_id"])})
    if lead["status"] == "invalid":
        st.info(t("lead.disqualified_because", reason=reasons.get(lead.get("disqualify_reason"), "—")))
    defs = fields.definitions(c, "lead", me.role)
    editable = lead["status"] in leads.OPEN and leads.allowed(c, me, lid, "edit")
    if not editable:
        fieldform.view(c, defs, lead, choice_labels=labels)
        if lead["status"] == "invalid" and leads.allowed(c, me, lid, "edit"):
            if st.button(t("lead.reopen"), key=f"lead_reopen_{lid}"):
                with errors.handled():
                    leads.reopen_lead(c, me, lid)
                    _reload(lid)
                    forms.flash(t("lead.reopened"))
                    st.rerun()
        return
    records.edit_form(c, me, "lead", lead, fields.definitions(c, "lead", me.role, "edit"),
                      lambda changes, **kw: leads.update_lead(c, me, lid, changes, **kw), labels,
                      stale_key="lead.changed_reload")

    convert, drop = st.columns(2)
    with convert.expander(t("lead.convert"), icon=":material/how_to_reg:",
                          expanded=f"lead_convert_{lid}_refusal" in state):
        with st.form(f"lead_convert_{lid}"):
            name = st.text_input(t("lead.convert_name"), lead.get("company") or lead["name"], max_chars=200)
            with_deal = st.checkbox(t("lead.convert_with_deal"))
            d1, d2, d3 = st.columns(3)
            deal_name = d1.text_input(t("deal.name"), max_chars=200)
            amount = d2.number_input(t("deal.amount"), min_value=0.0, value=None, step=1000.0)
            close = d3.date_input(t("deal.expected_close"), value=None)
            confirmed = duplicates.anyway(c, me, f"lead_convert_{lid}")
            go = st.form_submit_button(t("lead.convert"), type="primary")
        if go:
            deal = {k: v for k, v in {"name": deal_name or None, "amount": amount, "expected_close": close}.items()
                    if v is not None} if with_deal else None
            try:
                out = leads.convert_lead(c, me, lid, {"name": name}, deal=deal, confirmed=confirmed)
            except DuplicateError as exc:
                duplicates.refused(c, me, exc, f"lead_convert_{lid}")
            except Exception as exc:  # noqa: BLE001
                errors.show(exc)
            else:
                forms.flash(t("lead.converted", name=name))
                st.switch_page("views/customers.py", query_params={"id": str(out["customer_id"])})
    with drop.expander(t("lead.disqualify"), icon=":material/block:"):
        with st.form(f"lead_drop_{lid}"):
            reason = st.selectbox(t("lead.reason"), [None, *reasons], format_func=lambda r: reasons.get(r, "—"))
            note = st.text_area(t("lead.notes"), max_chars=2000)
            if st.form_submit_button(t("lead.disqualify")):
                with errors.handled():
                    leads.disqualify_lead(c, me, lid, reason, note or None)
                    _reload(lid)
                    forms.flash(t("lead.disqualified"))
                    st.rerun()
    if leads.allowed(c, me, lid, "delete"):
        records.delete_button("lead", lid, lead["name"], lambda: recycle.delete(c, me, "lead", [lid]), _close)


def _step(delta: int) -> None:
    state["lead_page"] = max(1, int(state.get("lead_page", 1)) + delta)


def list_view() -> None:
    forms.keep(FILTER_KEYS)
    with st.container(border=True):
        f1, f2 = st.columns([3, 4])
        q = f1.text_input(t("customers.search"), placeholder=t("leads.search_hint"), key="lead_q", max_chars=200)
        holder = f2.segmented_control(t("customers.holder"), HOLDERS, key="lead_holder",
                                      format_func=lambda v: t(f"customers.holder_{v}")) or "all"
        f3, f4, f5, f6 = st.columns([3, 3, 2, 2], vertical_alignment="bottom")
        status = f3.multiselect(t("lead.status"), leads.STATUSES, format_func=labels["status"], key="lead_status",
                                placeholder=t("list.choose"))
        source = f4.multiselect(t("lead.source"), list(sources), format_func=labels["source"], key="lead_source",
                                placeholder=t("list.choose"))
        sort = f5.selectbox(t("customers.sort"), leads.SORTS, format_func=lambda v: t(f"leads.sort_{v}"),
                            key="lead_sort")
        state.setdefault("lead_desc", True)
        desc = f6.toggle(t("customers.descending"), key="lead_desc")
        conds = filterbuilder.conditions(c, fields.definitions(c, "lead", me.role), me.role, "lead_conditions", labels)
    current = {"q": q, "status": status, "source": source, "holder": holder, "conditions": conds}
    filterbuilder.saved(c, me, "lead", {"q": "lead_q", "status": "lead_status", "source": "lead_source",
                                         "holder": "lead_holder", "conditions": "lead_conditions"},
                        current, check=lambda f: leads.list_leads(c, me, f, page_size=1))
    page_size = settings.get(c, "lists.page_size")
    signature = (q, tuple(status), tuple(source), holder, repr(conds), sort, desc)
    if state.get("_lead_sig") != signature:
        state["_lead_sig"] = signature
        state["lead_page"] = 1
    picked = None
    with errors.handled():
        df, total, page, pages = tables.current_page(
            "lead_page", page_size,
            lambda i: leads.list_leads(c, me, current, sort=sort, desc=desc, page=i, page_size=page_size))
        st.caption(t("leads.count", n=f"{total:,}", page=f"{page:,}", pages=f"{pages:,}"))
        status_names = {s: labels["status"](s) for s in leads.STATUSES}
        in_pool = t("customers.in_pool")

        def readable(rows: pl.DataFrame) -> pl.DataFrame:  # also run by the export, off the page's run
            return rows.with_columns(
                pl.col("status").replace_strict(status_names, default=pl.col("status")),
                pl.col("source").replace_strict(sources, default=pl.col("source")),
                pl.when(pl.col("in_pool")).then(pl.lit(in_pool)).otherwise(pl.col("owner_name")).alias("owner_name"),
            )

        shown = readable(df)
        columns = {"name": "lead.name", "company": "lead.company", "phone": "lead.phone", "status": "lead.status",
                   "source": "lead.source", "city": "lead.city", "owner_name": "lead.owner", "team_name": "lead.team",
                   "last_activity_at": "lead.last_activity_at", "next_followup_at": "lead.next_followup_at",
                   "created_at": "lead.created_at"}
        picked = tables.select_one(shown, columns, key=f"lead_table_{state.get('lead_nonce', 0)}")
        if total == 0:
            st.info(t("leads.none"))
        n1, n2, n3, _ = st.columns([1, 2, 1, 5], vertical_alignment="bottom")
        n1.button(t("list.previous"), disabled=page <= 1, key="lead_prev", on_click=_step, args=(-1,))
        n2.number_input(t("list.page_of", pages=f"{pages:,}"), min_value=1, max_value=pages, step=1, key="lead_page")
        n3.button(t("list.next"), disabled=page >= pages, key="lead_next", on_click=_step, args=(1,))
        export_ui.buttons(c, me, "leads", lambda cur: readable(export.all_rows(
            leads.list_leads, cur, me, current, sort=sort, desc=desc)[0]), columns, t("page.leads"), total)
    forms.remember(FILTER_KEYS)
    if picked is not None:
        st.query_params["id"] = str(picked)
        st.rerun()


def new_lead() -> None:
    if not access.can(c, me, "leads", "create"):
        return
    new_key = f"lead_new_{state.get('lead_new_nonce', 0)}"
    with st.expander(t("leads.new"), expanded=bool(state.get("_lead_prefill")) or f"{new_key}_refusal" in state):
        try:
            from ui import cardscan
        except ImportError:  # pragma: no cover - the card scanner ships with the customer-management issue
            cardscan = None
        if cardscan is not None:
            scanned = cardscan.card_input("lead_card")
            if scanned and scanned != state.get("_lead_prefill"):
                state["_lead_prefill"] = scanned
                state["lead_new_nonce"] = state.get("lead_new_nonce", 0) + 1
        scanned = state.get("_lead_prefill") or {}
        prefill = {k: v for k, v in scanned.items() if k in leads.FIELDS}
        extras = [t(label_key) + f": {scanned[k]}" for k, label_key in (
            ("address", "customer.address"), ("website", "lead.website"), ("landline", "lead.landline"))
            if scanned.get(k)]
        if extras:  # what the card has and a lead has no field for goes into the notes
            prefill["notes"] = "\n".join(extras)
        defs = fields.definitions(c, "lead", me.role, "edit")
        key = f"lead_new_{state.get('lead_new_nonce', 0)}"
        names = [n for n, f in defs.items() if n != "status"]
        with st.form(key):
            typed = fieldform.inputs(c, defs, {**prefill, "source": prefill.get("source") or (
                "card_scan" if prefill else None)}, key=key, names=names, choice_labels=labels)
            confirm = duplicates.anyway(c, me, key)
            created = st.form_submit_button(t("action.create"), type="primary")
        if created:
            values = fieldform.changes(c, defs, {}, typed)
            if not forms.first_submit("new_lead", values):
                st.info(t("action.already_done"))
                return
            try:
                new_id = leads.create_lead(c, me, values, confirmed=bool(confirm))
            except DuplicateError as exc:
                duplicates.refused(c, me, exc, key)
            except Exception as exc:  # noqa: BLE001
                errors.show(exc)
            else:
                forms.remember_submit("new_lead", values)
                state.pop("_lead_prefill", None)
                state["lead_new_nonce"] = state.get("lead_new_nonce", 0) + 1
                forms.flash(t("leads.created", name=values.get("name", "")))
                st.query_params["id"] = str(new_id)
                st.rerun()


open_id = st.query_params.get("id")
if open_id:
    st.button(t("customers.back_to_list"), icon=":material/arrow_back:", key="lead_back", on_click=_close)
    with st.container(border=True):
        with errors.handled():
            show_lead(open_id)
else:
    new_lead()
    list_view()
