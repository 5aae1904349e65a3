"""Customers: filter, sort and page through the customers the user may see; open one by its id (a link
`?id=…` opens it too), edit what may be edited, see the rest read-only, add, delete to the bin."""
import polars as pl
import streamlit as st

from core import access, activities, contacts, customers, fields, handover, options, recycle, settings
from core.analytics import kpis
from core.errors import DuplicateError
from core import export
from ui import customer_panels, duplicates, errors, fieldform, forms, records, tables
from ui import export as export_ui
from ui.cache import province_options
from ui.i18n import label, names, t
from ui.session import actor, con
from ui.text import md

me, c = actor(), con()
st.title(t("page.customers"))
forms.show_flash()

stage_names, level_names = names(customers.stages(c)), names(customers.levels(c))
sources = {o["code"]: label(o) for o in options.options(c, "source", include_inactive=True)}
labels = {"stage": stage_names.get, "level": level_names.get, "kind": lambda v: t(f"customer.kind_{v}"),
          "gender": lambda v: t(f"customer.gender_{v}"), "source": lambda v: sources.get(v, v)}
holds = me.role in ("admin", "manager", "sales")
HOLDERS = ("all", "mine", "owned", "pool") if holds else ("all", "owned", "pool")
DUES = ("any", "today", "overdue")
state = st.session_state
FILTER_KEYS = ("cust_q", "cust_holder", "cust_stage", "cust_level", "cust_province", "cust_due", "cust_sort",
               "cust_desc", "cust_page")


# ---------------------------------------------------------------- one customer
def _close() -> None:
    st.query_params.pop("id", None)
    state["cust_nonce"] = state.get("cust_nonce", 0) + 1  # drops the table's selection too


def _reload(cid: int) -> None:
    records.reload("cust", cid)


def show_customer(cid) -> None:
    detail = customers.get_customer(c, me, cid)
    cid = detail["id"]
    st.subheader(md(detail["name"]))
    st.caption(t("customer.owned_by", owner=detail["owner_name"] or t("customers.in_pool"),
                 team=detail["team_name"] or "—"))
    defs = fields.definitions(c, "customer", me.role)
    if not customers.allowed(c, me, cid, "edit"):
        st.caption(t("customer.read_only"))
        fieldform.view(c, defs, detail, choice_labels=labels)
        return
    records.edit_form(c, me, "cust", detail, fields.definitions(c, "customer", me.role, "edit"),
                      lambda changes, **kw: customers.update_customer(c, me, cid, changes, **kw), labels)
    if customers.allowed(c, me, cid, "delete"):
        records.delete_button("cust", cid, detail["name"], lambda: recycle.delete(c, me, "customer", [cid]), _close)


bulk_allowed = access.can(c, me, "customers", "edit") or access.can(c, me, "customers", "assign")


def _bulk_done(result: dict, key: str) -> None:
    forms.flash(t(key, n=result["done"]) + (" " + t("bulk.skipped", n=result["skipped"]) if result["skipped"] else ""))
    state["cust_nonce"] = state.get("cust_nonce", 0) + 1  # new rows: the ticks are dropped
    st.rerun()


def bulk_panel(ticked: list) -> None:
    """What can be done to the ticked customers; core checks every record."""
    if not ticked:
        st.caption(t("bulk.tick_rows"))
        return
    st.markdown(t("bulk.selected", n=len(ticked)))
    a, b = st.columns(2)
    if access.can(c, me, "customers", "edit"):
        with a.form("bulk_stage", border=True):
            stage = st.selectbox(t("customer.stage"), [None, *stage_names], format_func=lambda v: stage_names.get(v, "—"))
            level = st.selectbox(t("customer.level"), [None, *level_names], format_func=lambda v: level_names.get(v, "—"))
            if st.form_submit_button(t("bulk.apply")):
                with errors.handled():
                    changes = {k: v for k, v in (("stage", stage), ("level", level)) if v}
                    _bulk_done(customers.bulk_update(c, me, ticked, changes), "bulk.updated")
    if access.can(c, me, "tasks", "create"):
        with b.form("bulk_task", border=True):
            title = st.text_input(t("bulk.task_title"), max_chars=200)
            due = st.date_input(t("bulk.task_due"), value=None)
            if st.form_submit_button(t("bulk.add_task")):
                with errors.handled():
                    _bulk_done(customers.bulk_task(c, me, ticked, title, due), "bulk.tasks_added")
    if access.can(c, me, "customers", "assign"):
        r1, r2 = st.columns(2)
        if r1.button(t("bulk.release"), key="bulk_release"):
            with errors.handled():
                _bulk_done(customers.bulk_release(c, me, ticked), "bulk.released")
        if access.scope_of(c, me, "customers", "assign") != "own":
            with r2.form("bulk_reassign", border=True):
                people = {u["id"]: f"{u['name']} ({u['team'] or '—'})" for u in handover.receivers(c, me)}
                to = st.selectbox(t("bulk.reassign_to"), [None, *people], format_func=lambda v: people.get(v, "—"))
                if st.form_submit_button(t("bulk.reassign")):
                    with errors.handled():
                        _bulk_done(customers.bulk_reassign(c, me, ticked, to), "bulk.reassigned")


