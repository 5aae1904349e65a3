"""The customer timeline: one list, newest first, of follow-ups, deals (created, stage moves, won), orders,
tickets (opened, resolved), campaign touches, feedback and field changes (who changed what from what to
what); filterable by kind and paged; the customer's scope is checked once and each kind is shown only to
who may view its module."""
from __future__ import annotations

import datetime as dt

import pytest

from core import access, activities, audit, customers, recycle, timeline
from core.errors import NotFound, ValidationError
from tests.conftest import NOW

H = dt.timedelta(hours=1)
LATER = NOW + 48 * H


def at(hours: float) -> dt.datetime:
    return NOW + dt.timedelta(hours=hours)


@pytest.fixture
def story(company):
    """rep_a's customer: a follow-up, a deal taken to won, an order, a ticket opened and resolved, two
    campaign touches, a feedback, a field edit, a follow-up that set the next date, and a manual edit
    of that date."""
    c, u, cid = company.con, company.users, company.customers["rep_a"]
    activities.log_followup(c, company.actor("rep_a", at(1)), cid, kind="call", subject="Intro call",
                            outcome="interested", occurred_at=at(1))
    c.execute("INSERT INTO deals (id, name, customer_id, amount, stage, owner_id, team_id, created_by, created_at, "
              "updated_at, won_reason) VALUES (1, 'Scanner order', ?, 5000, 'won', ?, ?, ?, ?, ?, 'Best price')",
              [cid, u["rep_a"], company.teams["east"], u["rep_a"], at(2), at(4)])
    c.execute("INSERT INTO deal_stage_history VALUES (1, 1, NULL, 'prospecting', ?, ?), "
              "(2, 1, 'prospecting', 'proposal', ?, ?), (3, 1, 'proposal', 'won', ?, ?)",
              [at(2), u["rep_a"], at(3), u["rep_a"], at(4), u["mgr"]])
    c.execute("INSERT INTO orders (id, order_no, customer_id, ordered_at, status, amount, owner_id, team_id, "
              "created_at) VALUES (1, 'SO-0001', ?, ?, 'paid', 5000, ?, ?, ?)",
              [cid, at(5), u["rep_a"], company.teams["east"], at(5)])
    c.execute("INSERT INTO tickets (id, ticket_no, customer_id, subject, priority, status, assignee_id, team_id, "
              "opened_at, resolved_at, resolution, created_by, created_at, updated_at) VALUES "
              "(1, 'TK1', ?, 'Scanner not pairing', 'high', 'resolved', ?, ?, ?, ?, 'Replaced the device', ?, ?, ?)",
              [cid, u["svc"], company.teams["service"], at(6), at(8), u["svc"], at(6), at(8)])
    c.execute("INSERT INTO campaigns (id, name, channel, owner_id, team_id, created_at, updated_at) "
              "VALUES (1, 'Spring promo', 'email', ?, ?, ?, ?)", [u["mkt"], company.teams["marketing"], NOW, NOW])
    c.execute("INSERT INTO campaign_members (campaign_id, customer_id, added_at, sent_at, opened_at) "
              "VALUES (1, ?, ?, ?, ?)", [cid, at(7), at(7), at(7.5)])
    c.execute("INSERT INTO feedback (id, customer_id, ticket_id, kind, score, comment, owner_id, team_id, created_at) "
              "VALUES (1, ?, 1, 'csat', 5, 'Quick fix', ?, ?, ?)", [cid, u["svc"], company.teams["service"], at(9)])
    customers.update_customer(c, company.actor("rep_a", at(10)), cid, {"city": "Hangzhou", "stage": "intent"})
    activities.log_followup(c, company.actor("rep_a", at(11)), cid, kind="visit", subject="Site visit",
                            occurred_at=at(11), next_followup_at=at(30))
    customers.update_customer(c, company.actor("mgr", at(12)), cid, {"next_followup_at": at(40)})
    return company


def events(df):
    return list(zip(df["kind"].to_list(), df["event"].to_list()))


def test_everything_that_happened_is_one_list_newest_first(story):
    df = timeline.customer_timeline(story.con, story.actor("boss", LATER), story.customers["rep_a"])
    assert events(df) == [
        ("change", "field_changed"),                     # the manager moved the next follow-up (12h)
        ("followup", "visit"),                           # 11h: its next date shows on the follow-up itself
        ("change", "field_changed"), ("change", "field_changed"),  # 10h: city and stage
        ("feedback", "feedback"),
        ("ticket", "ticket_resolved"),
        ("campaign", "campaign_opened"), ("campaign", "campaign_sent"),
        ("ticket", "ticket_opened"),
        ("order", "order"),
        ("deal", "deal_won"), ("deal", "deal_stage"), ("deal", "deal_created"),
        ("followup", "call"),
        ("change", "customer_created"),
    ]
    times = df["occurred_at"].to_list()
    assert times == sorted(times, reverse=True)
    won = df.filter(df["event"] == "deal_won").row(0, named=True)
    assert (won["title"], won["old_value"], won["new_value"], won["amount"], won["who"], won["detail"]) == (
        "Scanner order", "proposal", "won", 5000.0, "Mia Manager", "Best price")
    assert (won["entity"], won["entity_id"]) == ("deal", 1)
    visit = df.filter(df["event"] == "visit").row(0, named=True)
    assert (visit["title"], visit["next_at"], visit["who"], visit["entity"]) == ("Site visit", at(30), "REP_A",
                                                                                "activity")


