"""What the import wizard and the import history share: object and field names in the user's language,
the choices of a select field, the counts of a dry run or a commit, the error-file downloads, and the
background job (own thread, own cursor) that runs a dry run or a commit with its progress bar. Every rule lives in core.imports; this only draws."""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from typing import Any, Callable

import polars as pl
import streamlit as st

from core import export, options
from core.errors import CRMError
from core.i18n import catalogue
from ui.i18n import label, lang, t

log = logging.getLogger("crm")

# the counts a dry run / a commit reports, in the order shown (key in core's counts -> catalogue key)
PREVIEW_COUNTS = (("rows", "imp_ui.count_rows"), ("new", "imp_ui.count_new"), ("update", "imp_ui.count_update"),
                  ("dup_in_file", "imp_ui.count_dup_in_file"), ("dup_in_store", "imp_ui.count_dup_in_store"),
                  ("invalid", "imp_ui.count_invalid"))
RESULT_COUNTS = (("rows", "imp_ui.count_rows"), ("created", "imp_ui.count_created"),
                 ("updated", "imp_ui.count_updated"), ("dup_in_file", "imp_ui.count_dup_in_file"),
                 ("dup_in_store", "imp_ui.count_dup_in_store"), ("rejected", "imp_ui.count_rejected"))


def known(key: str) -> bool:
    return key in catalogue(lang()) or key in catalogue("en")


def text_or(key: str, fallback: str) -> str:
    """The catalogue's text of `key`, or `fallback` (a name from a file or from core) when it has none."""
    return t(key) if key and known(key) else fallback


def object_name(spec) -> str:
    return text_or(getattr(spec, "label_key", ""), text_or(f"imp_ui.object.{spec.name}", spec.name))


def field_name(f) -> str:
    """A field as the mapping picker shows it: "Account · Name" for a field of a linked object."""
    name = text_or(f.label_key, f.name)
    if getattr(f, "target", None):
        return f"{text_or(f'imp_ui.target.{f.target}', f.target)} · {name}"
    return name


def choices(con, f) -> dict[str, str]:
    """code -> name (user's language) of a select field's option list: an admin list (core.options),
    fixed codes, or codes core computes."""
    source = getattr(f, "option_list", None)
    if source is None:
        return {}
    if isinstance(source, str):
        try:
            return {r["code"]: label(r) for r in options.options(con, source)}
        except Exception:  # noqa: BLE001 - an unknown list: no choices to offer
            return {}
    if callable(source):
        try:
            codes = list(source(con))
        except Exception:  # noqa: BLE001
            return {}
    else:
        codes = list(source)
    named = {}
    if f.name == "stage" and getattr(f, "label_key", "").startswith("deal."):  # the pipelines' stage names
        try:
            from core import pipelines

            named = {r["code"]: label(r) for r in pipelines.stages(con)}
        except Exception:  # noqa: BLE001
            named = {}
    elif f.name in ("stage", "level"):  # the customer's stages and levels
        try:
            from core import customers

            named = {r["code"]: label(r) for r in (customers.stages(con) if f.name == "stage"
                                                   else customers.levels(con))}
        except Exception:  # noqa: BLE001
            named = {}
    out = {}
    for code in codes:
        if not isinstance(code, dict) and str(code) in named:
            out[str(code)] = named[str(code)]
            continue
        if isinstance(code, dict):
            out[str(code.get("code"))] = label(code)
        else:
            out[str(code)] = text_or(f"{f.label_key}.{code}", text_or(f"{f.name}.{code}", str(code)))
    return out