def _step(delta: int) -> None:
    state["cust_page"] = max(1, int(state.get("cust_page", 1)) + delta)


def list_view() -> None:
    """The filtered, sorted, paged list; picking a row opens that customer's page."""
    forms.keep(FILTER_KEYS)
    # a followed link (?holder=…&due=…&q=…) sets the filters
    link = {k: st.query_params.get(k) for k in ("holder", "due", "q")}
    if state.get("_cust_link") != link:
        state["_cust_link"] = link
        state["cust_holder"] = link["holder"] if link["holder"] in HOLDERS else "all"
        state["cust_due"] = link["due"] if link["due"] in DUES else "any"
        state["cust_q"] = (link["q"] or "")[:200]

    with st.container(border=True):
        f1, f2 = st.columns([3, 4])
        q = f1.text_input(t("customers.search"), placeholder=t("customers.search_hint"), key="cust_q", max_chars=200)
        holder = f2.segmented_control(t("customers.holder"), HOLDERS, format_func=lambda v: t(f"customers.holder_{v}"),
                                      key="cust_holder") or "all"
        f3, f4, f5, f6 = st.columns(4)
        stage = f3.multiselect(t("customer.stage"), list(stage_names), format_func=stage_names.get, key="cust_stage",
                               placeholder=t("list.choose"))
        level = f4.multiselect(t("customer.level"), list(level_names), format_func=level_names.get, key="cust_level",
                               placeholder=t("list.choose"))
        province = f5.multiselect(t("customer.province"), province_options(c, me), key="cust_province",
                                  placeholder=t("list.choose"))
        due = f6.selectbox(t("customers.due"), DUES, format_func=lambda v: t(f"customers.due_{v}"), key="cust_due")
        s1, s2, _ = st.columns([2, 2, 3], vertical_alignment="bottom")
        sort = s1.selectbox(t("customers.sort"), customers.SORTS, format_func=lambda v: t(f"customers.sort_{v}"),
                            key="cust_sort")
        state.setdefault("cust_desc", True)
        desc = s2.toggle(t("customers.descending"), key="cust_desc")

    filters = {"q": q, "stage": stage, "level": level, "province": province, "holder": holder}
    if due != "any":  # the same window as the My day cards, so the list and the number agree
        low, filters["followup_due_by"] = kpis.followup_window(c, me, due)
        if low is not None:
            filters["followup_from"] = low
    page_size = settings.get(c, "lists.page_size")
    signature = (q, tuple(stage), tuple(level), tuple(province), holder, due, sort, desc)
    if state.get("_cust_sig") != signature:  # a new filter starts at the first page
        state["_cust_sig"] = signature
        state["cust_page"] = 1

    picked = None
    with errors.handled():
        df, total, page, pages = tables.current_page(
            "cust_page", page_size,
            lambda i: customers.list_customers(c, me, filters, sort=sort, desc=desc, page=i, page_size=page_size))
        st.caption(t("customers.count", n=f"{total:,}", page=f"{page:,}", pages=f"{pages:,}"))
        in_pool = t("customers.in_pool")

        def readable(cur, rows: pl.DataFrame) -> pl.DataFrame:  # also run by the export, on its own cursor
            return rows.with_columns(
                pl.col("stage").replace_strict(stage_names, default=pl.col("stage")),
                pl.col("level").replace_strict(level_names, default=pl.col("level")),
                pl.when(pl.col("in_pool")).then(pl.lit(in_pool)).otherwise(pl.col("owner_name")).alias("owner_name"),
                ((pl.col("next_followup_at") < activities.overdue_cutoff(cur, me)) & pl.col("owner_id").is_not_null())
                .fill_null(False).alias("overdue"),
            )

        shown = readable(c, df)
        columns = {"name": "customer.name", "phone": "customer.phone", "stage": "customer.stage",
                   "level": "customer.level", "province": "customer.province", "city": "customer.city",
                   "owner_name": "customer.owner", "team_name": "customer.team",
                   "last_activity_at": "customer.last_activity_at", "next_followup_at": "customer.next_followup_at",
                   "overdue": "followup.overdue", "updated_at": "customer.updated_at"}
        if bulk_allowed and st.toggle(t("bulk.select_several"), key="cust_multi"):
            ticked = tables.select_many(shown, columns, key=f"cust_ticks_{state.get('cust_nonce', 0)}")
            bulk_panel(ticked)
        else:
            picked = tables.select_one(shown, columns, key=f"cust_table_{state.get('cust_nonce', 0)}")
        if total == 0:
            st.info(t("customers.none"))
        n1, n2, n3, _ = st.columns([1, 2, 1, 5], vertical_alignment="bottom")
        n1.button(t("list.previous"), disabled=page <= 1, key="cust_prev", on_click=_step, args=(-1,))
        n2.number_input(t("list.page_of", pages=f"{pages:,}"), min_value=1, max_value=pages, step=1, key="cust_page")
        n3.button(t("list.next"), disabled=page >= pages, key="cust_next", on_click=_step, args=(1,))
        export_ui.buttons(c, me, "customers", lambda cur: readable(cur, export.all_rows(
            customers.list_customers, cur, me, filters, sort=sort, desc=desc)[0]), columns, t("page.customers"), total)
    forms.remember(FILTER_KEYS)
    if picked is not None:  # the picked record opens on its own page (a link: ?id=…)
        st.query_params["id"] = str(picked)
        st.rerun()


