"""Bad input through the customer services: every bad value is a ValidationError naming the field (or a
NotFound for an id), and nothing invalid is stored. The last test throws arbitrary values (hypothesis)."""
import datetime as dt
import math
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import customers, db, fields
from core.errors import CRMError, NotFound, ValidationError
from tests.conftest import build_company, NOW

BAD_VALUES = [
    ({"annual_revenue": float("nan")}, "customer.annual_revenue"),
    ({"annual_revenue": float("inf")}, "customer.annual_revenue"),
    ({"annual_revenue": 1e30}, "customer.annual_revenue"),
    ({"employees": 10**12}, "customer.employees"),
    ({"employees": 2.9}, "customer.employees"),
    ({"employees": True}, "customer.employees"),
    ({"name": "bad \ud800 surrogate"}, "customer.name"),
    ({"name": "x" * 1_000_000}, "customer.name"),
    ({"address": "y" * 10_000_000}, "customer.address"),
    ({"name": "NUL\x00inside"}, "customer.name"),
    ({"name": "\u200b\u200d\x07 \u3000"}, "customer.name"),
    ({"year_established": 0}, "customer.year_established"),
    ({"year_established": 99999}, "customer.year_established"),
    ({"next_followup_at": dt.datetime(1, 1, 1)}, "customer.next_followup_at"),
    ({"next_followup_at": "yesterday"}, "customer.next_followup_at"),
    ({"city": {"a": 1}}, "customer.city"),
    ({"city": ["上海"]}, "customer.city"),
    ({"stage": ["won"]}, "customer.stage"),
    ({"stage": "champion"}, "customer.stage"),
    ({"email": "not-an-address"}, "customer.email"),
    ({"kind": None}, "customer.kind"),
    ({"stage": "  "}, "customer.stage"),
]


@pytest.mark.parametrize("change, label", BAD_VALUES, ids=[repr(c)[:40] for c, _ in BAD_VALUES])
def test_a_bad_value_is_refused_naming_the_field_and_nothing_is_stored(company, change, label):
    c, rep = company.con, company.actor("rep_a")
    cid = company.customers["rep_a"]
    before = customers.get_customer(c, rep, cid)
    count = c.execute("SELECT count(*) FROM customers").fetchall()
    with pytest.raises(ValidationError) as err:
        customers.update_customer(c, rep, cid, change)
    assert err.value.params.get("field") == label
    with pytest.raises(ValidationError):
        customers.create_customer(c, rep, {"name": "Fine name", **change} if "name" not in change else change)
    assert customers.get_customer(c, rep, cid) == before
    assert c.execute("SELECT count(*) FROM customers").fetchall() == count


@pytest.mark.parametrize("call", [
    lambda c, me: customers.create_customer(c, me, None),
    lambda c, me: customers.update_customer(c, me, 1, None),
    lambda c, me: customers.create_customer(c, me, {"nonsense": 1, "name": "x"}),
    lambda c, me: customers.list_customers(c, me, page=10**20),
    lambda c, me: customers.list_customers(c, me, page_size="abc"),
    lambda c, me: customers.list_customers(c, me, page=-1),
    lambda c, me: customers.list_customers(c, me, {"created_from": "yesterday"}),
    lambda c, me: customers.list_customers(c, me, {"stage": [["won"]]}),
    lambda c, me: customers.list_customers(c, me, {"q": "x" * 10_000}),
    lambda c, me: customers.list_customers(c, me, {"drop table": 1}),
    lambda c, me: customers.list_customers(c, me, sort="name; DROP TABLE customers"),
], ids=["create None", "update None", "unknown field", "page 1e20", "page_size abc", "page -1",
        "created_from yesterday", "nested list", "huge search", "unknown filter", "sort injection"])
def test_nonsense_arguments_are_validation_errors(company, call):
    with pytest.raises(ValidationError):
        call(company.con, company.actor("rep_a"))


@pytest.mark.parametrize("raw", ["1 OR 1=1", "", None, True, 3.5, "99999999999999999999999", [1]])
def test_an_id_that_is_not_a_number_is_simply_not_found(company, raw):
    with pytest.raises(NotFound):
        customers.get_customer(company.con, company.actor("boss"), raw)


def test_good_values_are_stored_as_typed(company):
    c, rep = company.con, company.actor("rep_a")
    cid = customers.create_customer(c, rep, {
        "name": "  Acme 科技 ", "employees": "１,２００", "annual_revenue": "12345.678", "year_established": 2001.0,
        "next_followup_at": dt.date(2026, 12, 1), "address": "Line one", "email": " Sales@Acme.CN "})
    row = customers.get_customer(c, rep, cid)
    assert row["name"] == "Acme 科技" and row["employees"] == 1200 and float(row["annual_revenue"]) == 12345.68
    assert row["year_established"] == 2001 and row["email"] == "sales@acme.cn"
    # a date alone means 09:00 in the company's time zone (Asia/Shanghai by default: 01:00 UTC)
    assert row["next_followup_at"] == dt.datetime(2026, 12, 1, 1, 0)


def _valid_text(value, max_len):
    return value is None or (isinstance(value, str) and 0 < len(value) <= max_len and value == value.strip()
                             and not any(unicodedata.category(ch) == "Cc" for ch in value))


