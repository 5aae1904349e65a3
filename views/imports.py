"""Import (数据导入): a wizard in seven steps — upload and object, what was detected (with overrides),
column mapping (suggested, remembered per layout, saved mappings), value mapping for select fields and
the date order when a file's dates read both ways, options (duplicates, owners, unknown owners), a dry
run with counts and the error file, and the commit (one transaction) with its batch id.

Everything the user chose and the uploaded bytes live in st.session_state["_imp"] (not in widget state,
which Streamlit drops for widgets a step no longer draws), so a rerun or a step back loses nothing.
The dry run and the commit run on a thread of their own (ui.imports.start: own cursor, progress shown by a
fragment), so a click elsewhere during a long import neither stops nor repeats it; a commit runs once per
set of choices: a second click, or a rerun while it runs, does not import twice.
Every rule lives in core.imports (reader, mapping, engine); this page reads widgets and shows results."""
import dataclasses
import hashlib
import logging

import polars as pl
import streamlit as st

from core import access, handover, options, org, pool, settings
from core import imports as core_imports
from core.context import utcnow
from core.imports import engine, mapping
from ui import errors, forms, tables
from ui import imports as words
from ui.i18n import lang, t
from ui.session import actor, con

log = logging.getLogger("crm")
HISTORY_PAGE = "views/import_history.py"
STEPS = ("upload", "detected", "columns", "values", "options", "dry_run", "commit")
ENCODINGS = (None, "utf-8", "utf-8-sig", "gb18030", "gbk", "big5", "utf-16", "latin-1", "cp1252")
DELIMITERS = {None: "imp_ui.delim_auto", ",": "imp_ui.delim_comma", ";": "imp_ui.delim_semicolon",
              "\t": "imp_ui.delim_tab", "|": "imp_ui.delim_pipe"}
SAMPLE_ROWS = 20
VALUES_SHOWN = 100
NEW = "__new__"  # a value the user creates in the admin's list

me, c = actor(), con()
state = st.session_state
st.title(t("page.import"))
forms.show_flash()


# ------------------------------------------------------------------------------------------ the state
def wiz() -> dict:
    return state.setdefault("_imp", {"step": 0})


def reset() -> None:
    state["_imp"] = {"step": 0, "gen": wiz().get("gen", 0) + 1}
    state.pop("_imp_frame", None)


def go(step: int) -> None:
    wiz()["step"] = max(0, min(len(STEPS) - 1, step))


def allowed_objects() -> dict:
    out = {}
    for name, spec in core_imports.OBJECTS.items():
        try:
            if access.can(c, me, spec.module, "import"):
                out[name] = spec
        except ValueError:
            continue
    return out


def reader():
    from core.imports import reader as r  # engineer I1's module

    return r


def read_frame(w: dict) -> pl.DataFrame:
    """The whole file as core reads it (every column text, plus _row), kept for this upload and these
    reading choices."""
    key = words.signature(w["file"]["digest"], w.get("over"))
    kept = state.get("_imp_frame")
    if kept and kept[0] == key:
        return kept[1]
    frame = reader().read(w["file"]["data"], w["info"], max_mb=max_mb())
    state["_imp_frame"] = (key, frame)
    return frame


def max_mb() -> int:
    return int(settings.get(c, "import.max_file_mb") or 1024)


def headers(frame: pl.DataFrame) -> list[str]:
    return [col for col in frame.columns if col != "_row"]


def chosen_options(w: dict) -> dict:
    opts = dict(w.get("options") or {})
    over = w.get("over") or {}
    opts.update({"encoding": over.get("encoding"), "delimiter": over.get("delimiter"), "sheet": over.get("sheet")})
    if w.get("date_order"):
        opts["date_order"] = w["date_order"]
    return opts


def clean_map(w: dict) -> dict:
    return {col: field for col, field in (w.get("mapping") or {}).items() if field}


def run_signature(w: dict) -> str:
    return words.signature(w["file"]["digest"], w["obj"], clean_map(w), w.get("value_map") or {}, chosen_options(w),
                           w.get("over"))


def stepper(current: int) -> None:
    names = [t(f"imp_ui.step_{s}") for s in STEPS]
    # "1\\." : a line starting "1. " would be a numbered list
    parts = [f"**{i + 1}\\. {n}**" if i == current else f"{i + 1}\\. {n}" for i, n in enumerate(names)]
    st.markdown(" → ".join(parts))


