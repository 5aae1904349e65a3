"""The house rules of DESIGN.md that code can check: core/ never imports Streamlit; views/, ui/ and
app.py never import duckdb or hold SQL; SQL values are bound, not formatted in."""
import re

from tests.conftest import ROOT

UI_FILES = [ROOT / "app.py", *(ROOT / "views").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]
CORE_FILES = list((ROOT / "core").rglob("*.py"))
SQL = re.compile(r"\b(SELECT\s+[\w*]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b")


def test_core_never_imports_streamlit():
    offenders = [p.name for p in CORE_FILES if re.search(r"^\s*(import|from)\s+streamlit", p.read_text(), re.M)]
    assert CORE_FILES and offenders == []


def test_pages_ui_and_app_never_import_duckdb():
    offenders = [p.name for p in UI_FILES if re.search(r"^\s*(import|from)\s+duckdb", p.read_text(), re.M)]
    assert len(UI_FILES) > 5 and offenders == []


def test_pages_ui_and_app_hold_no_sql():
    offenders = [f"{p.name}: {m.group(0)}" for p in UI_FILES for m in SQL.finditer(p.read_text())]
    assert offenders == []


def test_core_never_formats_values_into_sql_without_review():
    pattern = re.compile(r"(execute|sql)\(\s*f[\"']")
    offenders = [f"{p.name}:{i}" for p in CORE_FILES for i, line in enumerate(p.read_text().splitlines(), 1)
                 if pattern.search(line) and "sql-ok" not in line]
    assert offenders == []


def test_secrets_and_databases_are_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text()
    assert "*.duckdb" in ignored and ".streamlit/secrets.toml" in ignored


def test_usage_statistics_are_off_and_tables_export_nothing_behind_the_permissions():
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert "gatherUsageStats = false" in config and "disableDataExport = true" in config


def test_no_update_returning_in_core():
    """duckdb 2.0.0: UPDATE ... RETURNING inside a transaction undoes a concurrent update of other
    columns (FACTS.md). Select the ids first, then UPDATE without RETURNING."""
    pattern = re.compile(r"UPDATE\s+[\w{}]+\s+SET\b[^;]{0,600}?\bRETURNING\b", re.S | re.I)
    offenders = [p.name for p in CORE_FILES if pattern.search(p.read_text())]
    assert offenders == []


def test_no_nested_begin_detection_by_trying_begin():
    """A failed BEGIN aborts the open transaction and the later COMMIT writes nothing (FACTS.md):
    BEGIN is sent in one place only, the unit of work of core.db."""
    offenders = [f"{p.relative_to(ROOT)}:{i}" for p in CORE_FILES for i, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"execute\(\s*[\"']BEGIN", line) and p.parent.name != "db"]
    assert offenders == []
