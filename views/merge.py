"""Merge customers (合并): pick the two records (a link `?a=…&b=…` from the duplicate check or a customer
page opens them, or search), choose which survives and, field by field, whose value it keeps, see what
moves, merge; then open the survivor. Recent merges can be undone from here or from the audit log."""
import hashlib

import polars as pl
import streamlit as st

from core import clock, customers, fields, merge
from core.errors import Conflict
from core.i18n import translate
from ui import errors, forms, tables
from ui.i18n import lang, names, t
from ui.session import actor, con
from ui.text import md

me, c = actor(), con()
st.title(t("page.merge"))
forms.show_flash()
st.caption(t("merge.intro"))
state = st.session_state
nonce = state.get("merge_nonce", 0)

stage_names, level_names = names(customers.stages(c)), names(customers.levels(c))
CHOICE_LABELS = {"stage": stage_names.get, "level": level_names.get, "kind": lambda v: t(f"customer.kind_{v}"),
                 "gender": lambda v: t(f"customer.gender_{v}")}


def label_of(f: fields.Field) -> str:
    return fields.label_of(f, lang(), translate)


def shown(f: fields.Field, value) -> str:
    """A field's value as the user reads it (names for codes, local time, nothing as '(empty)')."""
    if value is None or value == "" or value == []:
        return t("merge.empty")
    if f.kind == "datetime":
        return clock.fmt(c, value)
    if f.kind == "choice" and f.name in CHOICE_LABELS:
        return CHOICE_LABELS[f.name](value) or str(value)
    if f.option_labels:
        byname = {code: (zh if lang() == "zh" and zh else en) for code, en, zh in f.option_labels}
        items = value if isinstance(value, (list, tuple)) else [value]
        return ", ".join(byname.get(v, str(v)) for v in items)
    if f.kind == "number":
        return f"{float(value):,.2f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def record_label(r: dict) -> str:
    holder = r.get("owner_name") or t("customers.in_pool")
    return " · ".join(str(x) for x in (r["name"], r.get("phone") or "", holder, f"#{r['id']}") if x)


def picker(col, slot: str, preset) -> int | None:
    """Search and pick one customer; a linked id comes first."""
    with col:
        q = st.text_input(t("merge.search"), key=f"merge_q_{slot}_{nonce}", max_chars=200)
        options: dict[int, str] = {}
        if preset and not q:
            try:
                found = customers.get_customer(c, me, preset)
                options[found["id"]] = record_label(found)
            except Exception as exc:  # noqa: BLE001 - shown in the user's language
                errors.show(exc)
        with errors.handled():
            df, _total = customers.list_customers(c, me, {"q": q} if q else None, page_size=20)
            for r in df.to_dicts():
                options.setdefault(r["id"], record_label(r))
        if not options:
            st.info(t("merge.no_match"))
            return None
        ids = list(options)
        digest = hashlib.sha1(repr(ids).encode()).hexdigest()[:10]
        linked = preset and not q and ids and str(ids[0]) == str(preset).strip()
        return st.selectbox(t("merge.pick"), ids, format_func=options.get, index=0 if linked else None,
                            placeholder=translate(lang(), "merge.choose_customer"),
                            key=f"merge_pick_{slot}_{nonce}_{digest}")


def _reload(key: str) -> None:
    state.pop(key, None)


def _done(survivor: dict, loser: dict, moved: int) -> None:
    forms.flash(t("merge.done", loser=loser["name"], survivor=survivor["name"], n=moved))
    state["merge_last"] = (survivor["id"], survivor["name"])
    state["merge_nonce"] = nonce + 1
    for k in ("a", "b"):
        st.query_params.pop(k, None)


last = state.get("merge_last")
if last:
    st.page_link("views/customers.py", label=t("merge.open_survivor", name=last[1]), query_params={"id": str(last[0])},
                 icon=":material/arrow_forward:")

col_a, col_b = st.columns(2)
col_a.subheader(t("merge.first"))
col_b.subheader(t("merge.second"))
a = picker(col_a, "a", st.query_params.get("a"))
b = picker(col_b, "b", st.query_params.get("b"))

if a is None or b is None or a == b:
    st.info(t("merge.pick_both"))