def signature(*parts: Any) -> str:
    """A short digest of what a dry run / a commit was made from (a change of any choice makes a new one)."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def counts_row(counts: dict, which=PREVIEW_COUNTS) -> None:
    """The counts as metrics in one row, and under it the exact copies (counted once, not among the rejected),
    so the row count adds up."""
    cols = st.columns(len(which))
    for col, (key, label_key) in zip(cols, which):
        value = counts.get(key)
        col.metric(t(label_key), f"{int(value or 0):,}")
    extra = int(counts.get("exact_dup") or 0)
    if extra:
        st.caption(t("imp_ui.exact_dup", n=f"{extra:,}"))


def reasons_frame(rejects: pl.DataFrame) -> pl.DataFrame:
    """How many rows were refused for each reason."""
    if rejects is None or rejects.is_empty() or "reason" not in rejects.columns:
        return pl.DataFrame(schema={"reason": pl.String, "n": pl.Int64})
    return (rejects.group_by("reason").agg(pl.len().alias("n")).sort("n", "reason", descending=[True, False])
            .with_columns(pl.col("n").cast(pl.Int64)))


def error_downloads(make: Callable[[str], bytes], name: str, key: str, rows: int) -> None:
    """CSV and Excel downloads of the rejected rows with their reasons (made only when clicked; a failure
    is logged and gives an empty file, never a trace)."""
    def safe(fmt: str) -> Callable[[], bytes]:
        def run() -> bytes:
            try:
                return make(fmt)
            except Exception as exc:  # noqa: BLE001
                log.exception("error file failed: %s", exc)
                return b""
        return run

    a, b, _ = st.columns([1, 1, 3])
    a.download_button(t("imp_ui.error_csv"), safe("csv"), file_name=f"{name}-errors.csv",
                      mime=export.CSV_MIME, key=f"{key}_csv", on_click="ignore", icon=":material/download:",
                      disabled=rows == 0)
    b.download_button(t("imp_ui.error_xlsx"), safe("xlsx"), file_name=f"{name}-errors.xlsx",
                      mime=export.XLSX_MIME, key=f"{key}_xlsx", on_click="ignore", icon=":material/table_view:",
                      disabled=rows == 0)


def can_import(con, actor) -> bool:
    """The import pages are for who may import into some module (the permission matrix)."""
    from core import access

    return any(scope != "none" for scope in access.scopes(con, actor, access.MODULES, "import").values())


def new_code(value: str, taken) -> str:
    """A code for a value the user creates in an option list: its letters and digits when it has some
    (lower case), else "v" and a digest; never one already taken."""
    import re

    base = re.sub(r"[^a-z0-9]+", "_", value.strip().lower()).strip("_")[:32]
    if not base or not base[0].isalnum():
        base = "v" + hashlib.sha1(value.encode()).hexdigest()[:8]
    code, i = base, 2
    while code in taken:
        code, i = f"{base}_{i}", i + 1
    return code


# ------------------------------------------------------------------------------ work in the background
# A dry run or a commit of a big file takes seconds. Run in the page's own script run, any click (another
# page, a widget) stops that run at its next progress update (Streamlit's fast reruns) and the commit rolls
# back. So the work runs on a thread of its own with its own cursor; the page shows its progress from a
# fragment that reruns every half second, and reads the result when the thread is done. The job lives in
# st.session_state: a rerun, a second click or a visit to another page neither stops nor repeats it.
_JOBS_LOCK = threading.Lock()
JOBS = "_imp_jobs"


def job(key: str) -> dict | None:
    return (st.session_state.get(JOBS) or {}).get(key)


def forget(key: str) -> None:
    with _JOBS_LOCK:
        (st.session_state.get(JOBS) or {}).pop(key, None)


def start(key: str, work: Callable[[Any, Callable[[float, str], None]], Any]) -> bool:
    """Run `work(cursor, progress)` on a thread of its own, once per `key`: False (nothing started) when a
    job of that key is already running or done. The check and the claim are one step under a lock, so
    two overlapping runs of the session (a double click) cannot both start it."""
    from ui.db import database

    with _JOBS_LOCK:
        jobs = st.session_state.setdefault(JOBS, {})
        if key in jobs and jobs[key]["status"] in ("running", "done"):
            return False
        task = {"status": "running", "done": 0.0, "step": "", "result": None, "error": None}
        jobs[key] = task
    shared = database()

    def progress(done: float, step: str = "") -> None:
        task["done"] = max(task["done"], max(0.0, min(1.0, float(done or 0))))
        task["step"] = step or task["step"]

    def run() -> None:
        cur = shared.cursor()
        try:
            task["result"] = work(cur, progress)
            task["done"] = 1.0
            task["status"] = "done"
        except BaseException as exc:  # noqa: BLE001 - shown on the page as a message, never a trace
            if not isinstance(exc, CRMError):
                log.exception("import job %s failed: %s", key, exc)
            task["error"] = exc
            task["status"] = "failed"
        finally:
            cur.close()

    thread = threading.Thread(target=run, name=f"crm-import-{key[:24]}", daemon=True)
    task["thread"] = thread
    thread.start()
    return True


def step_text(step: str) -> str:
    return text_or(f"imp_ui.job_{step}", text_or(f"import.step.{step}", "")) if step else ""


@st.fragment(run_every=0.5)
def watch(key: str, text_key: str) -> None:
    """The progress bar of a running job; when the job ends, the whole page runs again to show it."""
    task = job(key)
    if task is None:
        return
    if task["status"] == "running":
        words = step_text(task.get("step") or "")
        label = t(text_key) + (f" ({words})" if words else "")
        st.progress(float(task["done"]), text=f"{label} — {task['done']:.0%}")
    else:
        st.rerun()