def nav_buttons(w: dict, can_next: bool = True, next_key: str = "imp_ui.next", on_next=None) -> None:
    step = w["step"]

    def forward() -> None:
        if on_next is None or on_next(w):
            go(step + 1)

    a, b, _ = st.columns([1, 1, 4])
    if step == 0:
        a, b = b, a  # no way back from the first step: "Next" stands at the left
    if step > 0:
        a.button(t("imp_ui.back"), key=f"imp_back_{step}", icon=":material/arrow_back:", on_click=go, args=(step - 1,))
    if step < len(STEPS) - 1:
        b.button(t(next_key), key=f"imp_next_{step}", type="primary", disabled=not can_next,
                 icon=":material/arrow_forward:", on_click=forward)


# ----------------------------------------------------------------------------------- 1 upload, object
def sniff(w: dict) -> None:
    over = w.get("over") or {}
    w["info"] = reader().sniff(w["file"]["data"], w["file"]["name"], encoding=over.get("encoding"),
                               delimiter=over.get("delimiter"), has_header=over.get("has_header"),
                               sheet=over.get("sheet"), max_mb=max_mb())
    state.pop("_imp_frame", None)
    w.pop("mapping", None)
    w.pop("value_map", None)
    w.pop("preview", None)


def step_upload(w: dict, objects: dict) -> None:
    names = {k: words.object_name(s) for k, s in objects.items()}
    if w.get("obj") not in objects:
        w["obj"] = next(iter(objects))
    obj = st.selectbox(t("imp_ui.object"), list(objects), index=list(objects).index(w["obj"]),
                       format_func=names.get, key=f"imp_obj_{w.get('gen', 0)}")
    if obj != w["obj"]:
        w["obj"] = obj
        w.pop("mapping", None)
        w.pop("value_map", None)
        w.pop("preview", None)
    most = max_mb()
    server_mb = int(st.get_option("server.maxUploadSize") or most)
    limit = max(1, min(most, server_mb))
    up = st.file_uploader(t("imp_ui.file", mb=f"{limit:,}"), type=["csv", "tsv", "txt", "xlsx"],
                          key=f"imp_file_{w.get('gen', 0)}", max_upload_size=limit, help=t("imp_ui.file_help"))
    if up is not None:
        data = up.getvalue()
        digest = words.signature(up.name, len(data), hashlib.sha1(data).hexdigest())
        if (w.get("file") or {}).get("digest") != digest:
            if len(data) > most * 1024 * 1024:  # the setting may be below the server's upload limit
                st.error(t("imp_ui.too_big", mb=f"{most:,}"))
                w.pop("file", None)
                w.pop("info", None)
                nav_buttons(w, can_next=False)
                return
            w["file"] = {"name": up.name, "data": data, "size": len(data), "digest": digest}
            w["over"] = {}
            w.pop("info", None)
            w["sniff_error"] = None
            try:
                sniff(w)
            except Exception as exc:  # noqa: BLE001 - a bad file is a message, never a trace
                w.pop("info", None)
                w["sniff_error"] = exc
    f = w.get("file")
    if f:
        st.caption(t("imp_ui.file_kept", name=f["name"], kb=f"{max(1, f['size'] // 1024):,}"))
    if w.get("sniff_error") is not None:
        errors.show(w["sniff_error"])
    nav_buttons(w, can_next=bool(f and w.get("info") is not None))


# ---------------------------------------------------------------------------------- 2 what was found
def _set_over(w: dict, name: str, value) -> None:
    over = dict(w.get("over") or {})
    if over.get(name) == value:
        return
    over[name] = value
    w["over"] = over
    try:
        sniff(w)
        w["sniff_error"] = None
    except Exception as exc:  # noqa: BLE001
        w["sniff_error"] = exc