def new_customer() -> None:
    # ---------------------------------------------------------------- new customer
    if access.can(c, me, "customers", "create"):
        new_key = f"new_customer_{state.get('cust_new_nonce', 0)}"
        with st.expander(t("customers.new"), expanded=f"{new_key}_refusal" in state):
            with st.form(new_key):
                new_defs = fields.definitions(c, "customer", me.role, "edit")
                main = [n for n, f in new_defs.items() if n != "stage"]
                typed = fieldform.inputs(c, new_defs, {"kind": "company"}, key=new_key, names=main,
                                         choice_labels=labels)
                confirmed = duplicates.anyway(c, me, new_key)
                created = st.form_submit_button(t("action.create"), type="primary")
            if created:
                values = fieldform.changes(c, new_defs, {}, typed)
                if not forms.first_submit("new_customer", values):
                    st.info(t("action.already_done"))
                else:
                    try:
                        new_id = customers.create_customer(c, me, values, confirmed=confirmed)
                    except DuplicateError as exc:
                        duplicates.refused(c, me, exc, new_key)
                    except Exception as exc:  # noqa: BLE001 - shown in the user's language
                        errors.show(exc)
                    else:
                        forms.remember_submit("new_customer", values)
                        state["cust_new_nonce"] = state.get("cust_new_nonce", 0) + 1
                        forms.flash(t("customers.created", name=values.get("name", "")))
                        st.query_params["id"] = str(new_id)
                        st.rerun()


if st.query_params.get("contact") and not st.query_params.get("id"):  # a contact's own link opens it on its
    with errors.handled():                                                # customer's page
        st.query_params["id"] = str(contacts.get_contact(c, me, st.query_params["contact"])["customer_id"])
open_id = st.query_params.get("id")
if open_id:
    st.button(t("customers.back_to_list"), icon=":material/arrow_back:", key="cust_back", on_click=_close)
    with st.container(border=True):
        with errors.handled():
            show_customer(open_id)
    customer_panels.record_panels(c, me, open_id, on_saved=_reload)
else:
    list_view()
    new_customer()