def test_field_changes_say_who_changed_what_from_what_to_what(story):
    c, cid = story.con, story.customers["rep_a"]
    audit.record_many(c, story.actor("mgr", at(13)), "handover", "customer", [cid], field="owner_id",
                      old=story.users["rep_a"], new=story.users["rep_b"])
    df = timeline.customer_timeline(c, story.actor("boss", LATER), cid, kinds=["change"])
    changes = [(r["event"], r["who"], r["field"], r["old_value"], r["new_value"]) for r in df.iter_rows(named=True)
               if r["field"]]
    assert changes[:2] == [
        ("handover", "Mia Manager", "owner_id", "REP_A", "REP_B"),   # ids shown as names
        ("field_changed", "Mia Manager", "next_followup_at", str(at(30)), str(at(40))),
    ]
    assert sorted(changes[2:]) == [("field_changed", "REP_A", "city", None, "Hangzhou"),
                                   ("field_changed", "REP_A", "stage", "raw", "intent")]  # one edit, same time


def test_a_rep_sees_only_the_kinds_of_the_modules_the_rep_may_view(story):
    c, cid = story.con, story.customers["rep_a"]
    rep = story.actor("rep_a", LATER)
    kinds = set(timeline.customer_timeline(c, rep, cid)["kind"].to_list())
    assert kinds == {"followup", "deal", "order", "ticket", "feedback", "change"}  # no campaigns view
    access.set_scope(c, story.actor("boss"), "sales", "deals", "view", "none")
    access.set_scope(c, story.actor("boss"), "sales", "orders", "view", "none")
    kinds = set(timeline.customer_timeline(c, story.actor("rep_a", LATER), cid)["kind"].to_list())
    assert kinds == {"followup", "ticket", "feedback", "change"}
    assert "deal" not in timeline.visible_kinds(c, story.actor("rep_a", LATER))
    mkt = set(timeline.customer_timeline(c, story.actor("mkt", LATER), cid)["kind"].to_list())
    assert mkt == {"followup", "deal", "order", "campaign", "feedback", "change"}  # no tickets view


def test_a_customer_out_of_scope_is_not_found(story):
    for cid in (story.customers["rep_a"], "1 OR 1=1", 987654):
        with pytest.raises(NotFound):
            timeline.customer_timeline(story.con, story.actor("rep_w", LATER), cid)


def test_the_timeline_filters_by_kind_and_pages_by_time(story):
    c, cid, boss = story.con, story.customers["rep_a"], story.actor("boss", LATER)
    assert events(timeline.customer_timeline(c, boss, cid, kinds=["order", "ticket"])) == [
        ("ticket", "ticket_resolved"), ("ticket", "ticket_opened"), ("order", "order")]
    first = timeline.customer_timeline(c, boss, cid, limit=5)
    rest = timeline.customer_timeline(c, boss, cid, before=first["occurred_at"].to_list()[-1])
    assert first.height == 5 and events(first) + events(rest) == events(timeline.customer_timeline(c, boss, cid))
    with pytest.raises(ValidationError):
        timeline.customer_timeline(c, boss, cid, kinds=["gossip"])
    with pytest.raises(ValidationError):
        timeline.customer_timeline(c, boss, cid, limit=0)
    assert timeline.customer_timeline(c, boss, cid, kinds=[]).is_empty()


def test_items_in_the_recycle_bin_leave_the_timeline(story):
    c, cid, boss = story.con, story.customers["rep_a"], story.actor("boss", LATER)
    visit = c.execute("SELECT id FROM activities WHERE subject = 'Site visit'").fetchone()[0]
    recycle.delete(c, boss, "activity", [visit])
    assert "Site visit" not in timeline.customer_timeline(c, boss, cid)["title"].to_list()


def test_the_followup_whose_next_date_is_overdue_is_marked(story):
    c, cid = story.con, story.customers["rep_a"]
    c.execute("UPDATE customers SET next_followup_at = ? WHERE id = ?", [at(30), cid])
    soon = timeline.customer_timeline(c, story.actor("rep_a", at(20)), cid, kinds=["followup"])
    assert soon["overdue"].to_list() == [False, False]
    late = timeline.customer_timeline(c, story.actor("rep_a", at(30) + 48 * H), cid, kinds=["followup"])
    assert late["overdue"].to_list() == [True, False]


def test_user_text_comes_back_as_typed(story):
    c, cid = story.con, story.customers["rep_a"]
    text = "<script>alert(1)</script> **bold** [x](http://e.vil)"
    activities.log_followup(c, story.actor("rep_a", at(14)), cid, kind="note", subject=text, body=text,
                            occurred_at=at(14))
    row = timeline.customer_timeline(c, story.actor("rep_a", LATER), cid, limit=1).row(0, named=True)
    assert (row["title"], row["detail"]) == (text, text)


def test_every_kind_event_and_outcome_has_a_name_in_both_languages():
    from core.i18n import catalogue

    keys = [f"timeline.kind_{k}" for k in timeline.KINDS]
    keys += [f"activity.kind_{e}" if k == "followup" else f"timeline.event_{e}"
             for k, events_of in timeline.EVENTS.items() for e in events_of]
    keys += [f"activity.outcome_{o}" for o in activities.OUTCOMES]
    for lang in ("en", "zh"):
        assert [k for k in keys if k not in catalogue(lang)] == []