def step_detected(w: dict) -> None:
    info, over, gen = w["info"], w.get("over") or {}, w.get("gen", 0)
    frame = read_frame(w)
    a, b, cc, d = st.columns(4)
    a.metric(t("imp_ui.encoding"), str(info.encoding or "—").upper())
    if info.kind == "xlsx":
        b.metric(t("imp_ui.sheet"), str(info.sheet or "—"))
    else:
        b.metric(t("imp_ui.delimiter"), t(DELIMITERS.get(info.delimiter, "imp_ui.delim_auto"))
                 if info.delimiter in DELIMITERS else repr(info.delimiter))
    cc.metric(t("imp_ui.header"), t("imp_ui.yes") if info.has_header else t("imp_ui.no"))
    d.metric(t("imp_ui.rows"), f"{frame.height:,}")
    with st.expander(t("imp_ui.overrides"), expanded=bool(over)):
        o1, o2, o3 = st.columns(3)
        if info.kind == "xlsx":
            sheets = list(info.sheets or [info.sheet])
            sheet = o1.selectbox(t("imp_ui.sheet"), sheets, index=sheets.index(info.sheet) if info.sheet in sheets
                                 else 0, key=f"imp_sheet_{gen}")
            if sheet != info.sheet:
                _set_over(w, "sheet", sheet)
                st.rerun()
        else:
            enc = o1.selectbox(t("imp_ui.encoding"), ENCODINGS, index=ENCODINGS.index(over.get("encoding"))
                               if over.get("encoding") in ENCODINGS else 0, key=f"imp_enc_{gen}",
                               format_func={e: t("imp_ui.auto") if e is None else e.upper() for e in ENCODINGS}.get)
            delims = list(DELIMITERS)
            delim = o2.selectbox(t("imp_ui.delimiter"), delims, index=delims.index(over.get("delimiter"))
                                 if over.get("delimiter") in delims else 0, key=f"imp_delim_{gen}",
                                 format_func={v: t(k) for v, k in DELIMITERS.items()}.get)
            if enc != over.get("encoding"):
                _set_over(w, "encoding", enc)
                st.rerun()
            if delim != over.get("delimiter"):
                _set_over(w, "delimiter", delim)
                st.rerun()
        head_opts = (None, True, False)
        head = o3.selectbox(t("imp_ui.header"), head_opts, index=head_opts.index(over.get("has_header")),
                            key=f"imp_head_{gen}", format_func={None: t("imp_ui.auto"), True: t("imp_ui.yes"),
                                                                   False: t("imp_ui.no")}.get)
        if head != over.get("has_header"):
            _set_over(w, "has_header", head)
            st.rerun()
    if w.get("sniff_error") is not None:
        errors.show(w["sniff_error"])
    st.markdown(f"**{t('imp_ui.preview', n=min(SAMPLE_ROWS, frame.height))}**")
    sample, height = tables.display_frame(frame.head(SAMPLE_ROWS))
    if "_row" in sample.columns:  # the row number a spreadsheet shows, first
        sample = sample.select("_row", *[col for col in sample.columns if col != "_row"])
        if t("imp_ui.col_row") not in sample.columns:
            sample = sample.rename({"_row": t("imp_ui.col_row")})
    st.dataframe(sample, hide_index=True, width="stretch", height=min(height, 420), key=f"imp_sample_{gen}")
    nav_buttons(w, can_next=frame.height > 0)
    if frame.height == 0:
        st.warning(t("imp_ui.no_rows"))


# ---------------------------------------------------------------------------------- 3 column mapping
def _apply_saved(w: dict, saved: dict) -> None:
    w["mapping"] = {col: field for col, field in (saved.get("mapping") or {}).items()}
    w["value_map"] = dict(saved.get("value_map") or {})
    if saved.get("options"):
        w["options"] = {**(w.get("options") or {}), **{k: v for k, v in saved["options"].items()
                                                      if k not in ("encoding", "delimiter", "sheet")}}
    w["map_gen"] = w.get("map_gen", 0) + 1


def _save_mapping(w: dict, spec, frame: pl.DataFrame) -> None:
    name = (state.get(f"imp_save_name_{w.get('map_gen', 0)}") or "").strip()
    if not name:
        forms.flash(t("imp_ui.save_name_needed"), "warning")
        return
    try:
        mapping.save_mapping(c, me, name, spec.name, headers(frame), clean_map(w), w.get("value_map") or {},
                             {k: v for k, v in chosen_options(w).items() if v is not None})
    except Exception as exc:  # noqa: BLE001
        forms.flash(errors.message(exc) if hasattr(exc, "key") else t("error.unexpected"), "error")
        if not hasattr(exc, "key"):
            log.exception("save mapping failed: %s", exc)
    else:
        forms.flash(t("imp_ui.mapping_saved", name=name))


