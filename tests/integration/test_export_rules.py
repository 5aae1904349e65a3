"""Export rules (issue 9, point 6): formula-like cells neutralised in CSV and Excel, Chinese readable,
a rep's export holds only the rep's rows, a field hidden from the role never leaves in a file, export is
a permission of its own, and every list (contacts, tickets, feedback too) offers the download."""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import polars as pl
import pytest

from core import access, contacts, customers, export, feedback, fields, ticket_queue, tickets
from core.errors import PermissionDenied
from core.i18n import translate
from tests.conftest import NOW

EVIL = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "=cmd|' /C calc'!A0"]
LIST_LABELS = {"name": "customer.name", "phone": "customer.phone", "city": "customer.city",
               "owner_name": "customer.owner"}


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel reads Chinese
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def xlsx_rows(data: bytes) -> list[tuple]:
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [tuple(c.value for c in row) for row in sheet.iter_rows()]


def xlsx_sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read("xl/worksheets/sheet1.xml").decode("utf-8")


def test_formula_like_cells_are_neutralised_in_csv_and_excel(company):
    mgr = company.actor("mgr")
    frame = pl.DataFrame({"name": EVIL + ["-12.5", "平常的名字"], "city": ["x"] * (len(EVIL) + 2)})
    labels = {"name": "customer.name", "city": "customer.city"}
    got = [r[0] for r in csv_rows(export.to_csv(company.con, mgr, "customers", frame, labels))[1:]]
    assert got[:len(EVIL)] == ["'" + v for v in EVIL]
    assert got[len(EVIL):] == ["-12.5", "平常的名字"]  # a plain negative number and plain text stay as they are
    data = export.to_xlsx(company.con, mgr, "customers", frame, labels)
    # a CR is stored as the OOXML escape _x000D_ (Excel shows a CR; openpyxl leaves the escape)
    cells = [r[0].replace("_x000D_", "\r") for r in xlsx_rows(data)[1:]]
    assert cells[:len(EVIL)] == ["'" + v for v in EVIL]
    assert "<f>" not in xlsx_sheet_xml(data)  # no cell of the sheet is a formula


def test_a_formula_typed_into_a_record_is_neutralised_on_the_way_out_of_a_real_list(company):
    boss = company.actor("boss")
    customers.create_customer(company.con, boss, {"name": "=1+2", "phone": "13912340001", "city": "@cmd"})
    rows, _ = export.all_rows(customers.list_customers, company.con, boss, {"q": "=1+2"})
    assert rows.height >= 1
    table = csv_rows(export.to_csv(company.con, boss, "customers", rows, LIST_LABELS))
    assert table[1] == ["'=1+2", "13912340001", "'@cmd", "Boss Admin"]
    book = xlsx_rows(export.to_xlsx(company.con, boss, "customers", rows, LIST_LABELS))
    assert "'=1+2" in book[1] and "'@cmd" in book[1]


def test_chinese_stays_readable_in_csv_and_excel(company):
    mgr = company.actor("mgr")
    rows, _ = export.all_rows(customers.list_customers, company.con, mgr, {})
    data = export.to_csv(company.con, mgr, "customers", rows.with_columns(pl.lit("上海").alias("city")), LIST_LABELS,
                         lang="zh")
    table = csv_rows(data)
    assert table[0][0] == translate("zh", "customer.name")  # headers in the user's language
    assert all(r[2] == "上海" for r in table[1:])
    book = xlsx_rows(export.to_xlsx(company.con, mgr, "customers", rows.with_columns(pl.lit("上海").alias("city")),
                                    LIST_LABELS, lang="zh"))
    assert all(r[2] == "上海" for r in book[1:])


def test_a_reps_export_holds_only_the_reps_rows(company):
    boss, rep = company.actor("boss"), company.actor("rep_a")
    access.set_scope(company.con, boss, "sales", "customers", "export", "own")  # the admin lets reps export
    rows, total = export.all_rows(customers.list_customers, company.con, rep, {})
    names = {r[0] for r in csv_rows(export.to_csv(company.con, rep, "customers", rows, LIST_LABELS))[1:]}
    assert names == {"Customer of rep_a", "Pool customer east"}  # own and the own team's pool, as the list shows
    assert total == 2
    book = {r[0] for r in xlsx_rows(export.to_xlsx(company.con, rep, "customers", rows, LIST_LABELS))[1:]}
    assert book == names


def test_a_field_hidden_from_the_role_is_not_in_the_export(company):
    boss, mgr = company.actor("boss"), company.actor("mgr")
    fields.save_field(company.con, boss, "customer", "phone",
                      view_roles=["admin", "sales", "marketing", "service"])  # phone hidden from managers
    rows, _ = export.all_rows(customers.list_customers, company.con, mgr, {})
    data = export.to_csv(company.con, mgr, "customers", rows, LIST_LABELS)
    header = csv_rows(data)[0]
    assert "Phone" not in header and len(header) == 3
    assert b"1380013" not in data  # no phone number anywhere in the file
    book = xlsx_rows(export.to_xlsx(company.con, mgr, "customers", rows, LIST_LABELS))
    assert "Phone" not in book[0] and not any("1380013" in str(v) for r in book for v in r)
    # the admin, who may see it, still gets it
    assert "Phone" in csv_rows(export.to_csv(company.con, boss, "customers", rows, LIST_LABELS))[0]


