"""The shared-pool screens as each role meets them (issue 10): a rep claims from the team pool and reads
why some were refused (daily cap, the former owner's waiting period); a manager splits the pool evenly
after a dry run that says which reps are skipped and why; the admin writes a reclaim rule; the reclaim
preview names each record with its reason, and the manager's "Run reclaim now" puts it back in the pool
with that reason; My day warns of customers about to return; a leaver's records go where the handover
and the deactivation say, per kind. Every pool page renders for rep, manager and admin in en and zh."""
from __future__ import annotations

import datetime as dt

import pytest

from core import customers, pool, settings
from core.context import utcnow
from tests.conftest import company_app, logged_in

POOL_PAGE = "views/pool.py"
LONG_AGO = 60  # days without a follow-up: past any reclaim rule of these tests


def page(username: str, path: str, lang: str | None = None):
    at = logged_in(username, lang).run().switch_page(path).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def view(at, name: str):
    at.button_group(key="pool_view").set_value(name).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def tick(at, names: list[str], column: str = "Name"):
    """Tick the rows of the (first) table whose `column` reads one of `names`, as a click would."""
    frame = at.dataframe[0]
    shown = frame.value[column].tolist()
    at.session_state[frame.key] = {"selection": {"rows": [shown.index(n) for n in names], "columns": []}}
    return at.run()


def button(at, text: str):
    return next(b for b in at.button if text in b.label)


def read(sql, params=None):
    from ui.db import database

    return database().cursor().execute(sql, params or []).fetchall()


def table(at, header: str):
    """The first table shown that has a column `header`, as a frame."""
    return next(d.value for d in at.dataframe if header in d.value.columns)


def shown_text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.success]
    parts += [w.value for w in at.warning] + [i.value for i in at.info] + [s.value for s in at.subheader]
    return "\n".join(parts).replace("\\", "")


def _idle(con, customer_id: int, days: int = LONG_AGO) -> None:
    """The customer was given to its rep and last followed up `days` ago (the clock moved on)."""
    then = utcnow() - dt.timedelta(days=days)
    con.execute("UPDATE customers SET last_activity_at = ?, assigned_at = ? WHERE id = ?", [then, then, customer_id])


@pytest.fixture
def pool_db(tmp_path):
    def prepare(con, company):
        boss = company.actor("boss", utcnow())
        settings.set_value(con, boss, "pool.daily_claim_cap", 2)
        company.pool = {}
        for i in range(1, 6):
            company.pool[i] = customers.create_customer(
                con, boss, {"name": f"Pool east {i}"}, owner_id=None, team_id=company.teams["east"])
        # rep_a gave one customer back this morning: the waiting period keeps it from being claimed back at once
        pool.release(con, company.actor("rep_a", utcnow() - dt.timedelta(minutes=5)), [company.customers["rep_a"]])

    with company_app(tmp_path, prepare) as company:
        yield company


def test_a_rep_claims_from_the_team_pool_and_reads_why_some_were_refused(pool_db):
    company = pool_db
    at = page("rep_a", POOL_PAGE)
    assert at.selectbox(key="pool_pick").value == company.teams["east"]
    assert "Claim up to 2 a day" in shown_text(at)
    rows = at.dataframe[0].value
    assert {"Customer of rep_a", "Pool east 1", "Pool customer east"} <= set(rows["Name"])
    assert "Pool customer west" not in set(rows["Name"])  # another team's pool is not theirs
    at = tick(at, ["Customer of rep_a", "Pool east 1", "Pool east 2", "Pool east 3"])
    assert not at.exception, at.exception
    button(at, "Claim 4").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("2 customers claimed" in s.value for s in at.success), [s.value for s in at.success]
    warning = "\n".join(w.value for w in at.warning).replace("\\", "")
    assert "2 not done" in warning
    assert "1 over your daily claim cap (2 a day)" in warning
    assert "1 you held before: a former owner waits 7 days" in warning
    mine = read("SELECT name FROM customers WHERE owner_id = ? ORDER BY name", [company.users["rep_a"]])
    assert len(mine) == 2 and {n for (n,) in mine} <= {"Pool east 1", "Pool east 2", "Pool east 3"}
    assert read("SELECT owner_id FROM customers WHERE id = ?", [company.customers["rep_a"]]) == [(None,)]
    # the claimed ones left the list; "My customers" holds them, with release and lock
    assert len(at.dataframe[0].value) == 7 - 2
    at = view(at, "mine")
    assert sorted(at.dataframe[0].value["Name"]) == sorted(n for (n,) in mine)


