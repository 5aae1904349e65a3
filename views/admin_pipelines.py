"""Admin: pipelines (商机组) and their stages, the product catalogue (产品目录).

Pipelines and stages: pick a pipeline (↑ ↓ set the order of the pipelines); its stages in board order
with names in both languages, default probability, kind (open / won / lost), active and how many deals
sit in each. Pick a stage to edit it, move it up or down, or remove it: a stage holding deals offers to
move them to another open stage of the same pipeline first (core.pipelines.remove_stage). Add a stage,
rename or (de)activate the pipeline, add a pipeline (it starts with New, Won and Lost).
Products: the catalogue (sku, names in both languages, category, list price, active); add and edit,
never delete (an old product is deactivated)."""
import hashlib

import polars as pl
import streamlit as st

from core import pipelines
from ui import errors, forms, tables
from ui.i18n import label, t
from ui.session import actor, con

me, c = actor(), con()
ARROWS = ((-1, "↑", "pipelines.move_up"), (1, "↓", "pipelines.move_down"))
st.title(t("page.pipelines"))
forms.show_flash()


def kind_of(stage: dict) -> str:
    return "won" if stage["is_won"] else "lost" if stage["is_lost"] else "open"


def version(row: dict) -> str:
    return hashlib.sha1(repr(sorted(row.items())).encode()).hexdigest()[:8]


def product_name(row: dict) -> str:
    return f"{row['code'] or ''} · {label({'name_en': row['name'], 'name_zh': row['name_zh']})}"


def saved(text: str) -> None:
    forms.flash(text)
    st.rerun()


stages_tab, products_tab = st.tabs([t("pipelines.tab_stages"), t("pipelines.tab_products")])

