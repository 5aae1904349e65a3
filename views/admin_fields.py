"""Admin: fields and option lists. Per object (lead, customer, contact, deal, ticket): every field with
its kind, tier (required 必填 / common 常用 / extra 显示) and which roles may see and edit it; add
custom fields (text, number, date, single/multi select, yes/no, phone, e-mail) with names in both
languages. Option lists (options.LISTS): sources, disqualify reasons, customer levels (客户级别), lost reasons
of deals (输单原因)."""
import polars as pl
import streamlit as st

from core import access, fields, options
from ui import errors, forms, tables
from ui.fieldform import field_label
from ui.i18n import t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.fields"))
forms.show_flash()
ROLES = access.ROLES

fields_tab, lists_tab = st.tabs([t("fields.tab_fields"), t("fields.tab_lists")])

with fields_tab:
    obj = st.segmented_control(t("fields.object"), ("customer", "lead", "contact", "deal", "ticket"),
                               key="fld_obj",
                               format_func=lambda o: t(f"entity.{o}")) or "customer"
    with errors.handled():
        defs = fields.definitions(c, obj)
        rows = pl.DataFrame({
            "name": list(defs),
            "label": [field_label(f) for f in defs.values()],
            "kind": [t(f"fields.kind_{f.kind}") for f in defs.values()],
            "tier": [t(f"fields.tier_{f.tier}") for f in defs.values()],
            "custom": [f.custom for f in defs.values()],
            "view": [", ".join(t(f"role.{r}") for r in f.view_roles) if f.view_roles else t("fields.all_roles")
                     for f in defs.values()],
            "edit": [", ".join(t(f"role.{r}") for r in f.edit_roles) if f.edit_roles else t("fields.all_roles")
                     for f in defs.values()],
        })
        picked = tables.select_one(rows.with_columns(pl.col("name").alias("id")),
                                   {"label": "fields.label", "name": "fields.name", "kind": "fields.kind",
                                    "tier": "fields.tier", "custom": "fields.custom", "view": "fields.view_roles",
                                    "edit": "fields.edit_roles"}, key=f"fld_table_{obj}")
    if picked is not None:
        f = defs[picked]
        st.subheader(field_label(f))
        with st.form(f"fld_edit_{obj}_{picked}"):
            e1, e2 = st.columns(2)
            en = e1.text_input(t("fields.label_en"), f.labels[0] if f.labels else "", disabled=not f.custom,
                               max_chars=60)
            zh = e2.text_input(t("fields.label_zh"), f.labels[1] if f.labels else "", disabled=not f.custom,
                               max_chars=60)
            tier = st.segmented_control(t("fields.tier"), fields.TIERS, default=f.tier, disabled=f.required and
                                        not f.custom, format_func=lambda x: t(f"fields.tier_{x}"))
            view = st.multiselect(t("fields.view_roles"), ROLES, default=list(f.view_roles or ()),
                                  format_func=lambda r: t(f"role.{r}"), placeholder=t("fields.all_roles"))
            edit = st.multiselect(t("fields.edit_roles"), ROLES, default=list(f.edit_roles or ()),
                                  format_func=lambda r: t(f"role.{r}"), placeholder=t("fields.all_roles"))
            active = st.checkbox(t("fields.active"), True, disabled=not f.custom)
            if st.form_submit_button(t("action.save"), type="primary"):
                with errors.handled():
                    fields.save_field(c, me, obj, picked, label_en=en, label_zh=zh, tier=tier or f.tier,
                                      view_roles=view or None, edit_roles=edit or None, active=active,
                                      options=[list(o) for o in f.option_labels] if f.option_labels else None)
                    forms.flash(t("fields.saved", name=field_label(f)))
                    st.rerun()

    with st.expander(t("fields.new")):
        with st.form(f"fld_new_{obj}", clear_on_submit=False):
            n1, n2, n3 = st.columns(3)
            en = n1.text_input(t("fields.label_en") + " *", max_chars=60)
            zh = n2.text_input(t("fields.label_zh") + " *", max_chars=60)
            kind = n3.selectbox(t("fields.kind"), fields.CUSTOM_KINDS, format_func=lambda k: t(f"fields.kind_{k}"))
            tier = st.segmented_control(t("fields.tier"), fields.TIERS, default="common",
                                        format_func=lambda x: t(f"fields.tier_{x}"))
            opts = st.text_area(t("fields.options"), help=t("fields.options_help"))
            v1, v2 = st.columns(2)
            view = v1.multiselect(t("fields.view_roles"), ROLES, format_func=lambda r: t(f"role.{r}"),
                                  placeholder=t("fields.all_roles"))
            edit = v2.multiselect(t("fields.edit_roles"), ROLES, format_func=lambda r: t(f"role.{r}"),
                                  placeholder=t("fields.all_roles"))
            if st.form_submit_button(t("action.create"), type="primary"):
                parsed = []
                for i, line in enumerate(l for l in opts.splitlines() if l.strip()):
                    names = [p.strip() for p in line.split("/", 1)]
                    parsed.append((f"o{i + 1}", names[0], names[-1]))
                with errors.handled():
                    name = fields.save_field(c, me, obj, None, kind=kind, label_en=en, label_zh=zh,
                                             tier=tier or "common", options=parsed or None,
                                             view_roles=view or None, edit_roles=edit or None)
                    forms.flash(t("fields.created", name=en, code=name))
                    st.rerun()

with lists_tab:
    which = st.segmented_control(t("fields.list"), options.LISTS, key="opt_list",
                                 format_func=lambda x: t(f"fields.list_{x}")) or "source"
    with errors.handled():
        rows = options.options(c, which, include_inactive=True)
        for r in rows:
            a, b, d, e = st.columns([2, 4, 1, 1], vertical_alignment="center")
            a.text(r["code"])
            b.text((f"{r['parent']} › " if r["parent"] else "") + f"{r['name_en']} / {r['name_zh']}"
                   + ("" if r["active"] else f" ({t('fields.inactive')})"))
            if d.button("↑", key=f"opt_up_{which}_{r['code']}"):
                with errors.handled():
                    options.move_option(c, me, which, r["code"], -1)
                    st.rerun()
            if e.button("↓", key=f"opt_down_{which}_{r['code']}"):
                with errors.handled():
                    options.move_option(c, me, which, r["code"], 1)
                    st.rerun()
    with st.form(f"opt_save_{which}"):
        st.caption(t("fields.option_help"))
        o1, o2, o3, o4 = st.columns([2, 3, 3, 1], vertical_alignment="bottom")
        code = o1.text_input(t("fields.code"), max_chars=40)
        en = o2.text_input(t("options.name_en"), max_chars=60)
        zh = o3.text_input(t("options.name_zh"), max_chars=60)
        active = o4.checkbox(t("fields.active"), True, disabled=which == "level")
        parent = None
        if which in options.PARENT_LIST:
            parents = {o["code"]: f"{o['name_en']} / {o['name_zh']}"
                       for o in options.options(c, options.PARENT_LIST[which], include_inactive=True)}
            parent = st.selectbox(t("options.parent"), list(parents), format_func=lambda x: parents.get(x, x))
        if st.form_submit_button(t("action.save"), type="primary"):
            with errors.handled():
                options.save_option(c, me, which, code, en, zh, active, parent=parent)
                forms.flash(t("fields.option_saved", code=code.strip()))
                st.rerun()
