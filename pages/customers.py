"""Customers: filter, sort and page through the customers the user may see; open, edit, add, delete."""
import polars as pl
import streamlit as st

from core import access, customers, recycle, settings
from ui import errors, forms, tables
from ui.cache import province_options
from ui.i18n import names, t
from ui.text import md
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.customers"))

stage_rows, level_rows = customers.stages(c), customers.levels(c)
stage_names, level_names = names(stage_rows), names(level_rows)

# ---------------------------------------------------------------- filters and sort
with st.container(border=True):
    f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
    q = f1.text_input(t("customers.search"), placeholder=t("customers.search_hint"), key="cust_q")
    stage = f2.multiselect(t("customer.stage"), list(stage_names), format_func=stage_names.get, key="cust_stage",
                           placeholder=t("list.choose"))
    level = f3.multiselect(t("customer.level"), list(level_names), format_func=level_names.get, key="cust_level",
                           placeholder=t("list.choose"))
    holder = f4.selectbox(t("customers.holder"), ["all", "owned", "pool"],
                          format_func=lambda v: t(f"customers.holder_{v}"), key="cust_holder")
    s1, s2, s3 = st.columns([3, 2, 2])
    provinces = province_options(c, me)
    province = s1.multiselect(t("customer.province"), provinces, key="cust_province", placeholder=t("list.choose"))
    sort = s2.selectbox(t("customers.sort"), customers.SORTS, format_func=lambda v: t(f"customers.sort_{v}"),
                        key="cust_sort")
    desc = s3.toggle(t("customers.descending"), value=True, key="cust_desc")

filters = {"q": q, "stage": stage, "level": level, "province": province,
           "in_pool": {"all": None, "owned": False, "pool": True}[holder]}
page_size = settings.get(c, "lists.page_size")
signature = (q, tuple(stage), tuple(level), tuple(province), holder, sort, desc)
if st.session_state.get("_cust_sig") != signature:  # a new filter starts at the first page
    st.session_state["_cust_sig"] = signature
    st.session_state["cust_page"] = 1

with errors.handled():
    page = int(st.session_state.get("cust_page", 1))
    df, total = customers.list_customers(c, me, filters, sort=sort, desc=desc, page=page - 1, page_size=page_size)
    pages = max(1, -(-total // page_size))
    st.caption(t("customers.count", n=f"{total:,}", page=page, pages=f"{pages:,}"))
    shown = df.with_columns(
        pl.col("stage").replace_strict(stage_names, default=pl.col("stage")),
        pl.col("level").replace_strict(level_names, default=pl.col("level")),
        pl.when(pl.col("in_pool")).then(pl.lit(t("customers.in_pool"))).otherwise(pl.col("owner_name")).alias("owner_name"),
    )
    picked = tables.show(
        shown,
        {"name": "customer.name", "phone": "customer.phone", "stage": "customer.stage", "level": "customer.level",
         "province": "customer.province", "city": "customer.city", "owner_name": "customer.owner",
         "team_name": "customer.team", "last_activity_at": "customer.last_activity_at",
         "next_followup_at": "customer.next_followup_at", "updated_at": "customer.updated_at"},
        key="cust_table", selectable=True, height=420,
    )
    n1, n2, _ = st.columns([1, 1, 6])
    if n1.button(t("list.previous"), disabled=page <= 1, key="cust_prev"):
        st.session_state["cust_page"] = page - 1
        st.rerun()
    if n2.button(t("list.next"), disabled=page >= pages, key="cust_next"):
        st.session_state["cust_page"] = page + 1
        st.rerun()

    # ------------------------------------------------------------ one customer
    if picked:
        row = df.row(picked[0], named=True)
        detail = customers.get_customer(c, me, row["id"])
        st.subheader(md(detail["name"]))
        can_edit = access.can(c, me, "customers", "edit")
        with st.form(f"edit_{detail['id']}"):
            e1, e2, e3 = st.columns(3)
            name = e1.text_input(t("customer.name"), detail["name"], disabled=not can_edit)
            phone = e2.text_input(t("customer.phone"), detail["phone"] or "", disabled=not can_edit)
            email = e3.text_input(t("customer.email"), detail["email"] or "", disabled=not can_edit)
            e4, e5, e6 = st.columns(3)
            stage_new = e4.selectbox(t("customer.stage"), list(stage_names), format_func=stage_names.get,
                                     index=list(stage_names).index(detail["stage"]), disabled=not can_edit)
            level_opts = [None] + list(level_names)
            level_new = e5.selectbox(t("customer.level"), level_opts, format_func=lambda v: level_names.get(v, "—"),
                                     index=level_opts.index(detail["level"]) if detail["level"] in level_opts else 0,
                                     disabled=not can_edit)
            industry = e6.text_input(t("customer.industry"), detail["industry"] or "", disabled=not can_edit)
            e7, e8, e9 = st.columns(3)
            province_new = e7.text_input(t("customer.province"), detail["province"] or "", disabled=not can_edit)
            city = e8.text_input(t("customer.city"), detail["city"] or "", disabled=not can_edit)
            followup = e9.date_input(t("customer.next_followup_at"),
                                     detail["next_followup_at"].date() if detail["next_followup_at"] else None,
                                     disabled=not can_edit)
            st.caption(t("customer.owned_by", owner=detail["owner_name"] or t("customers.in_pool"),
                         team=detail["team_name"] or "—"))
            if st.form_submit_button(t("action.save"), type="primary", disabled=not can_edit):
                with errors.handled():
                    changed = customers.update_customer(c, me, detail["id"], {
                        "name": name, "phone": phone, "email": email, "stage": stage_new, "level": level_new,
                        "industry": industry, "province": province_new, "city": city, "next_followup_at": followup,
                    })
                    st.success(t("action.saved", n=len(changed)))
        if access.can(c, me, "customers", "delete"):
            if st.button(t("action.delete"), key=f"del_{detail['id']}"):
                with errors.handled():
                    recycle.delete(c, me, "customer", [detail["id"]])
                    st.success(t("action.deleted_to_bin"))
                    st.rerun()

# ---------------------------------------------------------------- new customer
if access.can(c, me, "customers", "create"):
    with st.expander(t("customers.new")):
        with st.form("new_customer", clear_on_submit=False):
            a1, a2, a3 = st.columns(3)
            name = a1.text_input(t("customer.name") + " *")
            phone = a2.text_input(t("customer.phone"))
            email = a3.text_input(t("customer.email"))
            a4, a5, a6 = st.columns(3)
            kind = a4.selectbox(t("customer.kind"), customers.KINDS, format_func=lambda v: t(f"customer.kind_{v}"))
            province_new = a5.text_input(t("customer.province"))
            city = a6.text_input(t("customer.city"))
            if st.form_submit_button(t("action.create"), type="primary"):
                values = {"name": name, "phone": phone, "email": email, "kind": kind,
                          "province": province_new, "city": city}
                if not forms.first_submit("new_customer", values):
                    st.info(t("action.already_done"))
                else:
                    with errors.handled():
                        new_id = customers.create_customer(c, me, values)
                        forms.remember_submit("new_customer", values)
                        st.success(t("customers.created", id=new_id))