with stages_tab:
    every = pipelines.pipelines(c, include_inactive=True)
    names = {p["id"]: label(p) + ("" if p["active"] else f" ({t('pipelines.inactive')})") for p in every}
    if st.session_state.get("_pl_pick_next") in names:  # a pipeline just created: show it
        st.session_state["pl_pick"] = st.session_state.pop("_pl_pick_next")
    p1, p2, p3 = st.columns([14, 1, 1], vertical_alignment="bottom", gap="small")
    pid = p1.selectbox(t("pipelines.pipeline"), list(names), format_func=names.get, key="pl_pick")
    for col, (step, arrow, tip) in zip((p2, p3), ARROWS):
        if pid is not None and col.button(arrow, key=f"pl_move_{step}", help=t(tip)):
            with errors.handled():
                pipelines.move_pipeline(c, me, pid, step)
                st.rerun()

    if pid is not None:
        show_removed = st.toggle(t("pipelines.show_removed"), key="pl_removed")
        rows, counts = [], {}
        with errors.handled():
            rows = pipelines.stages(c, pid, include_inactive=show_removed)
            counts = pipelines.stage_deal_counts(c, me, pid)
        by_code = {s["code"]: s for s in rows}
        table = pl.DataFrame({
            "name_en": [s["name_en"] for s in rows],
            "name_zh": [s["name_zh"] for s in rows],
            "probability": [s["probability"] for s in rows],
            "kind": [t(f"pipelines.kind_{kind_of(s)}") for s in rows],
            "deals": [counts.get(s["code"], 0) for s in rows],
            "active": [bool(s["active"]) for s in rows],
        }, schema={"name_en": pl.String, "name_zh": pl.String, "probability": pl.Int64, "kind": pl.String,
                   "deals": pl.Int64, "active": pl.Boolean})
        tables.show(table, {"name_en": "pipelines.name_en", "name_zh": "pipelines.name_zh",
                            "probability": "pipelines.probability", "kind": "pipelines.kind",
                            "deals": "pipelines.deals", "active": "pipelines.active"}, key=f"pl_stages_{pid}")

        left, right = st.columns(2)
        with left:
            st.subheader(t("pipelines.edit_stage"))
            code = st.selectbox(t("pipelines.stage"), list(by_code), key=f"pl_stage_{pid}",
                                format_func=lambda x: label(by_code[x]))
            if code is not None:
                s = by_code[code]
                v = f"{code}_{version(s)}"  # the form shows the stored values again after a save
                with st.form(f"pl_stage_form_{code}"):
                    e1, e2 = st.columns(2)
                    en = e1.text_input(t("pipelines.name_en") + " *", s["name_en"], max_chars=60,
                                       key=f"pl_st_en_{v}")
                    zh = e2.text_input(t("pipelines.name_zh") + " *", s["name_zh"], max_chars=60,
                                       key=f"pl_st_zh_{v}")
                    e3, e4 = st.columns(2)
                    prob = e3.number_input(t("pipelines.probability") + " *", value=int(s["probability"]), step=5,
                                           key=f"pl_st_prob_{v}")
                    kind = e4.selectbox(t("pipelines.kind"), pipelines.KINDS, index=pipelines.KINDS.index(kind_of(s)),
                                        format_func=lambda k: t(f"pipelines.kind_{k}"), key=f"pl_st_kind_{v}")
                    active = st.checkbox(t("pipelines.active"), bool(s["active"]), key=f"pl_st_active_{v}")
                    st.caption(t("pipelines.kind_help"))
                    if st.form_submit_button(t("action.save"), type="primary", key=f"pl_st_save_{code}"):
                        with errors.handled():
                            pipelines.save_stage(c, me, {"name_en": en, "name_zh": zh, "probability": prob,
                                                         "kind": kind, "active": active}, code=code)
                            saved(t("pipelines.stage_saved", name=en.strip()))
                if s["active"]:
                    m1, m2, _ = st.columns([1, 1, 6], gap="small")
                    for col, (step, arrow, tip) in zip((m1, m2), ARROWS):
                        if col.button(arrow, key=f"pl_stage_move_{step}", help=t(tip)):
                            with errors.handled():
                                pipelines.move_stage_position(c, me, code, step)
                                st.rerun()
                    if s["is_won"] or s["is_lost"]:
                        st.caption(t("pipelines.closing_stays"))
                    else:
                        n = counts.get(code, 0)
                        targets = [x for x in pipelines.stages(c, pid) if x["code"] != code
                                   and not x["is_won"] and not x["is_lost"]]
                        move_to = None
                        if n:
                            move_to = st.selectbox(t("pipelines.move_deals_to", n=n), [x["code"] for x in targets],
                                                   format_func=lambda x: label(by_code[x]),
                                                   key=f"pl_move_to_{code}")
                        if st.button(t("pipelines.remove_stage"), key=f"pl_remove_{code}"):
                            with errors.handled():
                                done = pipelines.remove_stage(c, me, code, move_to=move_to)
                                saved(t("pipelines.stage_removed", name=label(s), n=done["moved"]) if done["moved"]
                                      else t("pipelines.stage_removed_empty", name=label(s)))

        with right:
            st.subheader(t("pipelines.new_stage"))
            nv = f"{pid}_{st.session_state.get('_pl_new', 0)}"
            with st.form(f"pl_new_stage_{pid}", clear_on_submit=False):
                n1, n2 = st.columns(2)
                en = n1.text_input(t("pipelines.name_en") + " *", max_chars=60, key=f"pl_new_en_{nv}")
                zh = n2.text_input(t("pipelines.name_zh") + " *", max_chars=60, key=f"pl_new_zh_{nv}")
                prob = st.number_input(t("pipelines.probability") + " *", value=50, step=5, key=f"pl_new_prob_{nv}")
                st.caption(t("pipelines.new_stage_help"))
                if st.form_submit_button(t("action.create"), type="primary", key=f"pl_new_go_{pid}"):
                    with errors.handled():
                        pipelines.save_stage(c, me, {"name_en": en, "name_zh": zh, "probability": prob},
                                             pipeline_id=pid)
                        st.session_state["_pl_new"] = st.session_state.get("_pl_new", 0) + 1  # an empty form next
                        saved(t("pipelines.stage_created", name=en.strip()))

        this = next(p for p in every if p["id"] == pid)
        with st.expander(t("pipelines.edit_pipeline", name=label(this))):
            with st.form(f"pl_edit_{pid}"):
                q1, q2 = st.columns(2)
                en = q1.text_input(t("pipelines.name_en") + " *", this["name_en"], max_chars=60)
                zh = q2.text_input(t("pipelines.name_zh") + " *", this["name_zh"], max_chars=60)
                active = st.checkbox(t("pipelines.active"), bool(this["active"]))
                if st.form_submit_button(t("action.save"), type="primary", key=f"pl_edit_go_{pid}"):
                    with errors.handled():
                        pipelines.save_pipeline(c, me, {"name_en": en, "name_zh": zh, "active": active}, pid)
                        saved(t("pipelines.pipeline_saved", name=en.strip()))

    with st.expander(t("pipelines.new_pipeline")):
        with st.form("pl_new_pipeline"):
            r1, r2 = st.columns(2)
            en = r1.text_input(t("pipelines.name_en") + " *", max_chars=60, key="pl_newp_en")
            zh = r2.text_input(t("pipelines.name_zh") + " *", max_chars=60, key="pl_newp_zh")
            st.caption(t("pipelines.new_pipeline_help"))
            if st.form_submit_button(t("action.create"), type="primary", key="pl_newp_go"):
                with errors.handled():
                    new_id = pipelines.save_pipeline(c, me, {"name_en": en, "name_zh": zh})
                    st.session_state["_pl_pick_next"] = new_id
                    saved(t("pipelines.pipeline_created", name=en.strip()))

