"""Business-card scan widget: upload a picture of a card or take one with the camera; the card is read
once per picture (the result is kept per image digest, so reruns don't run the OCR again); the lines
read and the fields found are shown, and the lead values are returned for the caller's form."""
from __future__ import annotations

import hashlib

import polars as pl
import streamlit as st

from core import cardscan
from core.errors import CRMError
from ui import errors
from ui.i18n import t

TYPES = ["png", "jpg", "jpeg", "webp"]
_LABELS = {
    "name": "cardscan.field.name", "title": "cardscan.field.title", "company": "cardscan.field.company",
    "mobile": "cardscan.field.mobile", "landline": "cardscan.field.landline", "email": "cardscan.field.email",
    "address": "cardscan.field.address", "website": "cardscan.field.website",
}
SURE = 0.8        # below this confidence a value is marked "check it"


def _state(key: str) -> dict:
    return st.session_state.setdefault(f"_cardscan_{key}", {})


def last_digest(key: str) -> str | None:
    """The digest of the picture the widget last read: a caller pre-fills its form again when it changes."""
    return _state(key).get("digest")


def card_input(key: str) -> dict | None:
    """Draw the widget; the lead values read from the card ({} keys: name, title, company, phone, email,
    address, website, landline, source), or None while there is no readable picture."""
    source = st.segmented_control(
        t("cardscan.source"), ["upload", "camera"], default="upload", required=True, key=f"{key}_source",
        format_func=lambda s: t(f"cardscan.source_{s}"))
    if source == "camera":
        picture = st.camera_input(t("cardscan.camera"), key=f"{key}_camera", resolution="1080p")
    else:
        picture = st.file_uploader(t("cardscan.upload"), type=TYPES, key=f"{key}_upload",
                                   max_upload_size=cardscan.MAX_BYTES // (1024 * 1024), help=t("cardscan.upload_help"))
    if picture is None:
        return None
    data = picture.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    state = _state(key)
    if state.get("digest") != digest:
        state.clear()
        try:
            with st.spinner(t("cardscan.reading")):
                state["result"] = cardscan.scan(data)
        except CRMError as exc:
            state["error"] = exc
        except Exception as exc:  # noqa: BLE001 - shown as "unexpected", logged by ui.errors
            errors.show(exc)
            return None
        state["digest"] = digest
    if "error" in state:
        errors.show(state["error"])
        return None
    return _show(state["result"], key)


def _show(result: dict, key: str) -> dict | None:
    if not result["lines"]:
        st.info(t("cardscan.nothing"))
        return None
    found = [f for f in cardscan.FIELDS if result.get(f)]
    if found:
        confidence = result.get("confidence", {})
        table = pl.DataFrame({
            t("cardscan.column_field"): [t(_LABELS[f]) for f in found],
            t("cardscan.column_value"): [str(result[f]) for f in found],
            t("cardscan.column_check"): ["" if confidence.get(f, 0) >= SURE else t("cardscan.check") for f in found],
        })
        st.caption(t("cardscan.found"))
        st.dataframe(table, hide_index=True, width="stretch", key=f"{key}_fields")
    missing = [t(_LABELS[f]) for f in cardscan.FIELDS if not result.get(f)]
    if missing:
        st.caption(t("cardscan.missing", fields="、".join(missing) if st.session_state.get("lang") == "zh"
                     else ", ".join(missing)))
    with st.expander(t("cardscan.lines", n=len(result["lines"]))):
        st.text("\n".join(line.text for line in result["lines"]))
    return dict(result["lead"]) or None
