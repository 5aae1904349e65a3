"""The cap (issue 10, point 3) on every path that gives customers to a rep — create, reassign, lead
conversion, handover, restore from the recycle bin, undo of a merge — refused with a message naming the
rep, what they hold and the cap; won customers do not count. And a rep never moves a record to another
rep directly (point 6)."""
import pytest

from core import customers, db, handover, leads, merge, org, recycle
from core.errors import NotFound, PermissionDenied, ValidationError
from core.i18n import translate


@pytest.fixture
def full(company):
    """rep_a holds one customer (not won) and may hold one."""
    company.con.execute("UPDATE users SET customer_cap = 1 WHERE id = ?", [company.users["rep_a"]])
    return company


def _refused(err, company):
    assert err.value.key == "pool.cap_reached"
    assert err.value.params["name"] == "REP_A" and err.value.params["held"] == 1 and err.value.params["cap"] == 1
    text = translate("zh", err.value.key, **err.value.params)
    assert "REP_A" in text and "1" in text


def _owned(c, user_id):
    return db.scalar(c, "SELECT count(*) FROM customers WHERE owner_id = ? AND deleted_at IS NULL", [user_id])


def test_create_is_refused_at_the_cap_and_won_customers_do_not_count(full):
    c, rep = full.con, full.actor("rep_a")
    with pytest.raises(ValidationError) as err:
        customers.create_customer(c, rep, {"name": "One too many"})
    _refused(err, full)
    assert _owned(c, full.users["rep_a"]) == 1
    # a customer created won does not count, nor does one that was won
    customers.create_customer(c, rep, {"name": "Already won", "stage": "won"})
    customers.update_customer(c, rep, full.customers["rep_a"], {"stage": "won"})
    customers.create_customer(c, rep, {"name": "Now there is room"})
    # to the pool there is always room
    customers.create_customer(c, rep, {"name": "For the pool"}, owner_id=None)


def test_reassign_is_refused_at_the_cap(full):
    c, mgr = full.con, full.actor("mgr")
    with pytest.raises(ValidationError) as err:
        customers.bulk_reassign(c, mgr, [full.customers["rep_b"]], full.users["rep_a"])
    _refused(err, full)
    assert _owned(c, full.users["rep_b"]) == 1
    customers.update_customer(c, full.actor("boss"), full.customers["rep_b"], {"stage": "won"})
    assert customers.bulk_reassign(c, mgr, [full.customers["rep_b"]], full.users["rep_a"])["done"] == 1


def test_lead_conversion_is_refused_at_the_cap(full):
    c, rep = full.con, full.actor("rep_a")
    lead = leads.create_lead(c, rep, {"name": "Zhang", "company": "Capped Ltd"})
    with pytest.raises(ValidationError) as err:
        leads.convert_lead(c, rep, lead)
    _refused(err, full)
    assert db.scalar(c, "SELECT status FROM leads WHERE id = ?", [lead]) != "converted"


def test_handover_is_refused_at_the_cap_and_nothing_moves(full):
    c, boss = full.con, full.actor("boss")
    with pytest.raises(ValidationError) as err:
        handover.handover(c, boss, full.users["rep_b"], full.users["rep_a"])
    _refused(err, full)
    assert _owned(c, full.users["rep_b"]) == 1
    # the leaver's customers may go to the pool instead
    moved = handover.handover(c, boss, full.users["rep_b"], full.users["rep_a"], {"customers": "pool"})
    assert moved["customers"] == 1 and _owned(c, full.users["rep_a"]) == 1


def test_restore_from_the_bin_is_refused_at_the_cap(full):
    c, boss, rep = full.con, full.actor("boss"), full.actor("rep_a")
    first = full.customers["rep_a"]
    recycle.delete(c, boss, "customer", [first])
    customers.create_customer(c, rep, {"name": "Took its place"})
    with pytest.raises(ValidationError) as err:
        recycle.restore(c, boss, "customer", [first])
    _refused(err, full)
    assert db.scalar(c, "SELECT deleted_at IS NOT NULL FROM customers WHERE id = ?", [first])


def test_undoing_a_merge_is_refused_when_the_loser_owner_is_at_the_cap(full):
    c, boss = full.con, full.actor("boss")
    loser, survivor = full.customers["rep_a"], full.customers["rep_b"]
    entry = merge.merge(c, boss, survivor, loser, {})
    customers.create_customer(c, full.actor("rep_a"), {"name": "Took its place"})
    with pytest.raises(ValidationError) as err:
        merge.undo_merge(c, boss, entry if isinstance(entry, int) else entry["merge_id"])
    _refused(err, full)


# --------------------------------------------------------------------------------- rep to rep
def test_a_rep_never_moves_a_record_to_another_rep(company):
    c, rep = company.con, company.actor("rep_a")
    own, rep_b = company.customers["rep_a"], company.users["rep_b"]
    with pytest.raises(PermissionDenied):
        customers.bulk_reassign(c, rep, [own], rep_b)
    with pytest.raises(ValidationError):  # the owner is not a field a form may write
        customers.update_customer(c, rep, own, {"owner_id": rep_b})
    with pytest.raises(PermissionDenied):
        customers.create_customer(c, rep, {"name": "For a colleague"}, owner_id=rep_b)
    with pytest.raises(PermissionDenied):
        handover.handover(c, rep, company.users["rep_a"], rep_b)
    with pytest.raises(PermissionDenied):
        leads.create_lead(c, rep, {"name": "For a colleague"}, owner_id=rep_b)
    # releasing another rep's customer is skipped, not done
    assert customers.bulk_release(c, rep, [company.customers["rep_b"]]) == {"done": 0, "skipped": 1}
    assert db.scalar(c, "SELECT owner_id FROM customers WHERE id = ?", [own]) == company.users["rep_a"]
    assert db.scalar(c, "SELECT owner_id FROM customers WHERE id = ?", [company.customers["rep_b"]]) == rep_b
    # deactivation of a colleague (with a handover) is not a rep's to do either
    with pytest.raises((PermissionDenied, NotFound)):
        org.deactivate_user(c, rep, rep_b, company.users["rep_a"])
