"""What every record page draws the same way: the edit form that carries the version the user saw
(a change since is shown, with Reload; nothing is overwritten), the duplicate guard's warnings with
"save anyway", the success message across the rerun, and delete with a confirmation."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from core.errors import Conflict, DuplicateError
from ui import duplicates, errors, fieldform, forms
from ui.i18n import t

_HIDDEN = ("won_at",)  # written by a service beside what the user changed, not counted as a change


def reload(prefix: str, rid: int) -> None:
    """Forget the version the form holds: it shows the record as it is now."""
    st.session_state.pop(f"_{prefix}_seen_{rid}", None)
    st.session_state[f"_{prefix}_form_{rid}"] = st.session_state.get(f"_{prefix}_form_{rid}", 0) + 1


def edit_form(con, actor, prefix: str, record: dict, defs: dict, save: Callable[..., dict],
              labels: dict | None = None, stale_key: str | None = "customer.changed_reload") -> None:
    """The record's fields as a form, saved with `save(changes, seen=…, confirmed=…)`. When the record
    changed since the form was filled, `stale_key` says so (in the object's words) with a Reload button;
    None when the page already says it above the form."""
    state, rid = st.session_state, record["id"]
    seen = state.get(f"_{prefix}_seen_{rid}")
    if seen is None:  # the version this form shows; kept until a save or a reload
        seen = state[f"_{prefix}_seen_{rid}"] = record
    if seen["updated_at"] != record["updated_at"] and stale_key:
        st.warning(t(stale_key))
        st.button(t("action.reload"), key=f"{prefix}_reload_{rid}", on_click=reload, args=(prefix, rid))
    form_key = f"{prefix}_edit_{rid}_{state.get(f'_{prefix}_form_{rid}', 0)}"
    with st.form(form_key):
        typed = fieldform.inputs(con, defs, seen, key=form_key, choice_labels=labels)
        confirmed = duplicates.anyway(con, actor, form_key)
        submitted = st.form_submit_button(t("action.save"), type="primary")
    if not submitted:
        return
    changed = fieldform.changes(con, defs, seen, typed)
    if not changed:
        st.info(t("action.nothing_changed"))
        return
    try:
        diff = save(changed, seen=seen, confirmed=confirmed)
    except Conflict as exc:
        errors.show(exc)
        st.button(t("action.reload"), key=f"{prefix}_reload2_{rid}", on_click=reload, args=(prefix, rid))
    except DuplicateError as exc:
        duplicates.refused(con, actor, exc, form_key)
    except Exception as exc:  # noqa: BLE001 - shown in the user's language
        errors.show(exc)
    else:
        reload(prefix, rid)
        forms.flash(t("action.saved", n=len([k for k in diff if not k.endswith("_norm") and k not in _HIDDEN])))
        st.rerun()


def delete_button(prefix: str, rid: int, name: str, delete: Callable[[], object], after: Callable[[], None]) -> None:
    """Delete to the recycle bin, after a confirmation that names the record."""
    with st.popover(t("action.delete"), icon=":material/delete:"):
        st.write(t("customer.delete_confirm", name=name))
        if st.button(t("action.delete_confirm"), key=f"{prefix}_del_{rid}", type="primary"):
            with errors.handled():
                delete()
                forms.flash(t("customer.deleted", name=name))
                after()
                st.rerun()
