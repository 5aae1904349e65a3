"""Admin-editable option lists with a parent list: ticket sub-categories hang under a category."""
from __future__ import annotations

import pytest

from core import options, tickets
from core.errors import ValidationError


def test_admin_adds_a_ticket_subcategory_under_a_category_and_the_ticket_form_offers_it(con, company):
    boss = company.actor("boss")
    options.save_option(con, boss, "ticket_category", "delivery", "Delivery", "物流配送")
    options.save_option(con, boss, "ticket_subcategory", "late", "Arrived late", "延迟送达", parent="delivery")
    subs = options.options(con, "ticket_subcategory")
    assert {"code": "late", "parent": "delivery"}.items() <= next(s for s in subs if s["code"] == "late").items()
    assert [s["code"] for s in tickets.subcategories(con, "delivery")] == ["late"]


def test_a_subcategory_without_an_existing_category_is_refused(con, company):
    boss = company.actor("boss")
    for parent in (None, "", "no_such_category"):
        with pytest.raises(ValidationError):
            options.save_option(con, boss, "ticket_subcategory", "orphan", "Orphan", "孤儿", parent=parent)
    assert "orphan" not in options.codes(con, "ticket_subcategory")


def test_a_parent_given_for_a_flat_list_is_ignored(con, company):
    boss = company.actor("boss")
    options.save_option(con, boss, "source", "fair", "Trade fair", "博览会", parent="technical")
    assert next(o for o in options.options(con, "source") if o["code"] == "fair")["parent"] is None
