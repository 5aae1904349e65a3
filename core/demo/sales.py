"""Sales: the catalogue, customers, deals with their lines and stage history (and the renewals), leads,
contacts, activities, ownership and the pools, orders with payment plans and payments, the won hand-off,
tasks, targets, pool moves and the phone / duplicate / search keys."""
from __future__ import annotations

import calendar
import math
import time
from datetime import date, datetime, timedelta

import numpy as np
import polars as pl

from core.demo.common import (BRAND_A, BRAND_B, CITIES, DAY, EN_ADJ, EN_NOUN, EN_SUFFIX, HOUR, N_SOLD, PRODUCTS,
                              SECTORS, SOURCES, SUPPORT_PLAN, US, ZH_SUFFIX, Base, _by_time, _date, _float, _int,
                              _pick, _ts, _where, last_timings)
from core.demo.org import TEAM_CITY_BIAS

# the two pipelines (migrations 002 and 006): stage codes, default probabilities; a deal's stage index
# points into STAGES
PIPELINE = ["prospecting", "qualification", "proposal", "negotiation", "won", "lost"]
RENEWAL = ["renew_review", "renew_quote", "renew_commit", "renew_won", "renew_lost"]
STAGES = PIPELINE + RENEWAL
PROBABILITY = [10, 25, 50, 75, 100, 0, 40, 60, 85, 100, 0]
RENEWALS_PIPELINE_ID = 2
WON_REASONS = ["Product fit", "Competitive price", "Relationship", "Service quality", "Brand reputation"]
LOST_REASONS = [("price", 0.27), ("competitor", 0.22), ("no_decision", 0.17), ("no_budget", 0.14),
                ("timing", 0.10), ("features", 0.07), ("other", 0.03)]     # codes of the option list
COMPETITORS = ["Salesforce", "纷享销客", "销售易", "HubSpot", "Zoho CRM", "悟空CRM", "用友", "金蝶"]
NEXT_STEPS = ["Send revised quotation", "Schedule product demo", "Meet the decision maker", "Prepare contract draft",
              "Call back after budget review", "安排现场演示", "发送报价单", "约见决策人", "准备合同"]
PAY_METHODS = ["bank_transfer", "alipay", "wechat_pay", "card"]
PROMISES = ["Free onboarding training for 5 users", "Dedicated account manager for the first year",
            "Data migration from the old system included", "首月免费上门培训", "专属客服经理", "三个月内完成系统对接"]
HANDOFF_NOTES = ["Customer wants to go live before month end", "IT contact is the main user", "付款按合同分期",
                 "客户对报表功能要求较高", None, None]
CUSTOMER_STAGES = ["raw", "unknown", "potential", "intent", "opportunity", "won", "upgrade"]
TITLES = ["总经理", "采购经理", "销售总监", "技术总监", "IT经理", "财务经理", "行政主管", "运营经理",
          "CEO", "Purchasing Manager", "IT Director", "CFO", "Operations Manager", "Office Manager"]
ACT_KINDS = ["call", "visit", "email", "message", "note"]
ACT_SUBJECTS = {
    "call": ["Follow-up call", "Intro call", "Pricing discussion", "Check-in call", "电话回访", "电话沟通需求"],
    "visit": ["On-site visit", "Product demo on site", "上门拜访", "现场演示"],
    "email": ["Sent product brochure", "Follow-up email", "Sent case study", "发送产品资料"],
    "message": ["WeChat follow-up", "WeChat: shared price list", "微信沟通", "微信发送方案"],
    "note": ["Internal note", "Meeting notes", "客户背景备注", "Account review"],
}
ACT_OUTCOMES = {
    "call": ["connected", "no_answer", "busy", "callback", "interested", "not_interested"],
    "visit": ["met decision maker", "demo done", "needs follow-up"],
    "email": ["sent", "replied"],
    "message": ["sent", "replied", "read"],
    "note": [None],
}
STAGE_ACTIVITY = {  # activity recorded with each pipeline step: (kind, subject)
    "prospecting": ("call", "Intro call: needs and budget"), "qualification": ("visit", "Qualification meeting"),
    "proposal": ("email", "Sent proposal and quotation"), "negotiation": ("visit", "Negotiation meeting"),
    "won": ("note", "Contract signed"), "lost": ("note", "Deal lost"),
    "renew_review": ("call", "Renewal check-in call"), "renew_quote": ("email", "Sent renewal quotation"),
    "renew_commit": ("call", "Renewal verbally confirmed"), "renew_won": ("note", "Renewal contract signed"),
    "renew_lost": ("note", "Customer did not renew"),
}
RECENT_TOUCH_DAYS = 13               # every worked customer a rep holds was touched within this many days
TASK_TITLES = ["Call back", "Send quotation", "Prepare contract", "Schedule demo", "Collect payment",
               "Renewal check", "回访客户", "发送报价单"]