def step_columns(w: dict, spec) -> None:
    frame = read_frame(w)
    cols = headers(frame)
    if "mapping" not in w:
        try:
            suggested = mapping.suggest(c, me, spec.name, w["info"], frame) or {}
        except Exception as exc:  # noqa: BLE001 - no suggestion: the user maps by hand
            log.warning("mapping suggestion failed: %s", exc)
            suggested = {}
        w["mapping"] = {col: suggested.get(col) for col in cols}
    gen = f"{w.get('gen', 0)}_{w.get('map_gen', 0)}"
    try:
        saved = mapping.mappings(c, me, spec.name) or []
    except Exception:  # noqa: BLE001
        saved = []
    saved = [m for m in saved if m.get("name")]
    s1, s2 = st.columns([3, 1], vertical_alignment="bottom")
    by_id = {m.get("id", i): m for i, m in enumerate(saved)}
    pick = s1.selectbox(t("imp_ui.saved_mapping"), [None, *by_id], key=f"imp_saved_{gen}",
                        format_func={None: t("imp_ui.saved_none"), **{i: str(m["name"]) for i, m in by_id.items()}}.get,
                        disabled=not saved)
    s2.button(t("imp_ui.apply"), key=f"imp_apply_{gen}", disabled=pick is None,
              on_click=lambda: _apply_saved(w, by_id[pick]) if pick is not None else None)
    st.caption(t("imp_ui.columns_help"))
    fields = spec.fields
    opts = [None, *fields]
    label = {None: t("imp_ui.ignore"), **{k: words.field_name(f) for k, f in fields.items()}}
    head = st.columns([2, 3, 3])
    head[0].markdown(f"**{t('imp_ui.col_file')}**")
    head[1].markdown(f"**{t('imp_ui.col_sample')}**")
    head[2].markdown(f"**{t('imp_ui.col_field')}**")
    sample = frame.head(200)
    for i, col in enumerate(cols):
        r = st.columns([2, 3, 3], vertical_alignment="center")
        r[0].text(col)
        values = [v for v in sample[col].drop_nulls().unique(maintain_order=True).to_list() if str(v).strip()][:3]
        r[1].text(" | ".join(str(v)[:40] for v in values) or "—")
        current = w["mapping"].get(col)
        chosen = r[2].selectbox(t("imp_ui.field_for", column=col), opts,
                                index=opts.index(current) if current in opts else 0, format_func=label.get,
                                key=f"imp_map_{gen}_{i}", label_visibility="collapsed")
        w["mapping"][col] = chosen
    used = [f for f in w["mapping"].values() if f]
    twice = sorted({label[f] for f in used if used.count(f) > 1})
    missing = [label[k] for k, f in fields.items() if f.required and k not in used]
    if twice:
        st.error(t("imp_ui.mapped_twice", fields=", ".join(twice)))
    if missing:
        st.warning(t("imp_ui.required_missing", fields=", ".join(missing)))
    if not used:
        st.info(t("imp_ui.nothing_mapped"))
    with st.expander(t("imp_ui.save_as")):
        n1, n2 = st.columns([3, 1], vertical_alignment="bottom")
        n1.text_input(t("imp_ui.save_name"), key=f"imp_save_name_{w.get('map_gen', 0)}", max_chars=100)
        n2.button(t("imp_ui.save"), key=f"imp_save_{gen}", on_click=_save_mapping, args=(w, spec, frame),
                  disabled=not used)
    nav_buttons(w, can_next=bool(used) and not twice and not missing)


# ------------------------------------------------------------------------------ 4 values and dates
def _distinct(frame: pl.DataFrame, col: str) -> list[str]:
    s = frame[col].drop_nulls().cast(pl.String).str.strip_chars()
    s = s.filter(s != "")
    # one entry per value as core matches it (case aside): "Gold" and "gold" are one value
    frame_ = pl.DataFrame({"v": s}).with_columns(k=pl.col("v").str.to_lowercase())
    counts = frame_.group_by("k").agg(pl.col("v").first(), pl.len().alias("n")).sort("n", "v", descending=[True, False])
    return counts["v"].head(VALUES_SHOWN).to_list()


def _auto(value: str, codes: dict) -> str | None:
    low = value.strip().lower()
    for code, name in codes.items():
        if low in (code.lower(), str(name).lower()):
            return code
    return None


def _ambiguous(frame: pl.DataFrame, cols: list[str]) -> list[str]:
    try:
        from core.imports import dates
    except ImportError:
        return []
    out = []
    for col in cols:
        try:
            if dates.parse_dates(frame[col].head(20000), "auto").ambiguous:
                out.append(col)
        except Exception:  # noqa: BLE001
            continue
    return out


