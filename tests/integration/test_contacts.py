"""Contacts (联系人): several per customer and one primary; a phone held by any other record is refused
with who holds it; a contact is visible exactly when its customer is, edited by who may edit the
customer, deleted to the recycle bin by who may delete it; edits carry the version the user saw."""
from __future__ import annotations

import pytest

from core import contacts, customers, recycle
from core.errors import Conflict, DuplicateError, NotFound, PermissionDenied, ValidationError


def primaries(company, label):
    return [r[0] for r in company.con.execute(
        "SELECT name FROM contacts WHERE customer_id = ? AND is_primary AND deleted_at IS NULL ORDER BY name",
        [company.customers[label]]).fetchall()]


def test_the_first_contact_is_the_primary_and_a_new_primary_takes_its_place(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    contacts.create_contact(company.con, rep, cid, {"name": "Zhang Wei", "title": "CEO"})
    contacts.create_contact(company.con, rep, cid, {"name": "Li Na", "title": "Buyer"})
    assert primaries(company, "rep_a") == ["Zhang Wei"]
    contacts.create_contact(company.con, rep, cid, {"name": "Wang Fang", "is_primary": True})
    assert primaries(company, "rep_a") == ["Wang Fang"]
    listed = contacts.list_contacts(company.con, rep, cid)
    assert listed["name"].to_list()[0] == "Wang Fang" and listed.height == 3


def test_making_a_contact_primary_by_an_edit_leaves_one_primary(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    first = contacts.create_contact(company.con, rep, cid, {"name": "Zhang Wei"})
    second = contacts.create_contact(company.con, rep, cid, {"name": "Li Na"})
    contacts.update_contact(company.con, rep, second, {"is_primary": True})
    assert primaries(company, "rep_a") == ["Li Na"]
    fields = company.con.execute("SELECT entity_id, old_value, new_value FROM audit_log WHERE entity = 'contact' "
                                 "AND field = 'is_primary' AND action = 'update' ORDER BY entity_id").fetchall()
    assert fields == [(first, "True", "False"), (second, "False", "True")]


def test_a_contact_phone_held_by_another_record_is_refused_with_the_holder(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    held = company.con.execute("SELECT phone FROM customers WHERE id = ?", [company.customers["rep_w"]]).fetchone()[0]
    with pytest.raises(DuplicateError) as err:
        contacts.create_contact(company.con, rep, cid, {"name": "Copy", "phone": held})
    assert err.value.key == "phone.held_by"
    assert err.value.params == {"entity": "entity.customer", "owner": "REP_W", "team": "West"}
    first = contacts.create_contact(company.con, rep, cid, {"name": "Zhang Wei", "phone": "139 0000 1111"})
    with pytest.raises(DuplicateError) as err:
        contacts.create_contact(company.con, company.actor("rep_b"), company.customers["rep_b"],
                                {"name": "Again", "phone": "+86 13900001111"})
    assert err.value.key == "phone.held_by" and err.value.params["entity"] == "entity.contact"
    assert err.value.params["owner"] == "REP_A"
    # a changed phone frees the old number
    contacts.update_contact(company.con, rep, first, {"phone": "13900002222"})
    contacts.create_contact(company.con, company.actor("rep_b"), company.customers["rep_b"],
                            {"name": "Now free", "phone": "13900001111"})
    assert company.con.execute("SELECT count(*) FROM contacts WHERE name = 'Copy'").fetchone()[0] == 0


def test_a_contact_is_visible_exactly_when_its_customer_is(company):
    cid = company.customers["rep_a"]
    kid = contacts.create_contact(company.con, company.actor("rep_a"), cid, {"name": "Zhang Wei"})
    for user in ("rep_a", "mgr", "boss", "svc", "mkt"):
        assert contacts.get_contact(company.con, company.actor(user), kid)["name"] == "Zhang Wei"
        assert contacts.list_contacts(company.con, company.actor(user), cid).height == 1
    for user in ("rep_b", "rep_w"):
        with pytest.raises(NotFound):
            contacts.get_contact(company.con, company.actor(user), kid)
        with pytest.raises(NotFound):
            contacts.list_contacts(company.con, company.actor(user), cid)
    # the customer moves to rep_b: so do its contacts
    company.con.execute("UPDATE customers SET owner_id = ? WHERE id = ?", [company.users["rep_b"], cid])
    assert contacts.get_contact(company.con, company.actor("rep_b"), kid)["name"] == "Zhang Wei"
    with pytest.raises(NotFound):
        contacts.get_contact(company.con, company.actor("rep_a"), kid)


def test_who_may_not_edit_the_customer_may_not_add_or_edit_its_contacts(company):
    cid = company.customers["rep_a"]
    kid = contacts.create_contact(company.con, company.actor("rep_a"), cid, {"name": "Zhang Wei"})
    with pytest.raises(PermissionDenied):
        contacts.create_contact(company.con, company.actor("svc"), cid, {"name": "X"})
    with pytest.raises(PermissionDenied):
        contacts.update_contact(company.con, company.actor("mkt"), kid, {"title": "X"})
    with pytest.raises(NotFound):
        contacts.create_contact(company.con, company.actor("rep_w"), cid, {"name": "X"})
    with pytest.raises(NotFound):
        contacts.update_contact(company.con, company.actor("rep_b"), kid, {"title": "X"})
    assert not contacts.allowed(company.con, company.actor("svc"), cid, "edit")
    assert contacts.allowed(company.con, company.actor("mgr"), cid, "edit")
    assert company.con.execute("SELECT title FROM contacts WHERE id = ?", [kid]).fetchone()[0] is None


def test_an_edit_from_a_stale_form_is_a_conflict_naming_the_field(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    kid = contacts.create_contact(company.con, rep, cid, {"name": "Zhang Wei"})
    seen = contacts.get_contact(company.con, rep, kid)
    contacts.update_contact(company.con, company.actor("mgr"), kid, {"title": "CFO"},
                            seen=contacts.get_contact(company.con, company.actor("mgr"), kid))
    with pytest.raises(Conflict) as err:
        contacts.update_contact(company.con, rep, kid, {"title": "CEO"}, seen=seen)
    assert err.value.params["fields"] == ["contact.title"] and err.value.params["by"] == "Mia Manager"
    assert company.con.execute("SELECT title FROM contacts WHERE id = ?", [kid]).fetchone()[0] == "CFO"


@pytest.mark.parametrize("values, label", [
    ({"title": "CEO"}, "contact.name"),
    ({"name": "   "}, "contact.name"),
    ({"name": "x" * 101}, "contact.name"),
    ({"name": "Zhang", "email": "not-an-address"}, "contact.email"),
    ({"name": "Zhang", "notes": "x" * 2001}, "contact.notes"),
])
def test_bad_values_are_refused_naming_the_field(company, values, label):
    with pytest.raises(ValidationError) as err:
        contacts.create_contact(company.con, company.actor("rep_a"), company.customers["rep_a"], values)
    assert err.value.params.get("field") == label


def test_a_rep_may_not_delete_a_manager_moves_it_to_the_bin_and_the_primary_passes_on(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    first = contacts.create_contact(company.con, rep, cid, {"name": "Zhang Wei", "phone": "13900001111"})
    contacts.create_contact(company.con, rep, cid, {"name": "Li Na"})
    with pytest.raises(PermissionDenied):
        contacts.delete_contact(company.con, rep, first)
    mgr = company.actor("mgr")
    contacts.delete_contact(company.con, mgr, first)
    assert contacts.list_contacts(company.con, rep, cid)["name"].to_list() == ["Li Na"]
    assert primaries(company, "rep_a") == ["Li Na"]
    binned = recycle.deleted(company.con, company.actor("boss"), "contact")
    assert binned["id"].to_list() == [first]
    with pytest.raises(DuplicateError) as err:  # its phone stays held while it sits in the bin
        contacts.create_contact(company.con, rep, cid, {"name": "Copy", "phone": "13900001111"})
    assert err.value.key == "phone.held_in_bin"
    recycle.restore(company.con, company.actor("boss"), "contact", [first])
    assert sorted(contacts.list_contacts(company.con, rep, cid)["name"].to_list()) == ["Li Na", "Zhang Wei"]
    assert primaries(company, "rep_a") == ["Li Na"]


def test_contacts_follow_their_customer_to_a_new_holder(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    kid = contacts.create_contact(company.con, rep, cid, {"name": "Zhang Wei"})
    company.con.execute("UPDATE customers SET owner_id = NULL, team_id = ? WHERE id = ?", [company.teams["west"], cid])
    contacts.sync_holders(company.con, [cid])
    assert company.con.execute("SELECT owner_id, team_id FROM contacts WHERE id = ?", [kid]).fetchone() == (
        None, company.teams["west"])


def test_after_a_merge_one_primary_remains(company):
    rep, cid = company.actor("rep_a"), company.customers["rep_a"]
    a = contacts.create_contact(company.con, rep, cid, {"name": "Zhang Wei"})
    b = contacts.create_contact(company.con, company.actor("rep_b"), company.customers["rep_b"], {"name": "Li Na"})
    company.con.execute("UPDATE contacts SET customer_id = ? WHERE id = ?", [cid, b])  # what a merge does
    assert primaries(company, "rep_a") == ["Li Na", "Zhang Wei"]
    contacts.settle_primary(company.con, rep, cid, prefer=a)
    assert primaries(company, "rep_a") == ["Zhang Wei"]


def test_a_customers_contacts_are_gone_from_view_with_the_customer(company):
    cid = company.customers["rep_a"]
    kid = contacts.create_contact(company.con, company.actor("rep_a"), cid, {"name": "Zhang Wei"})
    recycle.delete(company.con, company.actor("boss"), "customer", [cid])
    with pytest.raises(NotFound):
        contacts.get_contact(company.con, company.actor("boss"), kid)
    with pytest.raises(NotFound):
        customers.get_customer(company.con, company.actor("boss"), cid)