class Sales(Base):
    def products(self) -> None:
        k = len(PRODUCTS)
        self.price = np.array([p[4] for p in PRODUCTS], float)
        created = self.clock.start_us - 300 * DAY
        # the discontinued one was switched off half a year ago
        updated = [created if p[5] > 0 else self.clock.now_us - 180 * DAY for p in PRODUCTS]
        self.load("products", pl.DataFrame({
            "id": _int(np.arange(1, k + 1)),
            "code": pl.Series([p[0] for p in PRODUCTS]),
            "name": pl.Series([p[1] for p in PRODUCTS]),
            "name_zh": pl.Series([p[2] for p in PRODUCTS]),
            "series": pl.Series([p[3] for p in PRODUCTS]),
            "list_price": _float(self.price),
            "active": pl.Series([p[5] > 0 for p in PRODUCTS]),
            "created_at": _ts([created] * k),
            "updated_at": _ts(updated),
        }))

    # ------------------------------------------------------------------ customers (first part)
    def customers_base(self) -> None:
        n, rng, c = self.n, self.rng, self.clock
        # team: sales teams by their rep counts, a few in the new-hire group's pool
        team_w = np.array([len(self.reps_by_team[t]) for t in self.sales_team_ids], float)
        team_w = np.append(team_w / team_w.sum() * 0.97, 0.03)
        team_ids = np.append(self.sales_team_ids, self.team_id["New hires"])
        team = team_ids[rng.choice(team_ids.size, n, p=team_w)]
        # city by the team's region
        prov, city, cpy = [], [], []
        city_idx = np.zeros(n, np.int64)
        offset = 0
        regions = ["East", "North", "South", "West"]
        region_by_team = np.array([""] + [self.team_region.get(t, "") for t in range(1, len(self.team_id) + 1)])
        region_of = region_by_team[team]
        newbie = team == self.team_id["New hires"]
        region_of[newbie] = np.array(regions)[rng.integers(0, 4, int(newbie.sum()))]
        for reg in regions:
            rows = CITIES[reg]
            prov += [r[0] for r in rows]
            city += [r[1] for r in rows]
            cpy += [r[2] for r in rows]
            w = np.array([r[3] for r in rows], float)
            m = region_of == reg
            city_idx[m] = offset + rng.choice(len(rows), int(m.sum()), p=w / w.sum())
            for team_id in self.sales_team_ids:     # a city team (and its squads) sells mostly in its city
                bias = TEAM_CITY_BIAS.get(self.team_base[team_id])
                if bias is None or self.team_region[team_id] != reg:
                    continue
                mt = m & (team == team_id)
                pb = np.array([bias.get(r[1], 0.0) for r in rows])
                city_idx[mt] = offset + rng.choice(len(rows), int(mt.sum()), p=pb / pb.sum())
            offset += len(rows)
        self.cust_team = team

        kind_company = rng.random(n) < 0.6
        # companies: Chinese or English names
        zh_co = rng.random(n) < 0.72
        sector = self.choose([(s[0], s[1]) for s in SECTORS], n)
        words = [(si, w) for si, s in enumerate(SECTORS) for w in s[2]]
        word_start = np.cumsum([0] + [len(s[2]) for s in SECTORS])[:-1]
        word_count = np.array([len(s[2]) for s in SECTORS])
        word = word_start[sector] + rng.integers(0, 1 << 30, n) % word_count[sector]
        a = rng.integers(0, len(BRAND_A), n)
        b = rng.integers(0, len(BRAND_B), n)
        zs = self.choose(ZH_SUFFIX, n)
        adj = rng.integers(0, len(EN_ADJ), n)
        noun = rng.integers(0, len(EN_NOUN), n)
        es = self.choose(EN_SUFFIX, n)
        brand_py = _pick([x[1] for x in BRAND_A], a) + _pick([x[1] for x in BRAND_B], b)
        zh_company = (_pick(city, city_idx) + _pick([x[0] for x in BRAND_A], a) + _pick([x[0] for x in BRAND_B], b)
                      + _pick([w[1][0] for w in words], word) + _pick([s[0] for s in ZH_SUFFIX], zs))
        en_company = (_pick(EN_ADJ, adj) + " " + _pick(EN_NOUN, noun) + " " + _pick([w[1][2] for w in words], word)
                      + " " + _pick([s[0] for s in EN_SUFFIX], es))
        zh_domain = brand_py + _pick([w[1][1] for w in words], word) + "-" + _pick(cpy, city_idx) + ".com"
        en_domain = (_pick([x.lower() for x in EN_ADJ], adj) + _pick([x.lower() for x in EN_NOUN], noun)
                     + ".com")
        company = _where(zh_co, zh_company, en_company)
        domain = _where(zh_co, zh_domain, en_domain)
        self.cust_domain = domain
        # people
        pname, gender, local, pzh = self.person_names(n, 0.78)
        self.cust_zh = np.where(kind_company, zh_co, pzh)
        mail_dom = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com"]
        md = rng.choice(len(mail_dom), n, p=[0.3, 0.28, 0.1, 0.12, 0.12, 0.08])
        person_mail = local + pl.Series(rng.integers(1, 1000, n)).cast(pl.String) + "@" + _pick(mail_dom, md)
        co_mail = _pick(["info", "sales", "contact", "service", "office"], rng.integers(0, 5, n)) + "@" + domain
        has_mail = rng.random(n) < 0.85
        email = _where(kind_company, co_mail, person_mail)
        email = _where(has_mail, email, pl.Series([None] * n, dtype=pl.String))
        name = _where(kind_company, company, pname)
        self.cust_name = name
        self.cust_company = kind_company
        self.cust_phone = self.phones(n)

        employees = np.clip(np.round(rng.lognormal(math.log(60), 1.4, n)), 3, 200_000).astype(np.int64)
        self.size_factor = np.where(kind_company, np.clip((employees / 50) ** 0.35, 0.5, 10), 0.35)
        revenue = np.round(employees * rng.lognormal(math.log(0.5), 0.5, n), 2)
        source = self.choose(SOURCES, n)
        self.cust_source = source
        # created: seasonal over the span; imported customers arrive in a handful of batches
        created_day = c.days(0, c.T, n)
        import_days = np.sort(rng.integers(0, c.T - 7, 6))
        imported = np.array([s[0] for s in SOURCES])[source] == "import"
        created_day[imported] = c.workday(import_days[rng.integers(0, 6, int(imported.sum()))], 1.0)
        created_us = c.past(c.at(created_day))
        self.cust_created = created_us
        self.cust_created_day = c.day_of(created_us)
        self.cust_sector = sector
        self.cust_base = {
            "name": name,
            "kind": pl.Series(np.where(kind_company, "company", "person")),
            "email": email,
            "gender": _pick(["m", "f"], (np.asarray(gender) == "f").astype(int), ~kind_company),
            "birth_year": _int(rng.integers(1962, 2004, n), ~kind_company),
            "industry": _pick([s[0] for s in SECTORS], sector, kind_company),
            "employees": _int(employees, kind_company),
            "annual_revenue": _float(revenue, kind_company),
            "year_established": _int(rng.integers(1985, 2024, n), kind_company),
            "country": pl.Series(["China"] * n),
            "province": _pick(prov, city_idx),
            "city": _pick(city, city_idx),
            "source": _pick([s[0] for s in SOURCES], source),
            "registered_on": _date(c.start_ep + self.cust_created_day),
        }
        # ids in the order customers were created, as a live system would have given them
        perm = np.argsort(created_us, kind="stable")
        for attr in ("cust_team", "cust_domain", "cust_zh", "cust_name", "cust_company", "cust_phone",
                     "size_factor", "cust_source", "cust_created", "cust_created_day", "cust_sector"):
            value = getattr(self, attr)
            setattr(self, attr, value.gather(perm) if isinstance(value, pl.Series) else value[perm])
        self.cust_base = {key: value.gather(perm) for key, value in self.cust_base.items()}
        # the rep who has worked each customer (weighted by activity rate)
        self.hist_rep = self.pick_rep(self.cust_team)

    # ------------------------------------------------------------------ deals and stage history
    def deals(self) -> None:
        n, rng, c = self.n, self.rng, self.clock
        nd = n // 2
        sales = self.cust_team != self.team_id["New hires"]
        w = np.where(sales & (rng.random(n) < 0.45), self.size_factor ** 0.5, 0.0)
        # the engagement day follows the calendar; the customer is one that existed by then
        engaged = c.days(0, c.T, nd)
        cust = self.pick_by_day(engaged, self.cust_created_day, w)     # 0-based customer index
        owner = self.hist_rep[cust]
        size = rng.lognormal(0, 0.7, nd)
        prod = self.choose([(p[0], p[5]) for p in PRODUCTS], nd)
        target = np.maximum(np.round(self.price[prod] * size * self.size_factor[cust], -2), 200)
        win_p = np.clip(0.27 * self.skill[owner] * np.where(target > 100_000, 0.75, 1.0), 0.05, 0.6)
        won = rng.random(nd) < win_p
        cycle = np.where(won, rng.lognormal(math.log(40), 0.6, nd), rng.lognormal(math.log(25), 0.8, nd))
        cycle = np.clip(np.round(cycle * self.speed[owner]), 1, 330).astype(np.int64)
        # deals that would close after today are open: the pipeline at "now" is what it was at any day
        # of the history (engaged at the same pace, each running its own cycle), close dates ahead
        is_open = engaged + cycle > c.T
        # the highest stage each deal reaches; open ones stand where their cycle has brought them today
        final = np.where(won, np.where(rng.random(nd) < 0.75, 4, 3), 1 + rng.choice(4, nd, p=[0.35, 0.3, 0.2, 0.15]))
        won &= ~is_open
        lost = ~is_open & ~won
        cycle = np.where(is_open, cycle, np.minimum(cycle, np.maximum(c.T - engaged, 0)))
        closed = c.workday(engaged + cycle)
        now_stage, steps = self._stage_now(final, engaged, cycle)
        top = np.where(is_open, now_stage, final)
        pipe = np.ones(nd, np.int64)
        # renewals: a year after a customer's first win, a share of subscriptions come up for renewal
        r = self._renewals(cust, prod, target, won, closed)
        cust, prod, target, won, lost, is_open, cycle, top, engaged, closed, pipe, steps = (
            np.concatenate([x, r[k]]) for x, k in ((cust, "cust"), (prod, "prod"), (target, "target"), (won, "won"),
                                                  (lost, "lost"), (is_open, "open"), (cycle, "cycle"), (top, "top"),
                                                  (engaged, "engaged"), (closed, "closed"), (pipe, "pipe"),
                                                  (steps, "steps")))
        nd = cust.size
        self.nd = nd
        renewal = pipe == RENEWALS_PIPELINE_ID
        owner = self.hist_rep[cust]
        team = self.cust_team[cust]
        # index into STAGES: the current stage of open deals, won or lost for the others
        stage_idx = np.where(renewal, np.where(won, 9, np.where(lost, 10, 5 + top)),
                             np.where(won, 4, np.where(lost, 5, top - 1)))
        created = self.cust_created[cust]
        engaged_us = np.maximum(c.past(np.maximum(c.at(engaged), created + 15 * 60 * US)), created)
        engaged = c.day_of(engaged_us)
        closed_us = np.maximum(c.past(np.maximum(c.at(closed), engaged_us + 30 * 60 * US)), engaged_us)
        end_us = np.where(is_open, np.maximum(c.past(np.full(nd, c.now_us)), engaged_us), closed_us)
        # ids in the order deals were engaged
        perm = np.argsort(engaged_us, kind="stable")
        (cust, owner, team, prod, target, won, lost, is_open, cycle, top, stage_idx, engaged, engaged_us,
         closed_us, end_us, pipe, renewal, steps) = (
            x[perm] for x in (cust, owner, team, prod, target, won, lost, is_open, cycle, top, stage_idx, engaged,
                              engaged_us, closed_us, end_us, pipe, renewal, steps))
        # stage history: the first stage always, intermediate stages sometimes skipped, the top stage, the
        # close (renewals have three open stages: column 3 stays unused)
        visited = np.zeros((nd, 5), bool)
        visited[:, 0] = True
        keep = rng.random((nd, 3)) < 0.85
        for j in (1, 2, 3):
            visited[:, j] = (top > j) & (keep[:, j - 1] | (top == j + 1))
        visited[:, 4] = ~is_open
        # intermediate steps on office hours of working days between the start and the end
        span_days = c.day_of(end_us) - engaged
        step_day = engaged[:, None] + np.floor(rng.random((nd, 3)) * (span_days[:, None] + 1)).astype(np.int64)
        # open deals: the steps at their moments of the cycle (those taken lie before today)
        step_day = np.where(is_open[:, None], engaged[:, None] + np.floor(steps * cycle[:, None]).astype(np.int64),
                            step_day)
        step_day = c.workday(step_day.ravel()).reshape(nd, 3)
        step_us = np.sort(c.at(step_day.ravel()).reshape(nd, 3), axis=1)
        times = np.empty((nd, 5), np.int64)
        times[:, 0] = engaged_us
        times[:, 1:4] = np.clip(step_us, engaged_us[:, None], end_us[:, None])
        times[:, 4] = closed_us
        prev_t = times[:, 0].copy()
        for j in range(1, 5):           # strictly increasing along the path (ties would blur the order)
            times[:, j] = np.where(visited[:, j], np.maximum(times[:, j], prev_t + US), times[:, j])
            prev_t = np.where(visited[:, j], times[:, j], prev_t)
        closed_us = np.where(is_open, closed_us, times[:, 4])
        code = np.empty((nd, 5), np.int64)
        code[:, :4] = np.where(renewal[:, None], np.array([6, 7, 8, 8]), np.arange(4))
        code[:, 4] = np.where(renewal, np.where(won, 9, 10), np.where(won, 4, 5))
        di, sj = np.nonzero(visited)                      # row-major: by deal, then by step
        to_code = code[di, sj]
        prev = np.roll(to_code, 1)
        first_row = np.ones(di.size, bool)
        first_row[1:] = di[1:] != di[:-1]
        changed = times[di, sj]
        self.load("deal_stage_history", _by_time(pl.DataFrame({
            "id": _int(np.arange(1, di.size + 1)),
            "deal_id": _int(di + 1),
            "from_stage": _pick(STAGES, prev, ~first_row),
            "to_stage": _pick(STAGES, to_code),
            "changed_at": _ts(changed),
            "changed_by": _int(owner[di]),
        }), "changed_at"))
        self.hist = dict(deal=di, code=to_code, at=changed)
        last_change = np.zeros(nd, np.int64)
        np.maximum.at(last_change, di, changed)

        planned = np.round(cycle * rng.uniform(0.7, 1.3, nd)).astype(np.int64)
        # the close date the owner planned: about the deal's own cycle (open ones mostly in the coming
        # months, some already overdue)
        expected = engaged + np.maximum(planned, np.where(is_open, 7, 1))
        # deal lines from the catalogue: the amount is what the lines add up to
        lines, cents = self.make_lines(prod, target, np.where(renewal[:, None], [[0.6, 0.4, 0.0]],
                                                               [[0.5, 0.35, 0.15]]))
        self.load("deal_lines", pl.DataFrame({
            "id": _int(np.arange(1, lines["row"].size + 1)),
            "deal_id": _int(lines["row"] + 1),
            "position": _int(lines["pos"]),
            "product_id": _int(lines["prod"] + 1),
            "quantity": _float(lines["qty"]),
            "unit_price": _float(lines["unit"]),
            "discount": _float(lines["disc"]),
            "amount": _float(lines["cents"] / 100),
        }))
        self.deal_line_rows = lines
        self.d = dict(cust=cust, owner=owner, team=team, prod=prod, amount=cents / 100, won=won, lost=lost,
                      open=is_open, engaged=engaged, engaged_us=engaged_us, closed_us=closed_us,
                      stage=stage_idx, expected=expected, last_change=last_change, pipe=pipe)

    def _renewals(self, cust, prod, target, won, closed) -> dict:
        """Renewal deals (pipeline 2) of customers whose first win is about a year old: a share of them
        come up for renewal; the subscription renews (or the support plan for one-off purchases)."""
        n, rng, c = self.n, self.rng, self.clock
        wi = np.nonzero(won)[0]
        wi = wi[np.lexsort((closed[wi], cust[wi]))]
        firsts = wi[np.r_[True, cust[wi][1:] != cust[wi][:-1]]] if wi.size else wi
        day = closed[firsts] + rng.integers(330, 356, firsts.size)
        take = (day <= c.T - 1) & (rng.random(firsts.size) < 0.6)
        cycle = np.clip(np.round(rng.lognormal(math.log(25), 0.5, firsts.size)
                                 * self.speed[self.hist_rep[cust[firsts]]]), 3, 120).astype(np.int64)
        f = firsts[take]
        day = day[take]
        cycle = cycle[take]
        k = f.size
        r_cust = cust[f]
        owner = self.hist_rep[r_cust]
        renews = np.isin(prod[f], [0, 1, 2, 3, 4, SUPPORT_PLAN])
        r_prod = np.where(renews, prod[f], SUPPORT_PLAN)
        r_target = np.maximum(np.round(np.where(renews, target[f], self.price[SUPPORT_PLAN] * self.size_factor[r_cust])
                                       * rng.uniform(0.9, 1.25, k), -2), 200)
        r_won = rng.random(k) < np.clip(0.72 * self.skill[owner] ** 0.5, 0.4, 0.92)
        r_open = day + cycle > c.T
        final = np.where(r_won, np.where(rng.random(k) < 0.75, 3, 2), 1 + rng.choice(3, k, p=[0.45, 0.4, 0.15]))
        r_won &= ~r_open
        r_lost = ~r_open & ~r_won
        now_stage, steps = self._stage_now(final, day, cycle)
        top = np.where(r_open, now_stage, final)
        return dict(cust=r_cust, prod=r_prod, target=r_target, won=r_won, lost=r_lost, open=r_open, cycle=cycle,
                    top=top, engaged=day, closed=c.workday(day + cycle), pipe=np.full(k, RENEWALS_PIPELINE_ID),
                    steps=steps)

    def _stage_now(self, final: np.ndarray, engaged: np.ndarray, cycle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where an open deal stands today: it steps up to the highest stage it will reach at moments spread
        over its cycle (sorted fractions, returned), and the steps before today have happened."""
        steps = np.sort(self.rng.random((final.size, 3)), axis=1)
        elapsed = (self.clock.T - engaged) / np.maximum(cycle, 1)
        taken = (steps < elapsed[:, None]) & (np.arange(3)[None, :] < (final - 1)[:, None])
        return 1 + taken.sum(axis=1), steps

    def make_lines(self, prod: np.ndarray, target: np.ndarray, p_lines) -> tuple[dict, np.ndarray]:
        """One to three catalogue lines per row: the row's product first, other products on sale after
        it; whole-yuan unit prices at or a little under the list price, whole quantities sized to the
        target amount, a discount on some lines. Returns the lines (row, pos, prod, qty, unit, disc,
        cents) and each row's total in cents: line amount = quantity x unit price x (1 - discount/100),
        exact in cents, so the lines add up to the total exactly."""
        rng = self.rng
        k = prod.size
        p_lines = np.broadcast_to(np.asarray(p_lines, float), (k, 3))
        m = 1 + (rng.random(k)[:, None] > np.cumsum(p_lines, axis=1)[:, :2]).sum(axis=1)
        share1 = np.where(m == 1, 1.0, rng.uniform(0.55, 0.9, k))
        split = rng.uniform(0.3, 0.7, k)
        rest = 1 - share1
        want = target[:, None] * np.stack([share1, np.where(m == 2, rest, rest * split),
                                           np.where(m == 3, rest * (1 - split), 0.0)], axis=1)
        # lines 2 and 3: another product on sale whose list price fits the line's share
        by_price = np.argsort(self.price[:N_SOLD], kind="stable")
        fits = np.searchsorted(self.price[by_price], want[:, 1:] * 1.2, side="right")
        extra = by_price[np.minimum((rng.random((k, 2)) * fits).astype(np.int64), N_SOLD - 1)]
        prods = np.concatenate([prod[:, None], extra], axis=1)
        valid = np.arange(3)[None, :] < m[:, None]
        valid[:, 1:] &= fits > 0
        valid[:, 1] &= prods[:, 1] != prods[:, 0]
        valid[:, 2] &= (prods[:, 2] != prods[:, 0]) & ~(valid[:, 1] & (prods[:, 2] == prods[:, 1]))
        list_price = self.price[prods]
        want[:, 0] += np.where(valid, 0.0, want).sum(axis=1)     # a dropped line's share goes to the first
        factor = np.where(rng.random((k, 3)) < 0.7, 1.0, rng.uniform(0.85, 1.0, (k, 3)))
        unit = np.maximum(np.round(list_price * factor), 1).astype(np.int64)
        qty = np.maximum(np.round(want / unit), 1).astype(np.int64)
        disc = np.where(rng.random((k, 3)) < 0.25, np.array([5, 10, 15, 20])[rng.integers(0, 4, (k, 3))], 0)
        cents = np.where(valid, qty * unit * (100 - disc), 0)
        row, col = np.nonzero(valid)
        pos = np.cumsum(valid, axis=1)[row, col]
        lines = dict(row=row, pos=pos, prod=prods[row, col], qty=qty[row, col], unit=unit[row, col],
                     disc=disc[row, col], cents=cents[row, col])
        return lines, cents.sum(axis=1)

    def load_deals(self) -> None:
        rng, c, d = self.rng, self.clock, self.d
        nd = self.nd
        closed_day = c.day_of(d["closed_us"])
        renewal = d["pipe"] == RENEWALS_PIPELINE_ID
        is_open = d["open"]
        # lost: a reason code of the option list; a competitor named for most losses to one, some others
        reason = self.choose(LOST_REASONS, nd)
        named = d["lost"] & ((reason == 1) & (rng.random(nd) < 0.9) | (reason == 0) & (rng.random(nd) < 0.3))
        # open deals: a competitor known in some, a next step in most; a few owners set their own probability
        named |= is_open & (rng.random(nd) < 0.2)
        prob = np.array(PROBABILITY)[d["stage"]]
        own_prob = is_open & (rng.random(nd) < 0.1)
        prob = np.where(own_prob, np.clip(prob + rng.choice([-15, -10, 10, 15, 20], nd), 5, 95), prob)
        product = _pick([p[1] for p in PRODUCTS], d["prod"])
        name = _where(renewal, "Renewal: " + product, product)
        last_act = self.deal_last_act
        self.load("deals", pl.DataFrame({
            "id": _int(np.arange(1, nd + 1)),
            "name": name + " - " + self.cust_name.gather(_int(d["cust"])),
            "customer_id": _int(d["cust"] + 1),
            "contact_id": _int(self.primary_contact[d["cust"]], self.primary_contact[d["cust"]] > 0),
            "lead_id": _int(self.deal_lead, self.deal_lead > 0),
            "product_id": _int(d["prod"] + 1),
            "amount": _float(d["amount"]),
            "currency": pl.Series(["CNY"] * nd),
            "pipeline_id": _int(d["pipe"]),
            "stage": _pick(STAGES, d["stage"]),
            "probability": _int(prob),
            "probability_set": pl.Series(own_prob),
            "source": _pick([s[0] for s in SOURCES], self.cust_source[d["cust"]]),
            "engaged_on": _date(c.start_ep + d["engaged"]),
            "expected_close": _date(c.start_ep + d["expected"]),
            "closed_on": _date(c.start_ep + closed_day, ~is_open),
            "won_reason": _pick(WON_REASONS, rng.integers(0, len(WON_REASONS), nd), d["won"]),
            "lost_reason": _pick([r[0] for r in LOST_REASONS], reason, d["lost"]),
            "competitor": _pick(COMPETITORS, rng.integers(0, len(COMPETITORS), nd), named),
            "next_step": _pick(NEXT_STEPS, rng.integers(0, len(NEXT_STEPS), nd), is_open & (rng.random(nd) < 0.8)),
            "stage_changed_at": _ts(d["last_change"]),
            "last_activity_at": _ts(last_act, last_act > 0),
            "owner_id": _int(d["owner"]),
            "team_id": _int(d["team"]),
            "campaign_id": _int(self.deal_campaign, self.deal_campaign > 0),
            "created_by": _int(d["owner"]),
            "created_at": _ts(d["engaged_us"]),
            "updated_at": _ts(d["last_change"]),
        }))
        del self.hist

    # ------------------------------------------------------------------ customer stage, owner, pool
    def customer_stages(self) -> None:
        n, rng, c, d = self.n, self.rng, self.clock, self.d
        has_won = np.zeros(n, bool)
        has_won[d["cust"][d["won"]]] = True
        has_open = np.zeros(n, bool)
        has_open[d["cust"][d["open"]]] = True
        has_deal = np.zeros(n, bool)
        has_deal[d["cust"]] = True
        won_at = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(won_at, d["cust"][d["won"]], d["closed_us"][d["won"]])
        self.deal_end = np.zeros(n, np.int64)            # last pipeline change per customer
        np.maximum.at(self.deal_end, d["cust"], d["last_change"])
        stage = np.zeros(n, np.int64)
        r = rng.random(n)
        # no deals: raw / unknown / potential / intent, a few bought directly in the web shop
        stage[:] = np.select([r < 0.36, r < 0.57, r < 0.82, r < 0.94], [0, 1, 2, 3], 5)
        newbie = self.cust_team == self.team_id["New hires"]
        stage[newbie] = np.select([r[newbie] < 0.5, r[newbie] < 0.8], [0, 1], 2)
        lost_only = has_deal & ~has_won & ~has_open
        stage[lost_only] = np.select([r[lost_only] < 0.15, r[lost_only] < 0.6], [1, 2], 3)
        stage[has_open & ~has_won] = 4
        stage[has_won] = 5
        direct = (stage == 5) & ~has_won
        direct_day = c.days(self.cust_created_day[direct] + rng.integers(0, 60, int(direct.sum())), c.T)
        won_at[direct] = c.past(c.at(direct_day))
        won_at[direct] = np.maximum(won_at[direct], self.cust_created[direct] + HOUR)
        won_at[direct] = c.past(won_at[direct])
        self.is_won = stage >= 5
        self.won_at = np.where(self.is_won, won_at, 0)
        self.direct_buyer = direct
        self.has_open = has_open
        # the won hand-off: filled in after the first win; pending and submitted ones leave the customer
        # pending upgrade (待升级) until the admin approves
        self.plan_handoffs()
        h = self.ho
        stage[h["cust"][h["status"] < 2]] = 6
        self.cust_stage = stage

    def plan_handoffs(self) -> None:
        """Hand-offs of the customers first won in the last year (the process started then), most of
        them: filled in within days of the win, submitted by the manager days later, approved by the
        admin days after that; the latest still wait (pending: the manager, submitted: the admin)."""
        n, rng, c, d = self.n, self.rng, self.clock, self.d
        wi = np.nonzero(d["won"])[0]
        wi = wi[np.lexsort((d["closed_us"][wi], d["cust"][wi]))]
        firsts = wi[np.r_[True, d["cust"][wi][1:] != d["cust"][wi][:-1]]] if wi.size else wi
        age = c.now_us - d["closed_us"][firsts]
        take = (age <= 365 * DAY) & (rng.random(firsts.size) < np.where(age < 7 * DAY, 0.6, 0.9))
        deal = firsts[take]
        k = deal.size
        cust = d["cust"][deal]
        created = c.past(d["closed_us"][deal] + (rng.uniform(0.05, 3, k) * DAY).astype(np.int64))
        created = np.maximum(created, d["closed_us"][deal] + 60 * US)
        submitted = created + (rng.uniform(0.5, 8, k) * DAY).astype(np.int64)
        decided = submitted + (rng.uniform(0.5, 8, k) * DAY).astype(np.int64)
        recent = created > c.now_us - 60 * DAY
        stall1 = recent & (rng.random(k) < 0.1)
        stall2 = recent & (rng.random(k) < 0.1)
        status = np.where((submitted > c.now_us) | stall1, 0, np.where((decided > c.now_us) | stall2, 1, 2))
        # something to review for the demo: the newest hand-off of the demo manager's teams waits for the
        # manager, the newest other one for the admin
        order = np.argsort(-created, kind="stable")
        east = np.isin(self.cust_team[cust], [self.team_id["East"], self.team_id["East - Shanghai"]])
        east_rows = order[east[order]]
        if east_rows.size and not (status[east_rows] == 0).any():
            status[east_rows[0]] = 0
        if k and not (status == 0).any():
            status[order[0]] = 0
        if k > 1 and not (status == 1).any():
            later = order[status[order] == 2]
            status[later[0] if later.size else order[1]] = 1
        submitted = np.where(status >= 1, np.minimum(submitted, (created + c.now_us) // 2), 0)
        decided = np.where(status == 2, np.minimum(decided, (submitted + c.now_us) // 2), 0)
        self.ho = dict(cust=cust, deal=deal, status=status, created=created, submitted=submitted, decided=decided,
                       updated=np.maximum.reduce([created, submitted, decided]))
        self.handoff_touch = np.zeros(n, np.int64)
        self.handoff_touch[cust] = self.ho["updated"]

    def ownership(self) -> None:
        n, rng, c = self.n, self.rng, self.clock
        stage = self.cust_stage
        hist = self.hist_rep
        # not won: a share goes back to the pool at once (raw and unknown more often), then each rep
        # keeps the customers of highest priority up to the personal book size (< 200)
        drop_p = np.array([0.45, 0.35, 0.25, 0.1, 0.0, 0.0, 0.0])[stage]
        candidate = ~self.is_won & (rng.random(n) >= drop_p)
        # open deals first, then by stage; about eight freshly assigned, untouched (raw) ones per rep
        raw = candidate & (stage == 0)
        fresh_p = min(0.1, 8 * (self.rep_ids.size + self.new_hire_ids.size) / max(int(raw.sum()), 1))
        prio = np.where(stage == 4, 10.0, stage + rng.random(n)) + np.where(raw & (rng.random(n) < fresh_p), 3.5, 0.0)
        order = np.lexsort((-prio, hist))
        hs = hist[order]
        starts = np.r_[0, np.nonzero(hs[1:] != hs[:-1])[0] + 1]
        cand_sorted = candidate[order]
        # rank among candidates only
        csum = np.cumsum(cand_sorted)
        base = np.repeat(csum[starts] - cand_sorted[starts], np.diff(np.r_[starts, n]))
        crank = csum - base - 1
        owned_sorted = cand_sorted & (crank < self.book[hs])
        owned = np.zeros(n, bool)
        owned[order] = owned_sorted
        owned |= self.is_won
        self.owned = owned
        self.owner = np.where(owned, hist, 0)
        # pool: released some weeks after the last work on it; never-touched raw ones went straight in
        pool = ~owned
        base_us = np.maximum(self.cust_created, self.deal_end)
        delay = (rng.uniform(10, 90, n) * DAY).astype(np.int64)
        straight = (stage == 0) & (rng.random(n) < 0.7)
        pool_since = np.where(straight, self.cust_created, c.past(base_us + delay))
        self.pool_since = np.where(pool, np.maximum(pool_since, self.cust_created), 0)
        # assigned: won customers soon after creation, the others within the last months; a raw customer a rep
        # holds untouched came with a recent split (the rule book reclaims it after 10 working days untouched)
        recent = c.now_us - (np.where(stage == 0, rng.uniform(0.2, 12, n), rng.uniform(1, 150, n)) * DAY).astype(np.int64)
        assigned = np.where(self.is_won, self.cust_created + (rng.uniform(0.1, 3, n) * DAY).astype(np.int64),
                            np.maximum(self.cust_created, recent))
        self.assigned_at = np.where(owned, c.past(assigned), 0)

    # ------------------------------------------------------------------ leads
    def leads(self) -> None:
        n, rng, c = self.n, self.rng, self.clock
        nl = n // 5
        status_p = [("new", 0.22), ("contacted", 0.25), ("qualified", 0.10), ("converted", 0.20), ("invalid", 0.23)]
        status = self.choose(status_p, nl)
        eligible = np.nonzero((self.cust_source != 5) & (self.cust_created_day > 3))[0]
        conv_rows = np.nonzero(status == 3)[0]
        if conv_rows.size > eligible.size:          # tiny scales: fewer conversions
            status[conv_rows[eligible.size:]] = 1
            conv_rows = conv_rows[:eligible.size]
        conv_cust = np.sort(rng.choice(eligible, conv_rows.size, replace=False))
        converted = status == 3
        cust = np.zeros(nl, np.int64)
        cust[conv_rows] = conv_cust
        # dates: leads arrive at the calendar's pace (the same any week, this one included); what became
        # of a lead that did not convert depends on its age: new ones wait a few days to be worked, then
        # they are contacted, qualified or found invalid
        created_day = c.days(0, c.T, nl)
        age = c.T - created_day
        r = rng.random(nl)
        by_age = np.select([age <= 14, age <= 45, age <= 120],
                           [np.where(r < 0.8, 0, 1), np.select([r < 0.25, r < 0.6, r < 0.75], [0, 1, 2], 4),
                            np.select([r < 0.35, r < 0.5], [1, 2], 4)], np.select([r < 0.12, r < 0.17], [1, 2], 4))
        status = np.where(converted, 3, by_age)
        created_us = c.past(c.at(created_day))
        created_us[converted] = np.maximum(
            self.cust_created[conv_cust] - (rng.uniform(1, 30, conv_rows.size) * DAY).astype(np.int64), c.start_us)
        converted_at = np.where(converted, self.cust_created[cust], 0)
        # team and owner
        team_w = np.array([len(self.reps_by_team[t]) for t in self.sales_team_ids], float)
        team = self.sales_team_ids[rng.choice(self.sales_team_ids.size, nl, p=team_w / team_w.sum())]
        team[converted] = self.cust_team[conv_cust]
        owner = self.pick_rep(team)
        owner[converted] = self.hist_rep[conv_cust]
        no_owner = ((status == 0) & (rng.random(nl) < 0.45)) | ((status == 4) & (rng.random(nl) < 0.5))
        owner[no_owner] = 0
        # people
        name, gender, local, zh = self.person_names(nl, 0.8)
        person_cust = converted & ~self.cust_company[cust]
        name = _where(person_cust, self.cust_name.gather(_int(cust)), name)
        company_names = self._lead_companies(nl)
        company = _where(converted & self.cust_company[cust], self.cust_name.gather(_int(cust)), company_names)
        company = _where(person_cust, pl.Series([None] * nl, dtype=pl.String), company)
        phones = np.zeros(nl, np.int64)
        phones[~converted] = self.phones(int((~converted).sum()))
        phones[converted] = self.cust_phone[conv_cust]      # a converted lead's number moved to its customer
        self.lead_phone_rows = ~converted
        self.lead_phone = phones
        # one activity for worked leads
        worked = (status == 1) | (status == 2) | (status == 3) | ((status == 4) & (rng.random(nl) < 0.7))
        act_us = np.maximum(c.at(c.day_of(created_us) + rng.integers(0, 10, nl)), created_us + 10 * 60 * US)
        act_us = np.where(converted, np.minimum(act_us, converted_at - 10 * 60 * US), act_us)
        act_us = c.past(np.maximum(act_us, created_us))
        follow = ((status == 1) | (status == 2)) & (owner > 0)
        follow_us = act_us + (rng.uniform(1, 14, nl) * DAY).astype(np.int64)
        self.lead_acts = dict(lead=np.nonzero(worked)[0] + 1, at=act_us[worked], user=owner[worked],
                              team=team[worked], follow=np.where(follow, follow_us, 0)[worked])
        # the conversion created the customer's first deal (when it has one)
        first_deal = np.zeros(n, np.int64)
        d = self.d
        order = np.lexsort((d["engaged_us"], d["cust"]))
        dc = d["cust"][order]
        firsts = order[np.r_[True, dc[1:] != dc[:-1]]]
        first_deal[d["cust"][firsts]] = firsts + 1
        conv_deal = np.where(converted, first_deal[cust], 0)
        # lead ids follow the creation time: where each generated lead ends up
        new_id = np.empty(nl, np.int64)
        new_id[np.argsort(created_us - created_us % US, kind="stable")] = np.arange(1, nl + 1)
        self.lead_new_id = new_id
        self.lead_acts["lead"] = new_id[self.lead_acts["lead"] - 1]
        self.deal_lead = np.zeros(self.nd, np.int64)
        self.deal_lead[conv_deal[conv_deal > 0] - 1] = new_id[conv_deal > 0]
        updated = np.maximum.reduce([created_us, np.where(worked, act_us, 0), converted_at])
        cust_rows = np.where(converted, cust, 0)
        self.load("leads", _by_time(pl.DataFrame({
            "id": _int(np.arange(1, nl + 1)),
            "name": name,
            "company": company,
            "title": _pick(TITLES, rng.integers(0, len(TITLES), nl), rng.random(nl) < 0.7),
            "phone": self.phone_norm(phones),
            "phone_norm": self.phone_norm(phones),
            "email": _where(rng.random(nl) < 0.7, local + "@" + _pick(["qq.com", "163.com", "gmail.com"], rng.integers(0, 3, nl)),
                            pl.Series([None] * nl, dtype=pl.String)),
            "source": _pick([s[0] for s in SOURCES[:5]], np.where(converted, np.minimum(self.cust_source[cust_rows], 4),
                                                                  self.choose(SOURCES[:5], nl))),
            "status": _pick([s[0] for s in status_p], status),
            "province": self.cust_base["province"].gather(_int(cust_rows, converted)),
            "city": self.cust_base["city"].gather(_int(cust_rows, converted)),
            "industry": _pick([s[0] for s in SECTORS], rng.integers(0, len(SECTORS), nl)),
            "notes": _pick(["Wrong number", "Not interested", "Duplicate of an existing customer", "空号"],
                           rng.integers(0, 4, nl), status == 4),
            "owner_id": _int(owner, owner > 0),
            "team_id": _int(team),
            "converted_customer_id": _int(cust + 1, converted),
            "converted_deal_id": _int(conv_deal, conv_deal > 0),
            "converted_at": _ts(converted_at, converted),
            "last_activity_at": _ts(act_us, worked),
            "next_followup_at": _ts(follow_us, follow),
            "created_by": _int(owner, owner > 0),
            "created_at": _ts(created_us),
            "updated_at": _ts(updated),
        }), "created_at"))

    def _lead_companies(self, k: int) -> pl.Series:
        rng = self.rng
        cities = [r[1] for reg in CITIES.values() for r in reg]
        words = [w for s in SECTORS for w in s[2]]
        return (_pick(cities, rng.integers(0, len(cities), k)) + _pick([x[0] for x in BRAND_A], rng.integers(0, len(BRAND_A), k))
                + _pick([x[0] for x in BRAND_B], rng.integers(0, len(BRAND_B), k))
                + _pick([w[0] for w in words], rng.integers(0, len(words), k)) + "有限公司")

    # ------------------------------------------------------------------ contacts
    def contacts(self) -> None:
        n, rng, c = self.n, self.rng, self.clock
        comp = np.nonzero(self.cust_company & (rng.random(n) < 0.2))[0]
        second = comp[rng.random(comp.size) < 0.3]
        cust = np.sort(np.concatenate([comp, second]), kind="stable")
        k = cust.size
        primary = np.r_[True, cust[1:] != cust[:-1]] if k else np.zeros(0, bool)   # a tiny demo may have none
        name, gender, local, _ = self.person_names(k, 0.0)
        zh_name, zh_gender, zh_local, _ = self.person_names(k, 1.0)
        zh = self.cust_zh[cust]
        name = _where(zh, zh_name, name)
        local = _where(zh, zh_local, local)
        gender = np.where(zh, zh_gender, gender)
        phones = self.phones(k)
        self.contact_phone = phones
        ids = np.arange(1, k + 1)
        self.primary_contact = np.zeros(n, np.int64)
        self.primary_contact[cust[primary]] = ids[primary]
        title = _pick(TITLES, rng.integers(0, len(TITLES), k))
        self.contact_label = name + " (" + title + ")"            # key contacts of a hand-off
        created = c.past(self.cust_created[cust] + (rng.uniform(0, 20, k) * DAY).astype(np.int64))
        created = np.maximum(created, self.cust_created[cust])
        owner = self.owner[cust]
        self.load("contacts", pl.DataFrame({
            "id": _int(ids),
            "customer_id": _int(cust + 1),
            "name": name,
            "title": title,
            "phone": self.phone_norm(phones),
            "phone_norm": self.phone_norm(phones),
            "email": local + "@" + self.cust_domain.gather(_int(cust)),
            "gender": pl.Series(gender),
            "birth_year": _int(rng.integers(1965, 2000, k)),
            "is_primary": pl.Series(primary),
            "owner_id": _int(owner, owner > 0),
            "team_id": _int(self.cust_team[cust]),
            "created_at": _ts(created),
            "updated_at": _ts(created),
        }))

    # ------------------------------------------------------------------ activities
    def activities(self) -> None:
        n, rng, c, d = self.n, self.rng, self.clock, self.d
        stage = self.cust_stage
        # A: one activity with each pipeline step
        h = self.hist
        a_cust = d["cust"][h["deal"]]
        a_kind_subject = [STAGE_ACTIVITY[p] for p in STAGES]
        a_kind = np.array([ACT_KINDS.index(k) for k, _ in a_kind_subject])[h["code"]]
        a_at = h["at"]
        # C: a recent touch of each owned, not won, worked customer (within the last two months, at the
        # calendar's pace: the other activities make room for them, so no day has more than its share)
        touched = self.owned & ~self.is_won & (stage > 0)
        c_cust = np.nonzero(touched)[0]
        c_day = c.days(np.maximum(self.cust_created_day[c_cust], c.T - RECENT_TOUCH_DAYS), c.T - 1)
        c_at = c.past(c.at(c.workday(c_day)))
        c_at = np.maximum(c_at, self.cust_created[c_cust] + 5 * 60 * US)
        c_at = np.minimum(c_at, c.now_us - 60 * US)
        # E: follow-ups logged on every deal through its life (about one every ten days between engagement
        # and close, or today; some open deals have gone quiet for weeks), so the deals open today carry
        # as many as the deals of any other day did
        quiet_for = np.where(d["open"] & (rng.random(self.nd) < 0.15), rng.uniform(15, 60, self.nd) * DAY, 0)
        end = np.maximum(np.where(d["open"], c.now_us - quiet_for.astype(np.int64), d["closed_us"]), d["engaged_us"])
        length = (end - d["engaged_us"]) / DAY
        per_deal = np.minimum(rng.poisson(length / 10.0), 40)
        per_deal = np.where(d["open"] & (quiet_for == 0) & (length >= 1), np.maximum(per_deal, 1), per_deal)
        e_deal = np.repeat(np.arange(self.nd), per_deal)
        e_day = c.day_of(d["engaged_us"][e_deal] + (rng.random(e_deal.size) * (end - d["engaged_us"])[e_deal]).astype(np.int64))
        e_at = c.past(c.at(c.workday(e_day)))
        e_at = np.clip(e_at, d["engaged_us"][e_deal] + 10 * 60 * US, np.maximum(end[e_deal] - 60 * US,
                                                                               d["engaged_us"][e_deal] + 10 * 60 * US))
        e_at = np.minimum(e_at, c.now_us - 60 * US)
        e_cust = d["cust"][e_deal]
        e_kind = rng.choice(5, e_deal.size, p=[0.45, 0.15, 0.2, 0.2, 0.0])
        # B: lead activities
        la = self.lead_acts
        total = 5 * n
        nb = total - h["deal"].size - c_cust.size - la["lead"].size - e_deal.size
        nb = max(nb, 0)
        # D: the rest, spread by stage and by the rep's activity rate
        w = np.array([0.0, 0.6, 1.0, 1.8, 2.5, 3.0, 3.5])[stage] * self.rate[self.hist_rep]
        w *= np.where(self.cust_company, 1.3, 0.8)
        if w.sum() == 0:
            w = np.ones(n)
        # the latest touches (C) and the deal follow-ups (E) sit in the last weeks: D leaves room for them,
        # so the volume per day stays on the calendar up to today (no jump at "now")
        recent = np.bincount(c.day_of(np.concatenate([c_at, e_at])), minlength=c.T + 1)[:c.T + 1]
        want = (nb + recent.sum()) * c.weight / c.weight.sum()
        d_cum = np.concatenate([[0.0], np.cumsum(np.maximum(want - recent, 0.05 * want))])
        g_day = c.days(0, c.T, nb, cum=d_cum)
        g_cust = self.pick_by_day(g_day, self.cust_created_day, w)
        lo = np.maximum(self.cust_created_day, self.active_from[self.hist_rep])[g_cust]
        hi_cust = np.where(self.owned, c.T, c.day_of(self.pool_since))
        hi = np.where(touched, c.T - 1, hi_cust)[g_cust]
        out = (g_day < lo) | (g_day > hi)       # pool customers: before they went back to the pool
        g_day[out] = c.days(lo[out], hi[out], cum=d_cum)
        g_at = c.past(np.maximum(c.at(g_day), self.cust_created[g_cust] + 60 * US))
        g_at = np.where(self.owned[g_cust], g_at, np.minimum(g_at, np.maximum(self.pool_since[g_cust] - HOUR,
                                                                              self.cust_created[g_cust] + 60 * US)))
        g_kind = rng.choice(5, nb, p=[0.45, 0.1, 0.15, 0.2, 0.1])
        c_kind = rng.choice(5, c_cust.size, p=[0.5, 0.1, 0.1, 0.25, 0.05])
        l_kind = rng.choice(5, la["lead"].size, p=[0.6, 0.0, 0.15, 0.25, 0.0])

        cust = np.concatenate([a_cust, c_cust, np.full(la["lead"].size, -1), g_cust, e_cust])
        at = np.concatenate([a_at, c_at, la["at"], g_at, e_at])
        kind = np.concatenate([a_kind, c_kind, l_kind, g_kind, e_kind])
        na = cust.size
        is_lead = cust < 0
        cidx = np.where(is_lead, 0, cust)
        user = np.concatenate([d["owner"][h["deal"]], self.hist_rep[c_cust], la["user"], self.hist_rep[g_cust],
                               d["owner"][e_deal]])
        team = np.concatenate([d["team"][h["deal"]], self.cust_team[c_cust], la["team"], self.cust_team[g_cust],
                               d["team"][e_deal]])
        deal = np.concatenate([h["deal"] + 1, np.zeros(na - h["deal"].size - e_deal.size, np.int64), e_deal + 1])
        # the deal's last follow-up (deals.last_activity_at)
        self.deal_last_act = np.zeros(self.nd, np.int64)
        np.maximum.at(self.deal_last_act, deal[deal > 0] - 1, at[deal > 0])
        self.deal_last_act -= self.deal_last_act % US        # whole seconds, as loaded
        lead = np.zeros(na, np.int64)
        lead[h["deal"].size + c_cust.size:h["deal"].size + c_cust.size + la["lead"].size] = la["lead"]

        # last activity and next follow-up per customer
        last = np.zeros(n, np.int64)
        np.maximum.at(last, cidx[~is_lead], at[~is_lead])
        has_last = last > 0
        follow = np.zeros(n, np.int64)
        won_follow = self.owned & self.is_won & (rng.random(n) < 0.3)
        follow_days = np.where(won_follow, rng.uniform(7, 45, n), rng.uniform(2, 14, n))
        need = has_last & (touched | won_follow)
        follow[need] = (c.day_of(last[need] + (follow_days[need] * DAY).astype(np.int64)) + c.start_ep) * DAY \
            + c.tod(int(need.sum()))
        follow[need] = np.maximum(follow[need], last[need] + HOUR)
        # "my day" for the demo rep: follow-ups due today and overdue
        mine = np.nonzero(touched & (self.owner == self.rep_user) & has_last
                          & (last < (c.today_ep - 2) * DAY) & ~self.has_open)[0]
        n_today = min(6, max(1, mine.size // 2))
        today_rows, late_rows = mine[:n_today], mine[n_today:n_today + 5]
        follow[today_rows] = c.today_ep * DAY + np.array([1, 2, 3, 5, 6, 7])[:today_rows.size] * HOUR
        follow[late_rows] = (c.today_ep - 1 - np.arange(late_rows.size) % 2) * DAY + 3 * HOUR
        self.last_activity = last
        self.next_followup = follow
        # the follow-up date sits on the customer's latest activity; a share of older ones carry one too
        act_follow = np.where(rng.random(na) < 0.3, at + (rng.uniform(1, 14, na) * DAY).astype(np.int64), 0)
        latest = ~is_lead & (at == last[cidx]) & (follow[cidx] > 0)
        act_follow = np.where(latest, follow[cidx], np.where(~is_lead & (follow[cidx] > 0) & (act_follow > follow[cidx]), 0, act_follow))
        lead_rows = np.nonzero(is_lead)[0]
        act_follow[lead_rows] = la["follow"]
        has_follow = act_follow > 0

        kind_names = ACT_KINDS
        subj_all = [s for k in kind_names for s in ACT_SUBJECTS[k]]
        subj_start = np.cumsum([0] + [len(ACT_SUBJECTS[k]) for k in kind_names])[:-1]
        subj_count = np.array([len(ACT_SUBJECTS[k]) for k in kind_names])
        subj = subj_start[kind] + rng.integers(0, 1 << 30, na) % subj_count[kind]
        out_all = [o for k in kind_names for o in ACT_OUTCOMES[k]]
        out_start = np.cumsum([0] + [len(ACT_OUTCOMES[k]) for k in kind_names])[:-1]
        out_count = np.array([len(ACT_OUTCOMES[k]) for k in kind_names])
        outcome = out_start[kind] + rng.integers(0, 1 << 30, na) % out_count[kind]
        na_deal = h["deal"].size
        stage_subj = [s for _, s in a_kind_subject]
        subject = _where(np.arange(na) < na_deal,
                         _pick(stage_subj, np.concatenate([h["code"], np.zeros(na - na_deal, np.int64)])),
                         _pick(subj_all, subj))
        duration = np.where(kind == 0, np.maximum(1, np.round(rng.lognormal(math.log(5), 0.7, na))),
                            np.where(kind == 1, rng.integers(3, 13, na) * 10, 0))
        self.load("activities", _by_time(pl.DataFrame({
            "id": _int(np.arange(1, na + 1)),
            "customer_id": _int(cidx + 1, ~is_lead),
            "lead_id": _int(lead, lead > 0),
            "deal_id": _int(deal, deal > 0),
            "user_id": _int(user, user > 0),
            "team_id": _int(team),
            "kind": _pick(kind_names, kind),
            "subject": subject,
            "outcome": _pick([o or "" for o in out_all], outcome, kind != 4),
            "occurred_at": _ts(at),
            "duration_min": _int(duration, duration > 0),
            "next_followup_at": _ts(act_follow, has_follow),
            "created_at": _ts(np.minimum(at + (rng.uniform(0, 20, na) * 60 * US).astype(np.int64), c.now_us)),
        }), "occurred_at"))
        del cust, at, kind, user, team, deal, lead, act_follow

    # ------------------------------------------------------------------ orders
    def orders(self) -> None:
        n, rng, c, d = self.n, self.rng, self.clock, self.d
        total = 2 * n
        won_deals = np.nonzero(d["won"])[0]
        nw = won_deals.size
        direct = np.nonzero(self.direct_buyer)[0]
        scale = 1 + np.minimum(rng.pareto(1.5, n), 100)        # a long tail and a few very large buyers
        repeat = max(total - nw - direct.size, 0)
        won_day = np.where(self.is_won, c.day_of(self.won_at), c.T + 1)
        r_day = c.days(0, c.T, repeat)
        r_cust = self.pick_by_day(r_day, won_day, np.where(self.is_won, scale ** 0.6, 0.0))
        r_day = c.workday(np.maximum(r_day, won_day[r_cust]), 0.6)
        r_at = c.past(np.maximum(c.at(r_day), self.won_at[r_cust]))
        deal_day = np.minimum(c.day_of(d["closed_us"][won_deals]) + rng.integers(0, 4, nw), c.T)
        deal_at = c.past(np.maximum(c.at(deal_day), d["closed_us"][won_deals] + 60 * US))
        cust = np.concatenate([d["cust"][won_deals], direct, r_cust])
        at = np.concatenate([deal_at, self.won_at[direct], r_at])
        k = cust.size
        # lines: a won deal's order repeats the deal's lines; shop and repeat orders are mostly small
        target = np.maximum(np.round(np.concatenate([1200 * rng.lognormal(0, 0.9, direct.size) * scale[direct] ** 0.8,
                                                     1200 * rng.lognormal(0, 0.9, repeat) * scale[r_cust] ** 0.8])), 50)
        shop_w = np.array([0.2, 0.08, 0.02, 0.1, 0.04, 0.3, 0.14, 0.02, 0.0, 0.08, 0.02, 0.0])
        o_prod = rng.choice(len(PRODUCTS), k - nw, p=shop_w / shop_w.sum())
        o_lines, o_cents = self.make_lines(o_prod, target, [[0.65, 0.25, 0.1]])
        dl = self.deal_line_rows
        deal_order = np.full(self.nd, -1)
        deal_order[won_deals] = np.arange(nw)
        from_deal = deal_order[dl["row"]] >= 0
        line_row = np.concatenate([deal_order[dl["row"][from_deal]], o_lines["row"] + nw])
        line_cols = {x: np.concatenate([dl[x][from_deal], o_lines[x]])
                     for x in ("pos", "prod", "qty", "unit", "disc", "cents")}
        cents = np.concatenate([np.round(d["amount"][won_deals] * 100).astype(np.int64), o_cents])
        amount = cents / 100
        deal = np.concatenate([won_deals + 1, np.zeros(k - nw, np.int64)])
        channel = np.concatenate([np.zeros(nw, np.int64), rng.choice(5, k - nw, p=[0.2, 0.35, 0.15, 0.05, 0.25])])
        # status: draft (recent, not confirmed yet) | confirmed | cancelled | refunded
        recent = at > c.now_us - 14 * DAY
        r = rng.random(k)
        status = np.select([recent & (r < 0.15), (deal == 0) & (r > 0.97), (deal == 0) & (r > 0.955)], [0, 2, 3], 1)
        confirmed = status == 1
        revenue = np.bincount(cust, weights=amount * confirmed, minlength=n)
        # level: lifetime revenue for buyers (customer_levels.min_revenue), company size for the others
        emp = self.cust_base["employees"].fill_null(0).to_numpy()
        level = np.where(self.is_won, np.select([revenue >= 100_000, revenue >= 10_000], [0, 1], 2),
                         np.select([emp >= 1000, emp >= 150], [0, 1], 2))
        self.cust_level = level
        self.order_count = np.bincount(cust, minlength=n)
        self.first_order = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(self.first_order, cust, at)
        owner = self.owner[cust]
        created_by = np.concatenate([d["owner"][won_deals], np.where(owner[nw:] > 0, owner[nw:], self.admin_id)])
        updated = np.where(status >= 2, np.minimum(at + (rng.uniform(0.5, 20, k) * DAY).astype(np.int64),
                                                    c.now_us - 60 * US), at)
        updated = np.maximum(updated, at)
        # order ids follow the order time: where each generated order ends up
        new_id = np.empty(k, np.int64)
        new_id[np.argsort(at - at % US, kind="stable")] = np.arange(1, k + 1)
        frame = _by_time(pl.DataFrame({
            "id": _int(new_id),
            "customer_id": _int(cust + 1),
            "deal_id": _int(deal, deal > 0),
            "ordered_at": _ts(at),
            "status": _pick(["draft", "confirmed", "cancelled", "refunded"], status),
            "amount": _float(amount),
            "currency": pl.Series(["CNY"] * k),
            "channel": _pick(["sales", "web", "store", "catalog", "erp"], channel),
            "country": pl.Series(["China"] * k),
            "owner_id": _int(owner, owner > 0),
            "team_id": _int(self.cust_team[cust]),
            "created_by": _int(created_by),
            "created_at": _ts(at),
            "updated_at": _ts(updated),
        }), "ordered_at")
        self.load("orders", frame.with_columns(order_no="SO" + pl.col("id").cast(pl.String).str.zfill(8)))
        # order lines, by order and position
        lo = np.lexsort((line_cols["pos"], new_id[line_row]))
        self.load("order_lines", pl.DataFrame({
            "id": _int(np.arange(1, lo.size + 1)),
            "order_id": _int(new_id[line_row][lo]),
            "product_id": _int(line_cols["prod"][lo] + 1),
            "sku": _pick([p[0] for p in PRODUCTS], line_cols["prod"][lo]),
            "quantity": _float(line_cols["qty"][lo]),
            "unit_price": _float(line_cols["unit"][lo]),
            "discount": _float(line_cols["disc"][lo]),
            "amount": _float(line_cols["cents"][lo] / 100),
        }))
        self.payments(cust, at, cents, status, channel, created_by, new_id, deal > 0)

    def payments(self, cust, at, cents, status, channel, created_by, order_id, from_deal) -> None:
        """Payment plans (回款计划) of confirmed sales orders (from a won deal, or sold by a rep for
        20,000 or more): one to three instalments adding up to the order amount; payments (回款):
        instalments are paid around their due date, most in full, some recent ones in part, some not
        at all (overdue receivables); other confirmed or refunded orders are paid at once. What was
        paid never exceeds the order amount."""
        rng, c = self.rng, self.clock
        planned = (channel == 0) & (status == 1) & (from_deal | (cents >= 2_000_000))
        si = np.nonzero(planned)[0]
        ns = si.size
        m = 1 + rng.choice(3, ns, p=[0.4, 0.35, 0.25])
        first = np.where(rng.random(ns) < 0.5, 0.5, 0.3)
        shares = np.stack([np.where(m == 1, 1.0, np.where(m == 2, first, 0.3)), np.where(m == 3, 0.4, 1 - first),
                           np.full(ns, 0.3)], axis=1)
        valid = np.arange(3)[None, :] < m[:, None]
        part = np.where(valid, np.floor(cents[si, None] * shares / 100).astype(np.int64) * 100, 0)   # whole yuan
        part[np.arange(ns), m - 1] = 0
        part[np.arange(ns), m - 1] = cents[si] - part.sum(axis=1)                   # the last takes the rest
        order_day = at[si] // DAY
        first_due = order_day + np.array([0, 7, 15, 30])[rng.integers(0, 4, ns)]
        gap = np.where(rng.random(ns) < 0.6, 30, 90)
        due_day = first_due[:, None] + np.arange(3)[None, :] * gap[:, None]
        row, j = np.nonzero(valid)
        p_order = si[row]
        p_due = due_day[row, j]
        p_cents = part[row, j]
        p_created = at[p_order]
        self.load("payment_plans", _by_time(pl.DataFrame({
            "id": _int(np.arange(1, row.size + 1)),
            "order_id": _int(order_id[p_order]),
            "customer_id": _int(cust[p_order] + 1),
            "due_on": _date(p_due),
            "amount": _float(p_cents / 100),
            "created_by": _int(created_by[p_order]),
            "created_at": _ts(p_created),
        }), "created_at"))
        # instalments: paid unless not due yet or late (more often recently); recent ones sometimes in part
        due_us = p_due * DAY + 2 * HOUR
        age = (c.now_us - due_us) / DAY
        p_unpaid = np.select([age < 0, age < 60, age < 180], [1.0, 0.3, 0.08], 0.015)
        paid = rng.random(row.size) >= p_unpaid
        pay_at = due_us + (rng.uniform(-5, 20, row.size) * DAY).astype(np.int64)
        pay_at = np.maximum(pay_at, p_created + HOUR)
        paid &= pay_at <= c.now_us - HOUR
        partial = paid & (age < 90) & (rng.random(row.size) < 0.15)
        pay_cents = np.where(partial, p_cents // 200 * 100, p_cents)
        paid &= pay_cents > 0
        # paid at once: other confirmed orders (a few recent ones still open) and refunded ones
        oi = np.nonzero(((status == 1) & ~planned) | (status == 3))[0]
        o_at = c.past(at[oi] + (rng.uniform(0, 2, oi.size) * DAY).astype(np.int64))
        o_at = np.maximum(o_at, at[oi])
        o_paid = ~((at[oi] > c.now_us - 30 * DAY) & (rng.random(oi.size) < 0.1) & (status[oi] == 1))
        pi = np.concatenate([p_order[paid], oi[o_paid]])
        pay_at = np.concatenate([pay_at[paid], o_at[o_paid]])
        amount = np.concatenate([pay_cents[paid], cents[oi][o_paid]]) / 100
        method = np.where(planned[pi], 0, 1 + rng.integers(0, 3, pi.size))
        self.load("payments", _by_time(pl.DataFrame({
            "id": _int(np.arange(1, pi.size + 1)),
            "order_id": _int(order_id[pi]),
            "customer_id": _int(cust[pi] + 1),
            "amount": _float(amount),
            "paid_at": _ts(pay_at),
            "method": _pick(PAY_METHODS, method),
            "created_by": _int(created_by[pi]),
            "created_at": _ts(np.minimum(pay_at + (rng.uniform(0, 120, pi.size) * 60 * US).astype(np.int64),
                                         c.now_us)),
        }), "paid_at"))

    # ------------------------------------------------------------------ the won hand-off
    def handoffs(self) -> None:
        """The hand-offs planned in customer_stages, with their onboarding tickets (tickets step) and
        the audit rows each step leaves (the customer's timeline reads them): filled in by the rep
        (the customer -> upgrade), submitted by the team's manager, approved by the admin (the level;
        the customer back to won)."""
        rng, d, h = self.rng, self.d, self.ho
        k = h["cust"].size
        cust, deal, status = h["cust"], h["deal"], h["status"]
        team = self.cust_team[cust]
        owner = d["owner"][deal]
        manager = self.team_manager[team]
        level = self.cust_level[cust]
        contact = self.primary_contact[cust]
        submitted, decided = status >= 1, status == 2
        promises = _pick(PROMISES, rng.integers(0, len(PROMISES), k), rng.random(k) < 0.7)
        m_comment = _pick(["Good deal, please upgrade", "Key account, recommend level A", "同意升级",
                           "客户付款及时，建议升级"], rng.integers(0, 4, k), submitted & (rng.random(k) < 0.8))
        a_comment = _pick(["Approved", "同意", "Approved, keep an eye on payments"], rng.integers(0, 3, k),
                          decided & (rng.random(k) < 0.5))
        notes_i = rng.integers(0, len(HANDOFF_NOTES), k)
        hid = np.empty(k, np.int64)
        hid[np.argsort(h["created"] - h["created"] % US, kind="stable")] = np.arange(1, k + 1)
        self.load("handoffs", _by_time(pl.DataFrame({
            "id": _int(hid),
            "customer_id": _int(cust + 1),
            "deal_id": _int(deal + 1),
            "ticket_id": _int(h["ticket"]),
            "status": _pick(["pending", "submitted", "approved"], status),
            "bought": h["bought"],
            "key_contacts": self.contact_label.gather(_int(np.maximum(contact - 1, 0), contact > 0)),
            "promises": promises,
            "notes": _pick([x or "" for x in HANDOFF_NOTES], notes_i,
                           np.array([x is not None for x in HANDOFF_NOTES])[notes_i]),
            "owner_id": _int(owner),
            "team_id": _int(team),
            "manager_id": _int(manager, submitted),
            "manager_comment": m_comment,
            "submitted_at": _ts(h["submitted"], submitted),
            "admin_id": _int(np.full(k, self.admin_id), decided),
            "admin_comment": a_comment,
            "decided_at": _ts(h["decided"], decided),
            "level": _pick(["A", "B", "C"], level, decided),
            "created_at": _ts(h["created"]),
            "updated_at": _ts(h["updated"]),
        }), "created_at"))
        # the audit rows: one per field of each step, as core.handoff writes them
        lv = _pick(["A", "B", "C"], level)
        none = pl.Series([None] * k, dtype=pl.String)
        parts = []

        def rows(mask, at, user, action, entity, entity_id, field, old, new):
            parts.append(pl.DataFrame({"logged_at": _ts(at), "user_id": _int(user), "action": pl.Series([action] * k),
                                       "entity": pl.Series([entity] * k), "entity_id": _int(entity_id),
                                       "field": pl.Series([field] * k, dtype=pl.String),
                                       "old_value": old, "new_value": new}).filter(pl.Series(mask)))

        every = np.ones(k, bool)
        text = lambda x: pl.Series(x).cast(pl.String)  # noqa: E731
        rows(every, h["created"], owner, "create", "handoff", hid, "status", none, pl.Series(["pending"] * k))
        rows(every, h["created"], owner, "create", "handoff", hid, "customer_id", none, text(cust + 1))
        rows(every, h["created"], owner, "create", "handoff", hid, "deal_id", none, text(deal + 1))
        rows(every, h["created"], owner, "create", "handoff", hid, "ticket_id", none, text(h["ticket"]))
        rows(every, h["created"], owner, "create", "handoff", hid, "bought", none, h["bought"])
        rows(promises.is_not_null().to_numpy(), h["created"], owner, "create", "handoff", hid, "promises", none, promises)
        rows(every, h["created"], owner, "update", "customer", cust + 1, "stage", pl.Series(["won"] * k),
             pl.Series(["upgrade"] * k))
        rows(submitted, h["submitted"], manager, "submit", "handoff", hid, "status", pl.Series(["pending"] * k),
             pl.Series(["submitted"] * k))
        rows(submitted & m_comment.is_not_null().to_numpy(), h["submitted"], manager, "submit", "handoff", hid,
             "manager_comment", none, m_comment)
        rows(decided, h["decided"], np.full(k, self.admin_id), "approve", "handoff", hid, "status",
             pl.Series(["submitted"] * k), pl.Series(["approved"] * k))
        rows(decided, h["decided"], np.full(k, self.admin_id), "approve", "handoff", hid, "level", none, lv)
        rows(decided & a_comment.is_not_null().to_numpy(), h["decided"], np.full(k, self.admin_id), "approve",
             "handoff", hid, "admin_comment", none, a_comment)
        rows(decided, h["decided"], np.full(k, self.admin_id), "update", "customer", cust + 1, "stage",
             pl.Series(["upgrade"] * k), pl.Series(["won"] * k))
        log = pl.concat(parts, how="vertical").with_columns(id=pl.lit(0, pl.Int64))
        self.load("audit_log", _by_time(log, "logged_at"))

    # ------------------------------------------------------------------ customers (the load)
    def load_customers(self) -> None:
        n, c = self.n, self.clock
        owned = self.owned
        last = self.last_activity
        updated = np.maximum.reduce([self.cust_created, last, self.won_at, self.assigned_at, self.pool_since,
                                     self.handoff_touch])
        created_by = np.where(self.cust_source == 5, self.admin_id,
                              np.where(np.isin(self.cust_source, (0, 3)), 0, self.hist_rep))
        cols = dict(self.cust_base)
        cols.update({
            "stage": _pick(CUSTOMER_STAGES, self.cust_stage),
            "level": _pick(["A", "B", "C"], self.cust_level),
            "owner_id": _int(self.owner, owned),
            "team_id": _int(self.cust_team),
            "pool_since": _ts(self.pool_since, ~owned),
            "assigned_at": _ts(self.assigned_at, owned),
            "last_activity_at": _ts(last, last > 0),
            "next_followup_at": _ts(self.next_followup, self.next_followup > 0),
            "won_at": _ts(self.won_at, self.is_won),
            "created_by": _int(created_by, created_by > 0),
            "created_at": _ts(self.cust_created),
            "updated_at": _ts(np.minimum(updated, c.now_us)),
        })
        frame = pl.DataFrame({"id": _int(np.arange(1, n + 1)), "phone": self.phone_norm(self.cust_phone),
                              "phone_norm": self.phone_norm(self.cust_phone), **cols})
        self.load("customers", frame)
        del self.cust_base

    # ------------------------------------------------------------------ tasks and targets
    def tasks(self) -> None:
        n, rng, c = self.n, self.rng, self.clock
        k = max(n // 20 - 5, 0)
        owned = np.nonzero(self.owned)[0]
        w = np.where(self.is_won[owned], 0.5, 1.5)
        cust = owned[rng.choice(owned.size, k, p=w / w.sum())]
        future = rng.random(k) < 0.3
        due_day = np.where(future, c.T + rng.integers(1, 31, k), c.T - rng.integers(1, 181, k))
        due = (c.start_ep + due_day) * DAY + c.tod(k)
        r = rng.random(k)
        status = np.where(future, 0, np.select([r < 0.85, r < 0.9], [1, 2], 0))     # open/done/cancelled
        # five for the demo rep: three due today, two overdue
        mine = np.nonzero(self.owned & (self.owner == self.rep_user))[0]
        mine = mine[:5] if mine.size >= 5 else np.resize(mine, 5) if mine.size else np.zeros(0, np.int64)
        cust = np.concatenate([cust, mine])
        due = np.concatenate([due, c.today_ep * DAY + np.array([2, 4, 7, -20, -44])[:mine.size] * HOUR])
        status = np.concatenate([status, np.zeros(mine.size, np.int64)])
        k = cust.size
        created = np.maximum(np.minimum(due - (rng.uniform(1, 14, k) * DAY).astype(np.int64), c.now_us - HOUR),
                             self.cust_created[cust])
        done_at = np.clip(due - (rng.uniform(0, 2, k) * DAY).astype(np.int64), created, c.now_us)
        assignee = self.owner[cust]
        title_i = rng.integers(0, len(TASK_TITLES), k)
        title = _pick(TASK_TITLES, title_i) + ": " + self.cust_name.gather(_int(cust))
        self.load("tasks", _by_time(pl.DataFrame({
            "id": _int(np.arange(1, k + 1)),
            "title": title,
            "kind": _pick(["task", "reminder", "event"], rng.choice(3, k, p=[0.6, 0.3, 0.1])),
            "due_at": _ts(due),
            "status": _pick(["open", "done", "cancelled"], status),
            "assignee_id": _int(assignee),
            "team_id": _int(self.cust_team[cust]),
            "customer_id": _int(cust + 1),
            "created_by": _int(np.where(rng.random(k) < 0.8, assignee, self.team_manager[self.cust_team[cust]])),
            "created_at": _ts(created),
            "done_at": _ts(done_at, status == 1),
        }), "created_at"))

    def targets(self) -> None:
        """Monthly targets per rep and per team (the sum of its reps'), set by the admin: the twelve
        months up to now and every month of the current year (set just before the year began)."""
        c, d = self.clock, self.d
        y, m = c.now.year, c.now.month
        months = set()
        for _ in range(12):
            months.add((y, m))
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        months |= {(c.now.year, mm) for mm in range(1, 13)}
        months = sorted(months)
        reps = self.rep_ids
        recent_won = d["won"] & (d["closed_us"] >= c.now_us - 365 * DAY)
        new_won = (self.won_at > 0) & (self.won_at >= c.now_us - 365 * DAY)
        per_rep_month = max(len(reps) * 12, 1)
        # quotas a little above what the average rep achieved in the last year: good reps beat them
        bases = (("won_amount", d["amount"][recent_won].sum() / per_rep_month * 1.1, 1000),
                 ("won_deals", recent_won.sum() / per_rep_month * 1.1, 1),
                 ("new_customers", new_won.sum() / per_rep_month * 1.1, 1),
                 ("activities", 5 * self.n / (len(reps) * 24), 10))
        year_start = datetime(c.now.year, 1, 1) - timedelta(days=5, hours=-2)
        rows = []
        for i, (y, m) in enumerate(months):
            start = date(y, m, 1)
            end = date(y, m, calendar.monthrange(y, m)[1])
            created = year_start if y == c.now.year else datetime(y, m, 1) - timedelta(days=3, hours=-2)
            created = min(created, c.now)
            growth = 0.94 + 0.01 * i
            for metric, base, step in bases:
                value = float(max(round(base * growth / step) * step, step))
                rows += [(int(u), None, start, end, metric, value, created) for u in reps]
                rows += [(None, int(t), start, end, metric, value * len(self.reps_by_team[t]), created)
                         for t in self.sales_team_ids]
        k = len(rows)
        cols = list(zip(*rows))
        self.load("targets", pl.DataFrame({
            "id": _int(np.arange(1, k + 1)),
            "user_id": pl.Series(cols[0], dtype=pl.Int64),
            "team_id": pl.Series(cols[1], dtype=pl.Int64),
            "period_start": pl.Series(cols[2], dtype=pl.Date),
            "period_end": pl.Series(cols[3], dtype=pl.Date),
            "metric": pl.Series(cols[4], dtype=pl.String),
            "value": pl.Series(cols[5], dtype=pl.Float64),
            "set_by": _int(np.full(k, self.admin_id)),
            "created_at": pl.Series(cols[6], dtype=pl.Datetime("us")),
            "updated_at": pl.Series(cols[6], dtype=pl.Datetime("us")),
        }))

    # ------------------------------------------------------------------ pool moves and phone keys
    def pool_moves(self) -> None:
        rng = self.rng
        worked = ~self.owned & ((self.cust_stage > 0) | (self.deal_end > 0))
        rel = np.nonzero(worked)[0]
        asg = np.nonzero(self.owned)[0]
        reclaim = rng.random(rel.size) < 0.7
        cust = np.concatenate([rel, asg])
        k = cust.size
        nr = rel.size
        from_owner = np.concatenate([self.hist_rep[rel], np.zeros(asg.size, np.int64)])
        to_owner = np.concatenate([np.zeros(nr, np.int64), self.owner[asg]])
        reason = np.concatenate([np.where(reclaim, 0, 1), np.full(asg.size, 2)])
        moved_by = np.concatenate([np.where(reclaim, 0, self.hist_rep[rel]), self.team_manager[self.cust_team[asg]]])
        at = np.concatenate([self.pool_since[rel], self.assigned_at[asg]])
        team = self.cust_team[cust]
        self.load("pool_moves", _by_time(pl.DataFrame({
            "id": _int(np.arange(1, k + 1)),
            "customer_id": _int(cust + 1),
            "from_owner_id": _int(from_owner, from_owner > 0),
            "to_owner_id": _int(to_owner, to_owner > 0),
            "from_team_id": _int(team),
            "to_team_id": _int(team),
            "reason": _pick(["reclaim", "release", "assign"], reason),
            "moved_by": _int(moved_by, moved_by > 0),
            "moved_at": _ts(at),
        }), "moved_at"))

    def phone_keys(self) -> None:
        lead_ids = self.lead_new_id[self.lead_phone_rows]
        nums = np.concatenate([self.cust_phone, self.lead_phone[self.lead_phone_rows], self.contact_phone])
        entity = np.concatenate([np.zeros(self.n, np.int64), np.ones(lead_ids.size, np.int64),
                                 np.full(self.contact_phone.size, 2)])
        ids = np.concatenate([np.arange(1, self.n + 1), lead_ids, np.arange(1, self.contact_phone.size + 1)])
        order = np.argsort(nums, kind="stable")          # sorted keys load faster into the index
        self.load("phone_keys", pl.DataFrame({
            "phone_norm": self.phone_norm(nums[order]),
            "entity": _pick(["customer", "lead", "contact"], entity[order]),
            "entity_id": _int(ids[order]),
        }))

    def dedup_keys(self) -> None:
        """The keys of the duplicate guard (core.dedup) for the loaded customers, leads and contacts:
        vectorised, pinyin once per distinct character, the index built once at the end."""
        from core import dedup

        started = time.perf_counter()
        self.counts["dedup_keys"] = dedup.rebuild(self.con)
        last_timings["insert_dedup_keys"] = time.perf_counter() - started
        from core import search

        started = time.perf_counter()
        self.counts["search_keys"] = search.rebuild(self.con)
        last_timings["insert_search_keys"] = time.perf_counter() - started