def step_values(w: dict, spec) -> None:
    frame = read_frame(w)
    mapped = clean_map(w)
    vm = w.setdefault("value_map", {})
    try:
        unknown = mapping.unknown_values(c, me, spec.name, frame, mapped, vm) or {}
        told = True
    except Exception:  # noqa: BLE001 - core could not say: values without a match are marked
        unknown, told = {}, False
    any_shown = False
    gen = f"{w.get('gen', 0)}_{w.get('map_gen', 0)}"
    can_create = access.can(c, me, "settings", "edit")
    for col, fname in mapped.items():
        f = spec.fields.get(fname)
        if f is None or f.kind not in ("choice", "multichoice"):
            continue
        codes = words.choices(c, f)
        values = _distinct(frame, col)
        if not values:
            continue
        any_shown = True
        st.markdown(f"**{words.field_name(f)}** ← {t('imp_ui.from_column', column=col)}")
        not_known = set(unknown.get(fname) or [])
        fmap = vm.setdefault(fname, {})
        creatable = isinstance(f.option_list, str) and can_create
        opts = [None, *codes] + ([NEW] if creatable else [])
        names = {None: t("imp_ui.value_reject"), NEW: t("imp_ui.value_create"), **codes}
        pending = w.setdefault("create", {}).setdefault(fname, {})
        for i, value in enumerate(values):
            default = NEW if value in pending else fmap.get(value, _auto(value, codes))
            a, b = st.columns([2, 3], vertical_alignment="center")
            a.text(value + ("  ⚠" if value in not_known or (not told and default is None) else ""))
            pick = b.selectbox(t("imp_ui.value_for", value=value), opts, index=opts.index(default)
                               if default in opts else 0, format_func=names.get,
                               key=f"imp_val_{gen}_{fname}_{i}", label_visibility="collapsed")
            if pick == NEW:  # created (an option of the admin's list) when the user goes on
                code = words.new_code(value, codes)
                pending[value] = {"list": f.option_list, "code": code}
                fmap[value] = code
            else:
                pending.pop(value, None)
                if pick is None:
                    fmap.pop(value, None)
                else:
                    fmap[value] = pick
        if len(values) >= VALUES_SHOWN:
            st.caption(t("imp_ui.values_capped", n=VALUES_SHOWN))
    if not any_shown:
        st.info(t("imp_ui.no_select_fields"))
    date_cols = [col for col, fname in mapped.items()
                 if spec.fields.get(fname) is not None and spec.fields[fname].kind in ("date", "datetime")]
    amb = _ambiguous(frame, date_cols)
    if amb:
        st.markdown(f"**{t('imp_ui.date_order')}**")
        st.caption(t("imp_ui.date_ambiguous", columns=", ".join(amb)))
        orders = ("dmy", "mdy")
        current = w.get("date_order") if w.get("date_order") in orders else None
        pick = st.radio(t("imp_ui.date_order"), orders, index=orders.index(current) if current else None,
                        format_func={o: t(f"imp_ui.order_{o}") for o in orders}.get, key=f"imp_dates_{gen}", horizontal=True,
                        label_visibility="collapsed")
        w["date_order"] = pick
        if pick is None:
            st.warning(t("imp_ui.date_pick"))
    creating = sum(len(v) for v in (w.get("create") or {}).values())
    if creating:
        st.caption(t("imp_ui.will_create", n=creating))
    nav_buttons(w, can_next=not amb or bool(w.get("date_order")), on_next=_create_values)


def _create_values(w: dict) -> bool:
    """The values the user chose to create become options of their admin lists (names as in the file)."""
    made = 0
    for fname, pending in (w.get("create") or {}).items():
        for value, new in list(pending.items()):
            try:
                options.save_option(c, me, new["list"], new["code"], value[:60], value[:60])
            except Exception as exc:  # noqa: BLE001 - say why and stay on the step
                forms.flash(errors.message(exc) if hasattr(exc, "key") else t("error.unexpected"), "error")
                return False
            pending.pop(value, None)
            made += 1
    if made:
        forms.flash(t("imp_ui.created_values", n=made))
    return True