else:
    with errors.handled():
        pair = {a: customers.get_customer(c, me, a), b: customers.get_customer(c, me, b)}
        survivor_id = st.radio(t("merge.survivor"), [a, b], key=f"merge_survivor_{a}_{b}_{nonce}", horizontal=True,
                               format_func=lambda i: f"{md(pair[i]['name'])} (#{i})")
        loser_id = b if survivor_id == a else a
        seen_key = f"_merge_seen_{survivor_id}_{loser_id}"
        fresh = merge.preview(c, me, survivor_id, loser_id)
        seen = state.setdefault(seen_key, fresh)  # the version shown: kept until the merge or a reload
        if any(seen[k]["updated_at"] != fresh[k]["updated_at"] for k in ("survivor", "loser")):
            st.warning(t("merge.changed_reload"))
            st.button(t("action.reload"), key=f"merge_reload_{seen_key}", on_click=_reload, args=(seen_key,))
        survivor, loser = seen["survivor"], seen["loser"]

        st.subheader(t("merge.values"))
        choose = {}
        differ = [r for r in seen["fields"] if r["differ"]]
        halves = st.columns(2)
        for n, r in enumerate(differ):
            f = r["field"]
            choose[r["name"]] = halves[n % 2].radio(
                md(label_of(f)), merge.CHOICES, index=merge.CHOICES.index(r["default"]), horizontal=True,
                key=f"merge_f_{survivor_id}_{loser_id}_{r['name']}_{nonce}",
                format_func=lambda side, r=r: t(f"merge.keep_{side}", value=shown(r["field"], r[side])))
        if not differ:
            st.caption(t("merge.no_differences"))
        same = [label_of(r["field"]) for r in seen["fields"] if not r["differ"] and r["survivor"] not in (None, "")]
        if same:
            st.caption(t("merge.same_fields", fields=", ".join(same)))

        st.subheader(t("merge.moves"))
        counts = fresh["counts"]
        tables.show(pl.DataFrame({"what": [t(f"merge.count_{k}") for k in merge.COUNTS],
                                  "n": [counts[k] for k in merge.COUNTS]}),
                    {"what": "merge.what", "n": "merge.how_many"}, key="merge_counts")

        if st.button(t("merge.confirm", loser=loser["name"], survivor=survivor["name"]), type="primary",
                     key=f"merge_go_{survivor_id}_{loser_id}_{nonce}", icon=":material/merge:"):
            values = {"survivor": survivor_id, "loser": loser_id, "choose": choose}
            if not forms.first_submit("merge", values):
                st.info(t("action.already_done"))
            else:
                try:
                    merge.merge(c, me, survivor_id, loser_id, choose, seen=seen)
                except Conflict as exc:
                    errors.show(exc)
                    st.button(t("action.reload"), key=f"merge_reload2_{seen_key}", on_click=_reload, args=(seen_key,))
                else:
                    forms.remember_submit("merge", values)
                    state.pop(seen_key, None)
                    _done(survivor, loser, sum(counts.values()))
                    st.rerun()

# ---------------------------------------------------------------- recent merges, and their undo
with st.expander(t("merge.history"), icon=":material/history:"):
    with errors.handled():
        past = merge.history(c, me)
        if past.is_empty():
            st.caption(t("merge.no_history"))
        else:
            tables.show(past, {"id": "merge.id", "logged_at": "merge.when", "user_name": "merge.by",
                               "survivor_name": "merge.survivor_name", "loser_name": "merge.loser_name",
                               "moved": "merge.moved", "undone": "merge.undone_flag"}, key="merge_history")
            can = past.filter(pl.col("can_undo")).to_dicts()
            if can:
                entries = {r["id"]: translate(lang(), "merge.entry", id=r["id"], loser=r["loser_name"],
                                              survivor=r["survivor_name"]) for r in can}  # plain text: no Markdown
                u1, u2 = st.columns([3, 1], vertical_alignment="bottom")
                pick = u1.selectbox(t("merge.undo_pick"), list(entries), format_func=entries.get, key="merge_undo_pick")
                if u2.button(t("merge.undo"), key=f"merge_undo_{pick}", icon=":material/undo:"):
                    back = merge.undo_merge(c, me, pick)
                    row = next(r for r in can if r["id"] == pick)
                    forms.flash(t("merge.undone", n=sum(back.values()), name=row["loser_name"]))
                    state.pop("merge_last", None)
                    st.rerun()
