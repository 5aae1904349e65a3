"""Errors reach the user as a message in their language, never as a stack trace."""
from __future__ import annotations

import contextlib
import logging
import traceback

import streamlit as st

from core.errors import CRMError
from ui.i18n import t

log = logging.getLogger("crm")

# parameters of a typed error that name something of the catalogue (a field's label key, an entity)
_LABEL_PARAMS = ("field", "entity", "kind")


def _param(name: str, value):
    if name in _LABEL_PARAMS and isinstance(value, str) and "." in value:
        return t(value)
    if name in ("module", "action") and isinstance(value, str) and value.isidentifier():
        return t(f"{name}.{value}")
    if name == "fields" and isinstance(value, (list, tuple)):
        return "、".join(t(v) for v in value) if st.session_state.get("lang") == "zh" else ", ".join(
            t(v) for v in value)
    return value


def message(exc: CRMError) -> str:
    """The text of a typed error in the session's language, field names as the user reads them."""
    return t(exc.key, **{k: _param(k, v) for k, v in exc.params.items()})


def show(exc: BaseException) -> None:
    if isinstance(exc, CRMError):
        st.error(message(exc), icon="⚠️")
    else:
        log.error("unexpected error: %s", "".join(traceback.format_exception(exc)))
        st.error(t("error.unexpected"), icon="⚠️")


@contextlib.contextmanager
def handled():
    """Run a block; a CRMError or any other exception becomes a message on the page."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the user must never see a trace (st.rerun/st.stop are BaseException)
        show(exc)


guarded = handled