# ------------------------------------------------------------------------------------------ 5 options
def step_options(w: dict, spec) -> None:
    o = w.setdefault("options", {})
    gen = f"{w.get('gen', 0)}"
    mapped = clean_map(w)
    fields_mapped = [f for f in mapped.values() if f in spec.fields]
    dup_opts = ("skip", "update", "create")
    o.setdefault("on_duplicate", "skip")
    st.markdown(f"**{t('imp_ui.on_duplicate')}**")
    keys = ", ".join(words.field_name(spec.fields[k]) for k in spec.keys if k in spec.fields)
    if keys:
        st.caption(t("imp_ui.keys", keys=keys))
    o["on_duplicate"] = st.radio(t("imp_ui.on_duplicate"), dup_opts, index=dup_opts.index(o["on_duplicate"]),
                                 format_func={v: t(f"imp_ui.dup_{v}") for v in dup_opts}.get, key=f"imp_dup_{gen}",
                                 label_visibility="collapsed")
    if o["on_duplicate"] == "update":
        keep = [k for k in o.get("update_keys") or [] if k in fields_mapped]
        o["update_keys"] = st.multiselect(t("imp_ui.update_keys"), fields_mapped, default=keep,
                                          format_func={k: words.field_name(spec.fields[k]) for k in fields_mapped}.get,
                                          key=f"imp_upd_{gen}", placeholder=t("imp_ui.update_all"))
    if getattr(spec, "owned", True):
        st.markdown(f"**{t('imp_ui.owners')}**")
        from_file = "owner" in fields_mapped
        owner_opts = (["file"] if from_file else []) + ["me", "user", "pool", "split"]
        if o.get("owner") not in owner_opts:
            o["owner"] = owner_opts[0]
        o["owner"] = st.radio(t("imp_ui.owners"), owner_opts, index=owner_opts.index(o["owner"]),
                              format_func={v: t(f"imp_ui.owner_{v}") for v in owner_opts}.get, key=f"imp_owner_{gen}",
                              horizontal=True, label_visibility="collapsed")
        people = _people()
        pools = _pools()
        teams = _teams()
        if o["owner"] == "user":
            ids = list(people)
            o["owner_id"] = st.selectbox(t("imp_ui.owner_user"), ids, index=ids.index(o["owner_id"])
                                         if o.get("owner_id") in ids else None, format_func=people.get,
                                         key=f"imp_owner_id_{gen}", placeholder=t("imp_ui.choose"))
        if o["owner"] == "pool":
            ids = list(pools)
            o["pool_team_id"] = st.selectbox(t("imp_ui.owner_pool"), ids, index=ids.index(o["pool_team_id"])
                                             if o.get("pool_team_id") in ids else None, format_func=pools.get,
                                             key=f"imp_pool_{gen}", placeholder=t("imp_ui.choose"))
        if o["owner"] == "split":
            keep = [i for i in o.get("split_team_ids") or [] if i in teams]
            o["split_team_ids"] = st.multiselect(t("imp_ui.owner_split"), list(teams), default=keep,
                                                 format_func=teams.get, key=f"imp_split_{gen}",
                                                 placeholder=t("imp_ui.choose"))
        if from_file and o["owner"] == "file":
            st.markdown(f"**{t('imp_ui.unknown_owners')}**")
            st.caption(t("imp_ui.unknown_owners_help"))
            unk = ("create", "pool", "reject")
            if o.get("unknown_owners") not in unk:
                o["unknown_owners"] = "create"
            o["unknown_owners"] = st.radio(t("imp_ui.unknown_owners"), unk, index=unk.index(o["unknown_owners"]),
                                           format_func={v: t(f"imp_ui.unknown_{v}") for v in unk}.get, key=f"imp_unk_{gen}",
                                           label_visibility="collapsed")
            if o["unknown_owners"] == "create":
                ids = list(teams)
                o["unknown_owner_team_id"] = st.selectbox(
                    t("imp_ui.unknown_team"), ids, index=ids.index(o["unknown_owner_team_id"])
                    if o.get("unknown_owner_team_id") in ids else None, format_func=teams.get,
                    key=f"imp_unk_team_{gen}", placeholder=t("imp_ui.choose"))
            elif o["unknown_owners"] == "pool":
                targets = {("pool", k): v for k, v in pools.items()}
                targets.update({("user", k): v for k, v in people.items()})
                keys = list(targets)
                was = ("user", o.get("owner_id")) if o.get("owner_id") else ("pool", o.get("pool_team_id"))
                pick = st.selectbox(t("imp_ui.unknown_to"), keys, index=keys.index(was) if was in keys else None,
                                    format_func=targets.get, key=f"imp_unk_to_{gen}", placeholder=t("imp_ui.choose"))
                o["owner_id"] = pick[1] if pick and pick[0] == "user" else None
                o["pool_team_id"] = pick[1] if pick and pick[0] == "pool" else None
    missing = _options_missing(o, spec)
    if missing:
        st.warning(t(missing))
    nav_buttons(w, can_next=not missing)


