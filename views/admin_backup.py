"""Admin: backups (core.backup): back up now, the list of backups with their size and time, download
one, restore one (with a confirmation that says what a restore does), and the daily backup's settings.

A restore here runs inside the app: the backup's rows replace every table's rows in one unit of work,
after a safety backup of the current data (see core/backup.py)."""
import hashlib

import polars as pl
import streamlit as st

from core import backup, clock, settings
from core.errors import CRMError
from ui import errors, forms, tables
from ui.i18n import t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.backup"))
forms.show_flash()
folder = backup.folder_of(c)
st.caption(t("backup.help", folder=str(folder) if folder else "—"))


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 100_000 else f"{n / 1e3:,.0f} KB"


def _back_up() -> None:
    try:
        with st.spinner(t("backup.working")):
            path = backup.backup(c, actor=me)
    except CRMError as exc:
        forms.flash(errors.message(exc), "error")
    except Exception:  # noqa: BLE001 - a full disk...: said in the user's language, never a trace
        errors.log.exception("backup failed")
        forms.flash(t("error.unexpected"), "error")
    else:
        forms.flash(t("backup.written", name=path.name, size=_size(path.stat().st_size)))


st.button(t("backup.now"), type="primary", icon=":material/backup:", key="bk_now", on_click=_back_up)

# ------------------------------------------------------------------------------------------ the list
st.subheader(t("backup.list"), anchor=False)
found = backup.backups(folder) if folder else []
if not found:
    st.info(t("backup.none"))
else:
    kinds = {k: t(f"backup.kind_{k}") for k in ("manual", "auto", "safety")}
    shown = pl.DataFrame({
        "name": [b["name"] for b in found],
        "time": [clock.fmt(c, b["time"]) for b in found],
        "size": [_size(b["size"]) for b in found],
        "kind": [kinds[b["kind"]] for b in found],
        "version": [str(b["version"]) if b["version"] is not None else t("backup.unreadable") for b in found],
    })
    rows_key = hashlib.sha1(repr([b["name"] for b in found]).encode()).hexdigest()[:12]
    tables.show(shown, {"name": "backup.name", "time": "backup.time", "size": "backup.size", "kind": "backup.kind",
                        "version": "backup.version"}, key=f"bk_table_{rows_key}")
    usable = [b["name"] for b in found if b["version"] is not None]
    if usable:
        name = st.selectbox(t("backup.pick"), usable, key="bk_pick")
        with errors.handled():
            path = backup.find(c, name)
            st.download_button(t("backup.download", name=name), data=path.read_bytes, file_name=name,
                               mime="application/octet-stream", key="bk_download", on_click="ignore",
                               icon=":material/download:")
        with st.container(border=True):
            st.markdown(f"**{t('backup.restore_title')}**")
            st.caption(t("backup.restore_what"))
            sure = st.checkbox(t("backup.confirm", name=name), key=f"bk_sure_{name}")
            if st.button(t("backup.restore", name=name), disabled=not sure, key="bk_restore", type="primary"):
                with errors.handled():
                    with st.spinner(t("backup.restore", name=name)):
                        done = backup.restore_in_app(c, me, backup.find(c, name))
                    st.cache_data.clear()
                    st.session_state.pop(f"bk_sure_{name}", None)
                    forms.flash(t("backup.restored", name=done["file"], tables=done["tables"],
                                  rows=f"{done['rows']:,}", safety=done["safety"]))
                    st.rerun()

# ------------------------------------------------------------------------------------------ daily
st.subheader(t("backup.daily_title"), anchor=False)
st.caption(t("backup.daily_help", tz=clock.zone(c).key))
conf = settings.get_many(c, list(backup.SETTING_KEYS))
with st.form("bk_daily"):
    daily = st.checkbox(t("setting.backup.daily"), value=bool(conf["backup.daily"]), key="bk_daily_on")
    at = st.text_input(t("setting.backup.at"), value=str(conf["backup.at"]), max_chars=5, key="bk_at")
    keep = st.number_input(t("setting.backup.keep_days"), value=int(conf["backup.keep_days"]), min_value=1,
                           max_value=3650, step=1, key="bk_keep")
    if st.form_submit_button(t("action.save")):
        with errors.handled():
            backup.save_settings(c, me, daily, at, int(keep))
            forms.flash(t("backup.saved"))
            st.rerun()