def _stored_row_is_valid(row) -> bool:
    defs = customers.FIELDS
    if not _valid_text(row["name"], defs["name"].max_len) or row["name"] is None:
        return False
    for name, f in defs.items():
        value = row[name]
        if f.kind == "text" and not _valid_text(value, f.max_len):
            return False
        if f.kind in ("int", "number") and value is not None and not (
                math.isfinite(float(value)) and f.min <= float(value) <= f.max):
            return False
        if f.kind == "datetime" and value is not None and not fields.DATE_MIN <= value < fields.DATE_MAX:
            return False
    return True


ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=300),
    st.text(alphabet=st.characters(codec=None, categories=["Cc", "Cf", "Cs", "Zs", "Nd", "Lo"]), max_size=30),
    st.dates(), st.datetimes(), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                     max_size=2),
    st.binary(max_size=10),
)
FIELD_NAMES = st.sampled_from(sorted(customers.FIELDS) + ["id", "owner_id", "deleted_at", "name; --"])


@pytest.fixture(scope="module")
def shared_company():
    c = db.connect(":memory:")
    from core import setup

    setup.prepare(c)
    from core import auth

    original = auth.BCRYPT_ROUNDS
    auth.BCRYPT_ROUNDS = 4
    try:
        company = build_company(c)
    finally:
        auth.BCRYPT_ROUNDS = original
    yield company
    c.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(FIELD_NAMES, ANYTHING, max_size=5), target=st.sampled_from(["create", "update", "list"]))
def test_arbitrary_values_raise_only_typed_errors_and_store_nothing_invalid(shared_company, values, target):
    c, rep = shared_company.con, shared_company.actor("rep_a", NOW)
    try:
        if target == "create":
            customers.create_customer(c, rep, values)
        elif target == "update":
            customers.update_customer(c, rep, shared_company.customers["rep_a"], values)
        else:
            customers.list_customers(c, rep, {k: v for k, v in values.items() if k in ("q", "stage", "province")},
                                     page=values.get("employees", 0) if isinstance(values.get("employees"), int)
                                     else 0)
    except CRMError:
        pass
    rows = db.rows(c, "SELECT * FROM customers WHERE deleted_at IS NULL")
    bad = [r["id"] for r in rows if not _stored_row_is_valid(r)]
    assert bad == []


@pytest.mark.parametrize("raw", ["²", "１", "٣"])
def test_digits_that_are_not_ascii_are_not_ids(company, raw):
    with pytest.raises(NotFound):
        customers.get_customer(company.con, company.actor("boss"), raw)


@pytest.mark.parametrize("change", [
    {"next_followup_at": "0001-01-01T00:00+05:00"}, {"next_followup_at": "9999-12-31T23:59-05:00"},
    {"annual_revenue": __import__("decimal").Decimal("sNaN")}, {"employees": __import__("decimal").Decimal("NaN")},
    {"name": "\u3164"}, {"name": "\u2800\u2800"}, {"name": "\u0301\u0302"}, {"name": "Bank\u202eevil"},
    {"name": "two\u2028lines"},
], ids=["year 1 with offset", "year 9999 with offset", "sNaN", "NaN", "hangul filler", "braille blanks",
        "combining only", "bidi override", "line separator"])
def test_odd_values_found_by_review_are_refused(company, change):
    with pytest.raises(ValidationError):
        customers.update_customer(company.con, company.actor("rep_a"), company.customers["rep_a"], change)


@pytest.mark.parametrize("filters", [{"q": "\ud800"}, {"stage": ["\ud800"]}, {"q": "a\x00b"}])
def test_broken_text_in_a_search_is_a_validation_error(company, filters):
    with pytest.raises(ValidationError):
        customers.list_customers(company.con, company.actor("rep_a"), filters)


def test_org_services_validate_every_value(company):
    from core import org, recycle

    c, boss = company.con, company.actor("boss")
    bad_calls = [
        lambda: org.create_team(c, boss, 5), lambda: org.create_team(c, boss, "x" * 1_000_000),
        lambda: org.create_team(c, boss, "NUL\x00team"), lambda: org.create_team(c, boss, "ok", parent_id="abc"),
        lambda: org.update_team(c, boss, company.teams["west"], name=5),
        lambda: org.update_team(c, boss, company.teams["west"], name="East"),  # a sibling's name
        lambda: org.create_user(c, boss, "newbie", 5, "sales", "Start#2026"),
        lambda: org.create_user(c, boss, "newbie", "New", "sales", None),
        lambda: org.create_user(c, boss, "newbie", "New", "sales", "Start#2026\ud800"),
        lambda: org.create_user(c, boss, "newbie", "New", "sales", "Start#2026", team_id="abc"),
        lambda: org.update_user(c, boss, company.users["rep_a"], is_new_hire="no"),
        lambda: org.update_user(c, boss, company.users["rep_a"], active=0),
        lambda: org.update_user(c, boss, company.users["rep_a"], email="x" * 1_000_000 + "@a.cn"),
        lambda: org.update_user(c, boss, "abc", name="x"),
        lambda: org.reset_password(c, boss, company.users["rep_a"], None),
        lambda: org.users(c, boss, q=5),
        lambda: recycle.delete(c, boss, "customer", [1.9]),
        lambda: recycle.restore(c, boss, "customer", "12"),
        lambda: recycle.delete(c, boss, "customer", None),
        lambda: recycle.deleted(c, boss, limit="x"),
        lambda: recycle.deleted(c, boss, entity=["customer"]),
    ]
    before = c.execute("SELECT (SELECT count(*) FROM teams), (SELECT count(*) FROM users), "
                       "(SELECT count(*) FROM customers WHERE deleted_at IS NOT NULL)").fetchall()
    for i, call in enumerate(bad_calls):
        with pytest.raises(CRMError):
            call()
    assert c.execute("SELECT (SELECT count(*) FROM teams), (SELECT count(*) FROM users), "
                     "(SELECT count(*) FROM customers WHERE deleted_at IS NOT NULL)").fetchall() == before
    assert c.execute("SELECT is_new_hire, active FROM users WHERE id = ?", [company.users["rep_a"]]).fetchall() == [
        (False, True)]