def test_a_rep_is_refused_in_chinese_too(pool_db):
    at = page("rep_a", POOL_PAGE, lang="zh")
    assert at.title[0].value == "公海"
    at = tick(at, ["Customer of rep_a"], column="名称")
    button(at, "领取 1 个").click()
    at.run()
    assert not at.exception and not at.error
    assert "原负责人需等待 7 天" in "\n".join(w.value for w in at.warning)


def test_a_manager_splits_the_pool_after_a_dry_run_that_says_who_is_skipped_and_why(pool_db):
    company = pool_db
    at = page("mgr", POOL_PAGE)
    assert at.selectbox(key="pool_pick").value == company.teams["east"]
    at.multiselect(key="pool_split_teams").set_value([company.teams["east"]]).run()
    assert at.radio(key="pool_split_what").value == "pool"
    assert at.checkbox(key="pool_split_skip").value is True  # the setting's default
    at.button(key="pool_split_dry").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "The plan (nothing has moved yet)" in shown_text(at)
    assert read("SELECT count(*) FROM customers WHERE team_id = ? AND owner_id IS NULL",
                [company.teams["east"]]) == [(7,)]  # a dry run moves nothing
    at.checkbox(key="pool_split_skip").uncheck().run()
    at.button(key="pool_split_dry").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    per_rep = next(d.value for d in at.dataframe if list(d.value.columns) == ["Rep", "Records"])
    counts = dict(zip(per_rep["Rep"], per_rep["Records"]))
    assert sum(counts.values()) == 7 and set(counts) == {"REP_A (East)", "REP_B (East)"}
    assert abs(counts["REP_A (East)"] - counts["REP_B (East)"]) <= 1
    assert read("SELECT count(*) FROM customers WHERE team_id = ? AND owner_id IS NULL",
                [company.teams["east"]]) == [(7,)]
    at.button(key="pool_split_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("7 customers assigned; 0 stay in the pool" in s.value for s in at.success), [s.value for s in at.success]
    assert read("SELECT count(*) FROM customers WHERE team_id = ? AND owner_id IS NULL",
                [company.teams["east"]]) == [(0,)]
    at = view(at, "log")
    log = at.dataframe[0].value
    assert log.iloc[0]["What"] == "even split" and log.iloc[0]["Assigned"] == 7


def test_the_first_dry_run_names_the_skipped_reps_and_why_records_stay(pool_db):
    company = pool_db
    at = page("mgr", POOL_PAGE)
    at.multiselect(key="pool_split_teams").set_value([company.teams["east"]]).run()
    at.button(key="pool_split_dry").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    frames = [d.value for d in at.dataframe]
    # rep_b still holds a raw customer nobody followed up since it was given: skipped (the setting's default);
    # rep_a gave theirs back to the pool this morning, so everything would go to rep_a
    skipped = next(f for f in frames if list(f.columns) == ["Rep", "Reason"])
    assert dict(zip(skipped["Rep"], skipped["Reason"])) == {"REP_B (East)": "still has untouched new customers"}
    per_rep = next(f for f in frames if list(f.columns) == ["Rep", "Records"])
    assert dict(zip(per_rep["Rep"], per_rep["Records"])) == {"REP_A (East)": 7}
    # with a cap of 5 for rep_a, what cannot be placed stays in the pool, and the plan says why
    read("UPDATE users SET customer_cap = 5 WHERE id = ?", [company.users["rep_a"]])
    at.button(key="pool_split_dry").click().run()
    frames = [d.value for d in at.dataframe]
    per_rep = next(f for f in frames if list(f.columns) == ["Rep", "Records"])
    assert dict(zip(per_rep["Rep"], per_rep["Records"])) == {"REP_A (East)": 5}
    stays = next(f for f in frames if list(f.columns) == ["Reason", "Records"])
    assert dict(zip(stays["Reason"], stays["Records"])) == {"every rep is at their customer cap": 2}
    assert [m.value for m in at.metric][-1] == "2"  # left in the pool


@pytest.fixture
def idle_db(tmp_path):
    def prepare(con, company):
        _idle(con, company.customers["rep_a"])

    with company_app(tmp_path, prepare) as company:
        yield company


def test_the_preview_names_the_record_and_its_reason_and_the_run_puts_it_back_in_the_pool(idle_db):
    company = idle_db
    rep = view(page("rep_a", POOL_PAGE), "preview")
    rows = table(rep, "Reason")
    assert "Customer of rep_a" in set(rows["Name"])
    row = rows[rows["Name"] == "Customer of rep_a"].iloc[0]
    assert row["Reason"] == "No follow-up" and "no follow-up for 10 working days" in row["Detail"]
    per_rep = table(rep, "Reasons")
    assert dict(zip(per_rep["Rep"], per_rep["Records"]))["REP_A"] == 1
    assert not [b for b in rep.button if b.label == "Run reclaim now"]  # reps do not run it

    at = view(page("mgr", POOL_PAGE), "preview")
    assert "Customer of rep_a" in set(table(at, "Reason")["Name"])
    button(at, "Run reclaim now").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Reclaim done: 1 customer went back to its pool" in s.value for s in at.success)
    moved = table(at, "Former owner")
    assert moved.iloc[0]["Name"] == "Customer of rep_a" and moved.iloc[0]["Former owner"] == "REP_A"
    assert read("SELECT owner_id, pool_reason FROM customers WHERE id = ?", [company.customers["rep_a"]]) == [
        (None, "reclaim")]
    assert read("SELECT reason, detail FROM pool_moves WHERE customer_id = ? ORDER BY id DESC LIMIT 1",
                [company.customers["rep_a"]])[0][0] == "reclaim"
    at = view(at, "pool")
    back = at.dataframe[0].value
    assert back[back["Name"] == "Customer of rep_a"].iloc[0]["Why in the pool"] == "Reclaimed"


def test_my_day_lists_the_customers_about_to_return_to_the_pool(idle_db):
    at = logged_in("rep_a").run()
    assert not at.exception and not at.error
    text = shown_text(at)
    assert "Customers about to return to the pool (1)" in text
    assert "Goes back at the next run" in text and "no follow-up for 10 working days" in text
    links = [el for el in at.get("page_link")]
    assert any("Customer of rep" in el.proto.label and el.proto.page.endswith("customers")
               or "Customer of rep" in el.proto.label for el in links)
    assert not any("about to return" in s for s in shown_text(logged_in("rep_b").run()).splitlines())


def test_the_admin_writes_a_reclaim_rule_for_a_level(pool_db):
    at = page("boss", "views/admin_pool.py")
    assert "No rule yet" in shown_text(at)
    assert at.selectbox(key="ap_rule_pick").value is None  # a new rule
    at.selectbox(key="ap_r_level").set_value("A")
    at.radio(key="ap_r_combine").set_value("all")
    at.number_input(key="ap_r_no_followup_days").set_value(5)
    at.checkbox(key="ap_r_on_no_deal_days").check()
    at.number_input(key="ap_r_no_deal_days").set_value(20)
    save = next(b for b in at.button if b.label == "Save" and b.proto.form_id == "ap_rule_None")
    save.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert read("SELECT level, combine, no_followup_days, no_deal_days, not_won_days, active FROM reclaim_rules "
                "WHERE deleted_at IS NULL") == [("A", "all", 5, 20, None, True)]
    rules = table(at, "Conditions combine")
    assert rules.iloc[0]["Level"] == "A - key account" and rules.iloc[0]["Conditions combine"] == "All (AND)"


def test_the_admin_changes_a_pool_setting(pool_db):
    at = page("boss", "views/admin_pool.py")
    at.number_input(key="ap_pool.daily_claim_cap").set_value(30)
    next(b for b in at.button if b.label == "Save" and b.proto.form_id == "ap_settings").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert read("SELECT value FROM settings WHERE key = 'pool.daily_claim_cap'") == [("30",)]


@pytest.mark.parametrize("username", ["rep_a", "mgr", "boss"])
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_pool_page_renders_for_each_role_in_both_languages(idle_db, username, lang):
    at = logged_in(username, lang).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    pages = [POOL_PAGE] + (["views/pool_dashboard.py"] if username != "rep_a" else []) + (
        ["views/admin_pool.py"] if username == "boss" else [])
    for path in pages:
        at.switch_page(path).run()
        assert not at.exception, (path, at.exception)
        assert not at.error, (path, [e.value for e in at.error])
        if path == POOL_PAGE:
            for name in ("mine", "preview") + (("log",) if username != "rep_a" else ()):
                view(at, name)
    if lang == "zh":
        at.switch_page(POOL_PAGE).run()
        assert at.title[0].value == "公海"


def test_the_pool_dashboard_shows_held_against_cap_per_rep(idle_db):
    at = page("mgr", "views/pool_dashboard.py")
    reps = table(at, "Cap")
    assert set(reps["Rep"]) >= {"REP_A", "REP_B", "REP_SH"} and "REP_W" not in set(reps["Rep"])
    assert reps[reps["Rep"] == "REP_A"].iloc[0]["Held"] == 1 and reps[reps["Rep"] == "REP_A"].iloc[0]["Cap"] == 200
    assert at.get("plotly_chart")


@pytest.fixture
def leaver_db(tmp_path):
    def prepare(con, company):
        con.execute("INSERT INTO tasks (id, title, assignee_id, team_id, created_at) VALUES (901, 'Call back', ?, ?, ?)",
                    [company.users["rep_a"], company.teams["east"], utcnow()])

    with company_app(tmp_path, prepare) as company:
        yield company


def test_the_handover_sends_each_kind_where_the_manager_says(leaver_db):
    company = leaver_db
    rep_a, rep_b = company.users["rep_a"], company.users["rep_b"]
    at = page("mgr", "views/handover.py")
    at.selectbox(key="ho_from_0").set_value(rep_a).run()
    assert not [b for b in at.button if b.label.startswith("Hand over")]  # nowhere chosen yet: no button
    at.selectbox(key=f"ho_dest_0_{rep_a}_None_customers").set_value("pool").run()
    at.selectbox(key=f"ho_dest_0_{rep_a}_None_tasks").set_value(rep_b).run()
    button(at, "Hand over 2 records").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("2 records of REP\\_A handed over" in s.value for s in at.success), [s.value for s in at.success]
    assert read("SELECT owner_id, team_id, pool_reason FROM customers WHERE id = ?", [company.customers["rep_a"]]) == [
        (None, company.teams["east"], "handover")]
    assert read("SELECT assignee_id FROM tasks WHERE id = 901") == [(rep_b,)]


def test_deactivating_a_user_who_holds_records_asks_where_they_go_first(leaver_db):
    company = leaver_db
    rep_a = company.users["rep_a"]
    at = page("boss", "views/admin_users.py")
    frame = at.dataframe[0]
    at.session_state[frame.key] = {"selection": {"rows": [frame.value["Username"].tolist().index("rep_a")],
                                                 "columns": []}}
    at.run()
    next(c for c in at.checkbox if c.label == "Active").uncheck()
    next(b for b in at.button if b.label == "Save" and b.proto.form_id == f"edit_user_{rep_a}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert read("SELECT active FROM users WHERE id = ?", [rep_a]) == [(True,)]  # not yet: where do things go?
    assert "Deactivate REP_A: where do their records go?" in shown_text(at)
    counts = table(at, "How many")
    assert dict(zip(counts.iloc[:, 0], counts.iloc[:, 1]))["Customers"] == 1
    go = next(b for b in at.button if b.label.startswith("Deactivate and hand over"))
    assert go.disabled  # every kind needs a destination
    at.selectbox(key=f"users_leaving_{rep_a}_customers").set_value("pool").run()
    at.selectbox(key=f"users_leaving_{rep_a}_tasks").set_value(company.users["rep_b"]).run()
    button(at, "Deactivate and hand over 2 records").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert read("SELECT active FROM users WHERE id = ?", [rep_a]) == [(False,)]
    assert read("SELECT owner_id, pool_reason FROM customers WHERE id = ?", [company.customers["rep_a"]]) == [
        (None, "handover")]
    assert read("SELECT assignee_id FROM tasks WHERE id = 901") == [(company.users["rep_b"],)]
    assert any("REP\\_A deactivated; 2 records handed over" in s.value for s in at.success)



def test_the_admin_sets_a_reps_cap_and_hides_the_phone_of_a_pool(pool_db):
    company = pool_db
    rep_a, east = company.users["rep_a"], company.teams["east"]
    at = page("boss", "views/admin_pool.py")
    at.selectbox(key="ap_cap_user").set_value(rep_a).run()
    [cap] = [n for n in at.number_input if n.label == "Customer cap" and n.proto.form_id == f"ap_user_cap_{rep_a}"]
    cap.set_value(150)
    next(b for b in at.button if b.label == "Save" and b.proto.form_id == f"ap_user_cap_{rep_a}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert read("SELECT customer_cap FROM users WHERE id = ?", [rep_a]) == [(150,)]
    caps = table(at, "Cap in force")
    assert caps[caps["Rep"] == "REP_A"].iloc[0]["Cap in force"] == 150

    at.selectbox(key="ap_pool").set_value(east).run()
    [hide] = [m for m in at.multiselect if m.proto.form_id == f"ap_hidden_{east}"]
    hide.set_value(["phone"])
    next(b for b in at.button if b.label == "Save" and b.proto.form_id == f"ap_hidden_{east}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    # a rep of East now reads the pool's phones masked
    rep = page("rep_b", POOL_PAGE)
    rows = rep.dataframe[0].value
    assert rows[rows["Name"] == "Pool customer east"].iloc[0]["Phone"] == "138****0004"


def test_a_rep_locks_a_customer_and_the_preview_no_longer_takes_it(idle_db):
    company = idle_db
    at = view(page("rep_a", POOL_PAGE), "mine")
    at = tick(at, ["Customer of rep_a"])
    button(at, "Lock 1").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("1 customer locked against reclaim" in s.value for s in at.success), [s.value for s in at.success]
    assert read("SELECT locked_at IS NOT NULL FROM customers WHERE id = ?", [company.customers["rep_a"]]) == [(True,)]
    at = view(at, "preview")
    assert "Nothing would be reclaimed on that day." in shown_text(at)


def test_a_manager_moves_the_excess_over_the_cap_back_to_the_pool(pool_db):
    company = pool_db
    rep_b = company.users["rep_b"]
    read("UPDATE customers SET owner_id = ?, pool_since = NULL WHERE name IN ('Pool east 1', 'Pool east 2')", [rep_b])
    read("UPDATE users SET customer_cap = 1 WHERE id = ?", [rep_b])  # rep_b now holds 3 with a cap of 1
    at = page("mgr", POOL_PAGE)
    at.button(key="pool_excess_dry").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    plan = next(d.value for d in at.dataframe if list(d.value.columns) == ["Rep", "Records"])
    assert dict(zip(plan["Rep"], plan["Records"])) == {"REP_B (East)": 2}
    assert read("SELECT count(*) FROM customers WHERE owner_id = ?", [rep_b]) == [(3,)]  # nothing moved yet
    button(at, "Move 2 to the pool").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("2 customers moved back to the pool" in s.value for s in at.success)
    assert read("SELECT count(*) FROM customers WHERE owner_id = ?", [rep_b]) == [(1,)]


def test_the_admin_adds_a_member_from_another_team_who_then_claims_there(pool_db):
    company = pool_db
    west, rep_a = company.teams["west"], company.users["rep_a"]
    at = page("boss", "views/admin_pool.py")
    at.selectbox(key="ap_pool").set_value(west).run()
    [who] = [s for s in at.selectbox if s.proto.form_id == f"ap_member_{west}"]
    who.set_value(rep_a)
    next(b for b in at.button if b.label == "Save" and b.proto.form_id == f"ap_member_{west}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    members = table(at, "Role in the pool")
    assert members.iloc[0]["Name"] == "REP_A" and members.iloc[0]["Role in the pool"] == "Member"
    rep = page("rep_a", POOL_PAGE)
    rep.selectbox(key="pool_pick").set_value(west).run()
    assert "Pool customer west" in set(rep.dataframe[0].value["Name"])
    assert [b for b in rep.button if b.label.startswith("Claim")]  # a member claims there
