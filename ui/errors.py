"""Errors reach the user as a message in their language, never as a stack trace."""
from __future__ import annotations

import contextlib
import logging
import traceback

import streamlit as st

from core.errors import CRMError
from ui.i18n import t

log = logging.getLogger("crm")


def show(exc: Exception) -> None:
    if isinstance(exc, CRMError):
        st.error(t(exc.key, **exc.params), icon="⚠️")
    else:
        log.error("unexpected error: %s", traceback.format_exc())
        st.error(t("error.unexpected"), icon="⚠️")


@contextlib.contextmanager
def handled():
    """Run a block; a CRMError or any other exception becomes a message on the page."""
    try:
        yield
    except CRMError as exc:
        show(exc)
    except Exception as exc:  # noqa: BLE001 - the user must never see a trace (st.rerun/st.stop are BaseException)
        show(exc)