def test_a_hidden_custom_field_is_not_in_the_export(company):
    boss, mgr = company.actor("boss"), company.actor("mgr")
    name = fields.save_field(company.con, boss, "customer", None, kind="text", label_en="Secret note",
                             label_zh="机密备注", view_roles=["admin"])
    frame = pl.DataFrame({"name": ["A"], name: ["top secret"]})
    labels = {"name": "customer.name", name: f"cf.customer.{name}"}
    assert b"top secret" not in export.to_csv(company.con, mgr, "customers", frame, labels)
    assert b"top secret" in export.to_csv(company.con, boss, "customers", frame, labels)


def test_a_role_without_the_export_permission_is_refused(company):
    rep, boss, mgr = company.actor("rep_a"), company.actor("boss"), company.actor("mgr")
    rows, _ = customers.list_customers(company.con, rep)
    for make in (export.to_csv, export.to_xlsx):
        with pytest.raises(PermissionDenied):
            make(company.con, rep, "customers", rows, LIST_LABELS)
    # the permission is the admin's to take away: the manager may view customers but no longer export them
    access.set_scope(company.con, boss, "manager", "customers", "export", "none")
    assert customers.list_customers(company.con, mgr)[1] == 4
    with pytest.raises(PermissionDenied):
        export.to_csv(company.con, mgr, "customers", rows, LIST_LABELS)
    assert not export.allowed(company.con, mgr, "customers")


def test_contacts_tickets_and_feedback_export_every_row_of_their_lists(company):
    con, boss, mgr = company.con, company.actor("boss"), company.actor("mgr")
    for n in range(3):
        contacts.create_contact(con, boss, company.customers["rep_a"], {"name": f"联系人 {n}"})
        tickets.create_ticket(con, company.actor("svc"), {"subject": f"=Ticket {n}",
                                                          "customer_id": company.customers["rep_a"]})
        feedback.create_feedback(con, company.actor("svc"), {
            "kind": "complaint", "customer_id": company.customers["rep_w"], "subject": f"Complaint {n}",
            "owner_id": company.users["svc"], "due_on": NOW.date() + dt.timedelta(days=3)})
    found, _ = export.all_rows(contacts.list_all, con, mgr, None)
    assert found.height == 3
    queue, _ = export.all_rows(ticket_queue.queue, con, mgr, "all", {})
    assert queue.height == 3
    data = export.to_csv(con, mgr, "tickets", queue, {"ticket_no": "ticket.no", "subject": "ticket.subject"})
    assert {r[1] for r in csv_rows(data)[1:]} == {"'=Ticket 0", "'=Ticket 1", "'=Ticket 2"}
    # feedback lists page by page (at most 500 rows a page) but exports in one large page
    cases, total = export.all_rows(feedback.list_feedback, con, boss, {"kind": ["complaint", "suggestion"]})
    assert cases.height == total == 3
    # the manager's scope: only the complaints about the team's customers (rep_w is West: none)
    assert export.all_rows(feedback.list_feedback, con, mgr, {"kind": "complaint"})[1] == 0


# ------------------------------------------------------------------------------------------ the pages
@pytest.fixture
def app_db(tmp_path):
    from tests.conftest import company_app

    def prepare(con, company):
        contacts.create_contact(con, company.actor("boss"), company.customers["rep_a"], {"name": "Contact A"})
        tickets.create_ticket(con, company.actor("svc"), {"subject": "Broken", "customer_id": company.customers["rep_a"]})
        feedback.create_feedback(con, company.actor("svc"), {
            "kind": "complaint", "customer_id": company.customers["rep_a"], "subject": "Late",
            "owner_id": company.users["svc"], "due_on": NOW.date() + dt.timedelta(days=3)})

    with company_app(tmp_path, prepare) as company:
        yield company


@pytest.mark.parametrize("page, may, may_not", [
    ("views/contacts.py", "mgr", "rep_a"),
    ("views/tickets.py", "svc", "rep_a"),
    ("views/feedback.py", "mgr", "rep_a"),
])
def test_contacts_tickets_and_feedback_lists_offer_the_download_to_who_may_export(app_db, page, may, may_not):
    from tests.conftest import logged_in

    at = logged_in(may).run().switch_page(page).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [b.label for b in at.download_button][:2] == ["Download CSV", "Download Excel"]
    at = logged_in(may_not).run().switch_page(page).run()
    assert not at.exception and not at.error
    assert len(at.download_button) == 0