def _options_missing(o: dict, spec) -> str | None:
    if not getattr(spec, "owned", True):
        return None
    if o.get("owner") == "user" and not o.get("owner_id"):
        return "imp_ui.need_user"
    if o.get("owner") == "pool" and not o.get("pool_team_id"):
        return "imp_ui.need_pool"
    if o.get("owner") == "split" and not o.get("split_team_ids"):
        return "imp_ui.need_teams"
    return None


def _people() -> dict:
    try:
        return {u["id"]: f"{u['name']} ({u['team'] or '—'})" for u in handover.receivers(c, me)}
    except Exception:  # noqa: BLE001 - a role without assign rights: only "me"
        return {me.id: me.name if hasattr(me, "name") else str(me.id)}


def _pools() -> dict:
    try:
        return {p["team_id"]: p["name"] for p in pool.pools(c, me)}
    except Exception:  # noqa: BLE001
        return {}


def _teams() -> dict:
    try:
        df = org.teams(c, me)
        return dict(zip(df["id"].to_list(), df["path"].to_list()))
    except Exception:  # noqa: BLE001
        return {}


# ------------------------------------------------------------------------------------------ 6 dry run
def _store_found(found, sig: str) -> dict:
    return {"sig": sig, "counts": dict(found.counts or {}), "rejects": found.rejects,
            "unknown_owners": list(getattr(found, "unknown_owners", None) or []),
            "ambiguous_dates": list(getattr(found, "ambiguous_dates", None) or []), "found": found}


def _rejects_view(found: dict, name: str, key: str, owners_key: str = "imp_ui.unknown_owner_names") -> None:
    rejects = found.get("rejects")
    n = 0 if rejects is None else rejects.height
    language = lang()
    raw = found.get("found")
    words.error_downloads(lambda fmt: engine.error_file(raw, fmt, language), name.rsplit(".", 1)[0], key, n)
    if n:
        st.markdown(f"**{t('imp_ui.why_refused')}**")
        tables.show(words.reasons_frame(rejects), {"reason": "imp_ui.col_reason", "n": "imp_ui.col_rows"},
                    key=f"{key}_reasons")
        st.markdown(f"**{t('imp_ui.refused_rows', n=min(n, 200))}**")
        shown, height = tables.display_frame(rejects.head(200))
        first = [col for col in ("_row", "reason") if col in shown.columns]
        heads = {"_row": t("imp_ui.col_row"), "reason": t("imp_ui.col_reason")}
        shown = shown.select(first + [col for col in shown.columns if col not in first])
        shown = shown.rename({col: heads[col] for col in first if heads[col] not in shown.columns})
        st.dataframe(shown, hide_index=True, width="stretch", height=min(height, 400), key=f"{key}_rows")
    if found.get("unknown_owners"):
        st.warning(t(owners_key, names=", ".join(found["unknown_owners"][:50])))


def _work(w: dict, spec, commit: bool):
    """What the background job runs: core's dry run or commit on the job's own cursor, with the user as
    they are now (the audit rows carry the click's time)."""
    frame, mapped, values, opts, info = read_frame(w), clean_map(w), dict(w.get("value_map") or {}), \
        chosen_options(w), w["info"]
    who = dataclasses.replace(me, now=utcnow())

    def work(cur, progress):
        if commit:
            return engine.commit(cur, who, spec.name, frame, mapped, values, opts, info=info, progress=progress)
        return engine.preview(cur, who, spec.name, frame, mapped, values, opts, info=info, progress=progress)

    return work


def _start_dry(w: dict, spec, sig: str) -> None:
    words.forget(f"dry:{sig}")  # a dry run may be run again
    words.start(f"dry:{sig}", _work(w, spec, commit=False))


