"""The demo company: deterministic, consistent, and shaped like a real company."""
from __future__ import annotations

import datetime as dt
import re

import bcrypt
import pytest

from core import db, demo, phones

NOW = dt.datetime(2026, 3, 18, 6, 30)
FAST_HASH = bcrypt.hashpw(demo.DEMO_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


def fresh(scale="XS", seed=42, now=NOW, password_hash=FAST_HASH):
    con = db.connect(":memory:")
    db.migrate(con)
    counts = demo.build(con, scale, seed=seed, now=now, password_hash=password_hash)
    return con, counts


@pytest.fixture(scope="module")
def company():
    con, counts = fresh()
    yield con, counts
    con.close()


@pytest.fixture(scope="module")
def bigger():
    con, counts = fresh(2000)
    yield con, counts
    con.close()


def q(con, sql, params=None):
    return con.execute(sql, params or []).fetchall()


def test_the_same_seed_builds_the_same_company_and_another_seed_a_different_one(company):
    con, counts = company
    again, counts_again = fresh()
    other, _ = fresh(seed=7)
    first = "SELECT name, phone, stage, owner_id FROM customers ORDER BY id LIMIT 25"
    assert counts_again == counts
    assert q(again, first) == q(con, first)
    assert q(again, "SELECT sum(amount) FROM orders") == q(con, "SELECT sum(amount) FROM orders")
    assert q(other, first) != q(con, first)


def test_counts_scale_with_the_number_of_customers(company, bigger):
    _, small = company
    _, large = bigger
    assert small["customers"] == 500 and large["customers"] == 2000
    for counts, n in ((small, 500), (large, 2000)):
        assert counts["activities"] == 5 * n
        assert counts["deals"] == n // 2
        assert counts["orders"] == 2 * n
        assert counts["tickets"] == 3 * n // 10
        assert counts["leads"] == n // 5
        assert 2 * counts["deals"] <= counts["deal_stage_history"] <= 4.5 * counts["deals"]
        assert 10 <= counts["campaigns"] <= 30
    assert large["campaign_members"] > small["campaign_members"]


def test_a_named_scale_or_a_bad_one(company):
    assert demo.SCALES == {"XS": 500, "S": 10_000, "M": 100_000, "L": 1_000_000}
    con = db.connect(":memory:")
    db.migrate(con)
    with pytest.raises(ValueError):
        demo.build(con, "XXL")


def test_every_phone_is_a_valid_unique_mainland_mobile_held_in_phone_keys(company):
    con, _ = company
    rows = q(con, """
        SELECT 'customer', id, phone, phone_norm FROM customers
        UNION ALL SELECT 'contact', id, phone, phone_norm FROM contacts
        UNION ALL SELECT 'lead', id, phone, phone_norm FROM leads WHERE status <> 'converted'""")
    assert len(rows) > 500
    for _, _, phone, norm in rows:
        assert re.fullmatch(r"\+861[3-9]\d{9}", norm)
        assert phones.normalise(phone) == norm
        assert phones.normalise(norm[3:]) == norm        # the 11 digits a user would type
    norms = [r[3] for r in rows]
    assert len(set(norms)) == len(norms)
    keys = {(e, i, p) for p, e, i in q(con, "SELECT phone_norm, entity, entity_id FROM phone_keys")}
    assert keys == {(e, i, p) for e, i, _, p in rows}


def test_a_converted_lead_keeps_the_number_that_moved_to_its_customer(company):
    con, _ = company
    rows = q(con, """
        SELECT l.phone_norm = c.phone_norm, l.converted_at = c.created_at, l.created_at <= l.converted_at
        FROM leads l JOIN customers c ON c.id = l.converted_customer_id WHERE l.status = 'converted'""")
    assert rows and all(all(r) for r in rows)
    assert q(con, "SELECT count(*) FROM leads WHERE status = 'converted' AND converted_customer_id IS NULL") == [(0,)]


def test_ids_follow_time_as_in_a_live_system(bigger):
    con, _ = bigger
    for table, column in (("customers", "created_at"), ("deals", "created_at"), ("leads", "created_at"),
                          ("activities", "occurred_at"), ("orders", "ordered_at"), ("tickets", "opened_at")):
        (backwards,), = q(con, f"SELECT count(*) FROM (SELECT {column} < lag({column}) OVER (ORDER BY id) AS back "  # noqa: S608
                               f"FROM {table}) WHERE back")
        assert backwards == 0, table
    assert q(con, "SELECT ticket_no FROM tickets WHERE id = 1") == [("TK0000001",)]
    assert q(con, "SELECT count(*) FROM orders WHERE (status = 'cancelled') <> starts_with(order_no, 'C')") == [(0,)]


def test_a_conversion_links_the_lead_its_customer_and_the_first_deal(bigger):
    con, _ = bigger
    assert q(con, """
        SELECT count(*) FROM leads l JOIN deals d ON d.id = l.converted_deal_id
        WHERE d.lead_id IS DISTINCT FROM l.id OR d.customer_id <> l.converted_customer_id""") == [(0,)]
    assert q(con, "SELECT count(*) FROM deals d JOIN leads l ON l.id = d.lead_id WHERE l.converted_deal_id <> d.id") == [(0,)]
    assert q(con, "SELECT count(*) FROM activities a JOIN leads l ON l.id = a.lead_id "
                  "WHERE a.occurred_at < l.created_at OR a.occurred_at > coalesce(l.converted_at, ?)", [NOW]) == [(0,)]
    assert q(con, "SELECT count(*) FROM feedback f JOIN tickets t ON t.id = f.ticket_id "
                  "WHERE f.customer_id <> t.customer_id OR f.created_at < t.resolved_at") == [(0,)]


def test_demo_logins_exist_with_their_roles_and_must_change_password(company):
    con, _ = company
    users = {u: (role, must, active) for u, role, must, active in
             q(con, "SELECT username, role, must_change_password, active FROM users")}
    for username, role in demo.DEMO_LOGINS:
        assert users[username] == (role, True, True)
    assert all(must and active for _, must, active in users.values())
    assert q(con, "SELECT count(DISTINCT password_hash) FROM users") == [(1,)]
    assert q(con, "SELECT count(*) FROM users WHERE username <> lower(username)") == [(0,)]
    assert len(users) == q(con, "SELECT count(DISTINCT username) FROM users")[0][0]


def test_without_a_hash_every_user_gets_the_demo_password_hashed_once():
    con, _ = fresh(20, password_hash=None)
    hashes = {h for (h,) in q(con, "SELECT password_hash FROM users")}
    assert len(hashes) == 1
    assert bcrypt.checkpw(demo.DEMO_PASSWORD.encode(), hashes.pop().encode())


def test_the_manager_leads_east_with_a_sub_team_and_the_rep_reports_to_them(company):
    con, _ = company
    (east, manager_team, rep_team, rep_manager, manager_id), = q(con, """
        SELECT (SELECT id FROM teams WHERE name = 'East'),
               (SELECT team_id FROM users WHERE username = 'manager'),
               (SELECT team_id FROM users WHERE username = 'rep'),
               (SELECT manager_id FROM users WHERE username = 'rep'),
               (SELECT id FROM users WHERE username = 'manager')""")
    assert manager_team == east == rep_team and rep_manager == manager_id
    assert q(con, "SELECT name FROM teams WHERE parent_id = ?", [east]) == [("East - Shanghai",)]
    assert q(con, "SELECT count(*) FROM teams WHERE is_new_hire_pool") == [(1,)]
    assert q(con, "SELECT count(*) FROM users WHERE is_new_hire AND team_id <> "
                  "(SELECT id FROM teams WHERE is_new_hire_pool)") == [(0,)]
    regions = {r for (r,) in q(con, "SELECT region FROM teams WHERE region IS NOT NULL")}
    assert regions == {"East", "North", "South", "West"}
    reps = q(con, "SELECT count(*) FROM users u JOIN users m ON m.id = u.manager_id "
                  "WHERE u.role = 'sales' AND NOT u.is_new_hire AND m.role = 'manager'")
    assert reps[0][0] >= 12


def test_the_rep_has_a_book_and_something_due_today(company):
    con, _ = company
    (book, due_today, overdue, tasks_open), = q(con, """
        WITH me AS (SELECT id FROM users WHERE username = 'rep')
        SELECT count(*),
               count(*) FILTER (WHERE next_followup_at::DATE = ?::DATE),
               count(*) FILTER (WHERE next_followup_at < ?),
               (SELECT count(*) FROM tasks WHERE assignee_id = (SELECT id FROM me) AND status = 'open'
                  AND due_at::DATE <= ?::DATE)
        FROM customers WHERE owner_id = (SELECT id FROM me)""", [NOW, NOW, NOW])
    assert book >= 20 and due_today >= 1 and overdue >= 1 and tasks_open >= 3


def test_no_rep_holds_more_than_200_customers_that_are_not_won(bigger):
    con, _ = bigger
    worst = q(con, "SELECT max(n) FROM (SELECT owner_id, count(*) n FROM customers "
                   "WHERE owner_id IS NOT NULL AND stage NOT IN ('won', 'upgrade') GROUP BY 1)")[0][0]
    assert 0 < worst <= 200
    # the rest of the not-won customers sit in their team's shared pool
    pool = q(con, "SELECT count(*), count(team_id), count(pool_since) FROM customers WHERE owner_id IS NULL")[0]
    assert pool[0] > 0 and pool[0] == pool[1] == pool[2]
    assert q(con, "SELECT count(*) FROM customers WHERE owner_id IS NOT NULL AND pool_since IS NOT NULL") == [(0,)]
    assert q(con, "SELECT count(*) FROM customers WHERE stage IN ('won', 'upgrade') AND owner_id IS NULL") == [(0,)]


def test_stage_history_follows_each_deal_from_engagement_to_its_close(bigger):
    con, _ = bigger
    bad = q(con, """
        WITH h AS (
            SELECT h.*, row_number() OVER (PARTITION BY deal_id ORDER BY changed_at, id) AS step,
                   count(*) OVER (PARTITION BY deal_id) AS steps,
                   lag(to_stage) OVER (PARTITION BY deal_id ORDER BY changed_at, id) AS before
            FROM deal_stage_history h)
        SELECT count(*) FROM h JOIN deals d ON d.id = h.deal_id
        WHERE (step = 1 AND (to_stage <> 'prospecting' OR from_stage IS NOT NULL))
           OR (step > 1 AND from_stage IS DISTINCT FROM before)
           OR (step = steps AND to_stage <> d.stage)
           OR changed_at::DATE < d.engaged_on
           OR changed_at::DATE > coalesce(d.closed_on, ?::DATE)
           OR changed_at > ?""", [NOW, NOW])
    assert bad == [(0,)]
    assert q(con, "SELECT count(*) FROM deals d WHERE NOT EXISTS "
                  "(SELECT 1 FROM deal_stage_history h WHERE h.deal_id = d.id)") == [(0,)]
    (per_deal,), = q(con, "SELECT count(*) / count(DISTINCT deal_id) FROM deal_stage_history")
    assert 2 <= per_deal <= 4.5


def test_win_rate_and_cycle_times_look_like_a_real_sales_team(bigger):
    con, _ = bigger
    (win_rate, cycle, open_deals), = q(con, """
        SELECT count(*) FILTER (WHERE stage = 'won') / count(*) FILTER (WHERE stage IN ('won', 'lost')),
               avg(closed_on - engaged_on) FILTER (WHERE stage = 'won'),
               count(*) FILTER (WHERE closed_on IS NULL)
        FROM deals""")
    assert 0.20 <= win_rate <= 0.35
    assert 14 <= cycle <= 120
    assert open_deals > 0
    rates = [r for (r,) in q(con, """
        SELECT count(*) FILTER (WHERE stage = 'won') / count(*) FILTER (WHERE stage IN ('won', 'lost'))
        FROM deals GROUP BY owner_id HAVING count(*) > 30""")]
    assert max(rates) - min(rates) > 0.08        # reps differ
    assert q(con, "SELECT count(*) FROM deals WHERE (stage = 'won') <> (won_reason IS NOT NULL) "
                  "OR (stage = 'lost') <> (lost_reason IS NOT NULL)") == [(0,)]


def test_a_customer_with_a_won_deal_is_won_since_its_first_win(bigger):
    con, _ = bigger
    assert q(con, """
        SELECT count(*) FROM customers c
        JOIN (SELECT customer_id, min(closed_on) AS first_win FROM deals WHERE stage = 'won' GROUP BY 1) w
          ON w.customer_id = c.id
        WHERE c.stage NOT IN ('won', 'upgrade') OR c.won_at::DATE <> w.first_win""") == [(0,)]
    assert q(con, "SELECT count(*) FROM customers WHERE (stage IN ('won', 'upgrade')) <> (won_at IS NOT NULL)") == [(0,)]
    stages = dict(q(con, "SELECT stage, count(*) FROM customers GROUP BY 1"))
    assert set(stages) == {"raw", "unknown", "potential", "intent", "opportunity", "won", "upgrade"}


def test_last_activity_and_follow_ups_agree_with_the_activities(company):
    con, _ = company
    assert q(con, """
        SELECT count(*) FROM customers c
        LEFT JOIN (SELECT customer_id, max(occurred_at) AS last FROM activities GROUP BY 1) a ON a.customer_id = c.id
        WHERE c.last_activity_at IS DISTINCT FROM a.last""") == [(0,)]
    assert q(con, "SELECT count(*) FROM customers WHERE next_followup_at <= last_activity_at") == [(0,)]
    assert q(con, "SELECT count(*) FROM activities a JOIN customers c ON c.id = a.customer_id "
                  "WHERE a.occurred_at < c.created_at OR a.occurred_at > ?", [NOW]) == [(0,)]
    assert q(con, "SELECT count(*) FROM customers WHERE owner_id IS NULL AND last_activity_at > pool_since") == [(0,)]


def test_tickets_answer_after_opening_mostly_within_sla_with_satisfaction_on_resolved_ones(bigger):
    con, _ = bigger
    (bad,), = q(con, """
        SELECT count(*) FROM tickets
        WHERE first_response_at < opened_at OR resolved_at < first_response_at OR closed_at < resolved_at
           OR (status IN ('resolved', 'closed')) <> (resolved_at IS NOT NULL)
           OR (satisfaction IS NOT NULL AND (resolved_at IS NULL OR satisfaction NOT BETWEEN 1 AND 5))
           OR greatest(opened_at, first_response_at, resolved_at, closed_at) > ?""", [NOW])
    assert bad == 0
    (in_sla, breached, rated), = q(con, """
        SELECT avg((t.first_response_at <= t.opened_at + to_hours(s.first_response_hours::BIGINT))::INT),
               count(*) FILTER (WHERE t.resolved_at > t.resolution_due),
               count(satisfaction)
        FROM tickets t JOIN sla_targets s USING (priority) WHERE t.first_response_at IS NOT NULL""")
    assert 0.8 <= in_sla < 1 and breached > 0 and rated > 0
    statuses = {s for (s,) in q(con, "SELECT DISTINCT status FROM tickets")}
    assert statuses == {"open", "pending", "resolved", "closed"}
    assert q(con, "SELECT count(*) FROM feedback f JOIN tickets t ON t.id = f.ticket_id "
                  "WHERE f.kind = 'csat' AND f.score <> t.satisfaction") == [(0,)]


def test_orders_have_a_long_tail_and_some_cancellations(bigger):
    con, _ = bigger
    (cancelled, negative, median, top), = q(con, """
        SELECT count(*) FILTER (WHERE status = 'cancelled'), count(*) FILTER (WHERE amount < 0),
               median(amount), max(amount) FROM orders""")
    assert 0 < cancelled == negative
    assert top > 20 * median
    assert q(con, "SELECT count(*) FROM orders o JOIN deals d ON d.id = o.deal_id WHERE d.stage <> 'won'") == [(0,)]


def test_campaign_members_move_through_the_funnel_in_order(bigger):
    con, _ = bigger
    assert q(con, """
        SELECT count(*) FROM campaign_members
        WHERE opened_at < sent_at OR clicked_at < coalesce(opened_at, sent_at)
           OR responded_at < coalesce(clicked_at, opened_at, sent_at) OR converted_at < responded_at
           OR (converted_at IS NOT NULL AND responded_at IS NULL) OR (responded_at IS NOT NULL AND sent_at IS NULL)
           OR sent_at > ?""", [NOW]) == [(0,)]
    channels = {c for (c,) in q(con, "SELECT DISTINCT channel FROM campaigns")}
    assert channels == {"email", "sms", "phone", "event"}
    (sent, opened, responded), = q(con, "SELECT count(sent_at), count(opened_at), count(responded_at) FROM campaign_members")
    assert sent > opened > responded > 0


def test_timestamps_are_set_and_history_lies_in_the_two_years_before_now(company):
    con, _ = company
    start = NOW - dt.timedelta(days=demo.SPAN_DAYS + 1)
    for table in ("customers", "leads", "contacts", "deals", "tickets", "users"):
        (missing, future), = q(con, f"SELECT count(*) FILTER (WHERE created_at IS NULL OR updated_at IS NULL), "  # noqa: S608
                                    f"count(*) FILTER (WHERE created_at > ? OR updated_at > ?) FROM {table}", [NOW, NOW])
        assert (missing, future) == (0, 0), table
    (first, last), = q(con, "SELECT min(occurred_at), max(occurred_at) FROM activities")
    assert start <= first and last <= NOW


def test_the_demo_needs_an_empty_database_and_leaves_the_sequences_past_its_ids(company):
    con, counts = company
    with pytest.raises(ValueError):
        demo.build(con, "XS", now=NOW, password_hash=FAST_HASH)
    assert db.next_id(con, "customers") == counts["customers"] + 1
    assert db.next_id(con, "activities") == counts["activities"] + 1