with products_tab:
    show_inactive = st.toggle(t("products.show_inactive"), key="pr_inactive")
    items = pipelines.products(c, include_inactive=show_inactive)
    catalogue = pl.DataFrame(items, schema={"id": pl.Int64, "code": pl.String, "name": pl.String,
                                            "name_zh": pl.String, "series": pl.String, "list_price": pl.Float64,
                                            "active": pl.Boolean})
    if catalogue.height:
        tables.show(catalogue, {"code": "products.sku", "name": "products.name_en", "name_zh": "products.name_zh",
                                "series": "products.category", "list_price": "products.list_price",
                                "active": "products.active"}, key="pr_table")
    else:
        st.caption(t("products.none"))
    by_id = {r["id"]: r for r in items}
    pick = st.selectbox(t("products.edit"), [None, *by_id], key="pr_pick",
                        format_func=lambda i: t("products.new") if i is None else product_name(by_id[i]))
    row = by_id.get(pick) or {}
    pv = f"{pick}_{version(row)}" if row else f"new_{st.session_state.get('_pr_new', 0)}"
    with st.form(f"pr_form_{pick or 'new'}"):
        f1, f2 = st.columns([1, 2])
        sku = f1.text_input(t("products.sku") + " *", row.get("code") or "", max_chars=40, key=f"pr_sku_{pv}")
        series = f2.text_input(t("products.category"), row.get("series") or "", max_chars=60, key=f"pr_series_{pv}")
        f3, f4 = st.columns(2)
        name = f3.text_input(t("products.name_en") + " *", row.get("name") or "", max_chars=200, key=f"pr_en_{pv}")
        name_zh = f4.text_input(t("products.name_zh") + " *", row.get("name_zh") or "", max_chars=200,
                               key=f"pr_zh_{pv}")
        f5, f6 = st.columns(2, vertical_alignment="bottom")
        price = f5.number_input(t("products.list_price") + " *", value=float(row.get("list_price") or 0.0),
                                step=100.0, format="%.2f", key=f"pr_price_{pv}")
        active = f6.checkbox(t("products.active"), bool(row.get("active", True)), key=f"pr_active_{pv}")
        if st.form_submit_button(t("action.save") if pick else t("action.create"), type="primary", key="pr_save"):
            with errors.handled():
                values = {"code": sku, "name": name, "name_zh": name_zh, "series": series, "list_price": price,
                          "active": active}
                pipelines.save_product(c, me, values, pick)
                if pick is None:  # an empty form for the next one
                    st.session_state["_pr_new"] = st.session_state.get("_pr_new", 0) + 1
                saved(t("products.saved", sku=sku.strip()))