def step_dry_run(w: dict, spec) -> None:
    sig = run_signature(w)
    key = f"dry:{sig}"
    task = words.job(key)
    if task and task["status"] == "done":
        w["preview"] = _store_found(task["result"], sig)
        words.forget(key)
        task = None
    elif task and task["status"] == "failed":
        errors.show(task["error"])
        words.forget(key)
        task = None
    running = bool(task and task["status"] == "running")
    st.caption(t("imp_ui.dry_run_help"))
    st.button(t("imp_ui.run_dry"), key=f"imp_dry_{w.get('gen', 0)}", type="primary", icon=":material/preview:",
              disabled=running, on_click=_start_dry, args=(w, spec, sig))
    if running:
        words.watch(key, "imp_ui.dry_running")
    found = w.get("preview")
    if found and found["sig"] != sig:
        st.info(t("imp_ui.dry_stale"))
        found = None
    if found and not running:
        st.markdown(f"**{t('imp_ui.dry_title')}**")
        counts = found["counts"]
        words.counts_row(counts)
        _rejects_view(found, w["file"]["name"], "imp_dry_err")
    nav_buttons(w, can_next=bool(found) and not running, next_key="imp_ui.to_commit")


# ------------------------------------------------------------------------------------------- 7 commit
def _start_commit(w: dict, spec, sig: str) -> None:
    """Once per set of choices: a second click, or a click during the import, starts nothing."""
    words.start(f"commit:{sig}", _work(w, spec, commit=True))


def step_commit(w: dict, spec) -> None:
    sig = run_signature(w)
    key = f"commit:{sig}"
    task = words.job(key)
    if task and task["status"] == "done" and not (w.get("result") or {}).get("sig") == sig:
        res = task["result"]
        stored = _store_found(res, sig)
        stored["batch_id"] = res.batch_id
        w["result"] = stored
    elif task and task["status"] == "failed":
        errors.show(task["error"])  # one transaction: nothing was written; the user may try again
        words.forget(key)
        task = None
    result = w.get("result")
    if result and result["sig"] == sig:
        st.success(t("imp_ui.done", id=result["batch_id"]))
        words.counts_row(result["counts"], words.RESULT_COUNTS)
        created = (w.get("options") or {}).get("unknown_owners", "create") == "create" and \
            (w.get("options") or {}).get("owner", "file") == "file"
        _rejects_view(result, w["file"]["name"], "imp_res_err",
                      "imp_ui.owners_created" if created else "imp_ui.unknown_owner_names")
        a, b, _ = st.columns([2, 2, 3], vertical_alignment="center")
        with a:
            st.page_link(HISTORY_PAGE, label=t("imp_ui.open_history"), icon=":material/history:")
        b.button(t("imp_ui.new_import"), key="imp_new", on_click=reset, icon=":material/upload_file:")
        return
    found = w.get("preview")
    if not found or found["sig"] != sig:
        st.info(t("imp_ui.dry_first"))
        nav_buttons(w, can_next=False)
        return
    counts = found["counts"]
    n = int(counts.get("new") or 0) + int(counts.get("update") or 0)
    st.markdown(t("imp_ui.commit_help", new=f"{int(counts.get('new') or 0):,}",
                  update=f"{int(counts.get('update') or 0):,}", invalid=f"{int(counts.get('invalid') or 0):,}"))
    running = bool(task and task["status"] == "running")
    st.button(t("imp_ui.commit", n=f"{n:,}"), key="imp_commit", type="primary", icon=":material/upload:",
              disabled=running or n == 0, on_click=_start_commit, args=(w, spec, sig))
    if running:
        words.watch(key, "imp_ui.commit_running")
    else:
        nav_buttons(w)


# --------------------------------------------------------------------------------------------- page
def page() -> None:
    objects = allowed_objects()
    if not objects:
        st.info(t("imp_ui.no_objects"))
        return
    w = wiz()
    step = int(w.get("step") or 0)
    # a step needs what the ones before it made: back to the first step that lacks its input
    if step >= 1 and (not w.get("file") or w.get("info") is None or w.get("obj") not in objects):
        step = 0
    w["step"] = step
    st.caption(t("imp_ui.help"))
    stepper(step)
    if w.get("file") and step > 0:
        st.caption(t("imp_ui.working_on", name=w["file"]["name"], object=words.object_name(objects[w["obj"]])))
    spec = None
    if step > 0:
        spec = core_imports.spec_for(c, me, w["obj"])
    {0: lambda: step_upload(w, objects), 1: lambda: step_detected(w), 2: lambda: step_columns(w, spec),
     3: lambda: step_values(w, spec), 4: lambda: step_options(w, spec), 5: lambda: step_dry_run(w, spec),
     6: lambda: step_commit(w, spec)}[step]()


with errors.handled():
    page()
