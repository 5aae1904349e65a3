"""The organisation: teams (the sales tree with its regions, the new-hire group, marketing, service) and
users with their traits (win-rate skill, activity rate, speed, book size, first active day)."""
from __future__ import annotations

import math

import numpy as np
import polars as pl

from core import settings
from core.demo.common import COMPANY_DOMAIN, DAY, HOUR, SPAN_DAYS, Base, _alloc, _date, _int, _ts

# sales leaf teams: name, parent name, region, share of reps
SALES_TEAMS = [("East", "Sales", "East", 0.22), ("East - Shanghai", "East", "East", 0.18),
               ("North", "Sales", "North", 0.18), ("South", "Sales", "South", 0.16),
               ("South - Shenzhen", "South", "South", 0.12), ("West", "Sales", "West", 0.14)]
SALES_TEAM_NAMES = {t[0] for t in SALES_TEAMS}
TEAM_CITY_BIAS = {"East - Shanghai": {"上海": 0.85, "苏州": 0.15}, "South - Shenzhen": {"深圳": 0.8, "东莞": 0.2}}

# the size of the company follows the customer count: a rep works about CUSTOMERS_PER_REP customers'
# share of the activity (5 per customer over two years: ~18 follow-ups a working day), a team has at
# most REPS_PER_TEAM reps, an agent answers ~20 tickets a working day
CUSTOMERS_PER_REP = 1_900
REPS_PER_TEAM = 12
TICKETS_PER_AGENT_YEAR = 5_000


class Org(Base):
    # ------------------------------------------------------------------ organisation
    def org(self) -> None:
        n, rng, c = self.n, self.rng, self.clock
        n_reps = max(12, int(round(n / CUSTOMERS_PER_REP)))
        n_new = int(np.clip(round(n_reps * 0.05), 2, 12))
        n_mkt = 1 if n < 5_000 else (2 if n < 500_000 else 3)
        n_svc = max(int(np.clip(round(3 + 3 * math.log10(max(n, 500) / 500)), 3, 12)),
                    int(round(0.3 * n / TICKETS_PER_AGENT_YEAR)))
        self.n_reps = n_reps
        cap = int(settings.get(self.con, "pool.max_open_customers_per_rep"))
        self.max_open = cap

        # teams: the six sales teams, then as many squads under each as keep teams at most
        # REPS_PER_TEAM strong ("North 2", "North 3"...), each with its own team lead (a manager)
        per_team = _alloc(n_reps, [t[3] for t in SALES_TEAMS])
        names = ["Sales"] + [t[0] for t in SALES_TEAMS] + ["New hires", "Marketing", "Service"]
        parent = {t[0]: t[1] for t in SALES_TEAMS}
        parent["New hires"] = "Sales"
        region = {t[0]: t[2] for t in SALES_TEAMS}
        base = {t[0]: t[0] for t in SALES_TEAMS}
        squads = []                           # (team, region, reps in it) in rep-number order
        for (team, _, reg, _), k in zip(SALES_TEAMS, per_team):
            m = -(-k // REPS_PER_TEAM)
            sizes = _alloc(k, [1] * m) if m > 1 else [k]
            for j, size in enumerate(sizes):
                name = team if j == 0 else f"{team} {j + 1}"
                if j:
                    names.append(name)
                    parent[name], region[name], base[name] = team, reg, team
                squads.append((name, reg, size))
        tid = {name: i + 1 for i, name in enumerate(names)}
        self.team_id = tid
        self.sales_team_ids = np.array([tid[s[0]] for s in squads])
        self.team_region = {tid[s[0]]: s[1] for s in squads}
        self.team_base = {tid[s[0]]: base[s[0]] for s in squads}
        self.team_name = {v: k for k, v in tid.items()}

        # users: admin, managers (a region's manager leads its first team; squads have their own lead),
        # reps, new hires, marketing, service (the demo "service" user leads the service team)
        rows: list[dict] = []

        def add(username, role, team, manager=None, new=False, name=None, lang="en"):
            rows.append(dict(username=username, role=role, team=team, manager=manager, new=new, name=name,
                             lang=lang))
            return len(rows)   # the id

        admin = add("admin", "admin", None, name="Zhou Min")
        managers = {"East": add("manager", "manager", tid["East"], admin, name="Chen Jing")}
        for reg in ("North", "South", "West"):
            managers[reg] = add(f"mgr_{reg.lower()}", "manager", tid[reg], admin)
        lead = {s[0]: managers[s[1]] for s in squads}
        for j, (name, reg, _) in enumerate(s for s in squads if s[0] not in SALES_TEAM_NAMES):
            lead[name] = add(f"lead{j + 1:03d}", "manager", tid[name], managers[reg])
        self.reps_by_team: dict[int, np.ndarray] = {}
        rep_ids = []
        num = 1
        for name, reg, k in squads:
            ids = []
            for j in range(k):
                if name == "East" and j == 0:
                    ids.append(add("rep", "sales", tid[name], lead[name], name="Li Wei"))
                else:
                    num += 1
                    ids.append(add(f"rep{num:02d}", "sales", tid[name], lead[name]))
            self.reps_by_team[tid[name]] = np.array(ids)
            rep_ids += ids
        new_ids = [add(f"new{j + 1:02d}", "sales", tid["New hires"], managers[("East", "North", "South", "West")[j % 4]],
                       new=True) for j in range(n_new)]
        self.reps_by_team[tid["New hires"]] = np.array(new_ids)
        self.marketing_ids = np.array([add("marketing", "marketing", tid["Marketing"], admin, name="Emily Zhang")]
                                      + [add(f"mkt{j + 2:02d}", "marketing", tid["Marketing"], admin)
                                         for j in range(n_mkt - 1)])
        self.service_lead = add("service", "service", tid["Service"], admin, name="Wang Fang")
        self.service_ids = np.array([self.service_lead]
                                    + [add(f"svc{j + 2:02d}", "service", tid["Service"], self.service_lead)
                                       for j in range(n_svc - 1)])
        self.admin_id = admin
        self.manager_ids = managers
        self.team_manager = np.full(len(names) + 1, admin)
        for name, _, _ in squads:
            self.team_manager[tid[name]] = lead[name]
        self.team_manager[tid["New hires"]] = managers["East"]
        team_lead = {tid["Service"]: self.service_lead}
        team_lead.update({tid[name]: lead[name] for name, _, _ in squads})

        created = c.start_us - 400 * DAY + 9 * HOUR
        last_monday = c.today_ep - (c.today_ep + 3) % 7
        self.load("teams", pl.DataFrame({
            "id": _int(list(tid.values())),
            "name": pl.Series(names, dtype=pl.String),
            "parent_id": _int([tid.get(parent.get(x), 0) for x in names], [x in parent for x in names]),
            "region": pl.Series([region.get(x) for x in names], dtype=pl.String),
            "is_new_hire_pool": pl.Series([x == "New hires" for x in names]),
            "pool_refreshed_at": _ts([last_monday * DAY + HOUR] * len(names),
                                     [x in region or x == "New hires" for x in names]),
            "lead_id": _int([team_lead.get(tid[x], 0) for x in names], [tid[x] in team_lead for x in names]),
            "created_at": _ts([created] * len(names)),
        }))
        self.rep_ids = np.array(rep_ids)
        self.new_hire_ids = np.array(new_ids)
        self.rep_user = rep_ids[0]
        nu = len(rows)
        self.n_users = nu
        self.user_team = np.array([0] + [r["team"] or 0 for r in rows])

        # traits (index = user id): win-rate skill, activity rate, speed, book size, first active day
        self.skill = np.ones(nu + 1)
        self.rate = np.ones(nu + 1)
        self.speed = np.ones(nu + 1)
        self.book = np.zeros(nu + 1, np.int64)
        self.active_from = np.zeros(nu + 1, np.int64)
        all_reps = np.array(rep_ids + new_ids)
        self.skill[all_reps] = np.clip(rng.lognormal(0, 0.3, all_reps.size), 0.45, 1.8)
        self.rate[all_reps] = np.clip(rng.lognormal(0, 0.35, all_reps.size), 0.4, 2.2)
        self.speed[all_reps] = np.clip(rng.lognormal(0, 0.2, all_reps.size), 0.6, 1.6)
        # a rep keeps a book a little under the cap of customers not won (pool.max_open_customers_per_rep)
        self.book[self.rep_ids] = rng.integers(int(0.75 * cap), max(cap - 3, int(0.75 * cap) + 1), self.rep_ids.size)
        self.book[self.new_hire_ids] = rng.integers(15, 41, self.new_hire_ids.size)
        self.skill[self.rep_user], self.rate[self.rep_user], self.book[self.rep_user] = 1.25, 1.3, min(190, cap)
        self.skill[self.new_hire_ids] *= 0.6
        hired_days_ago = np.zeros(nu + 1, np.int64)
        hired_days_ago[1:] = rng.integers(SPAN_DAYS + 30, SPAN_DAYS + 1500, nu)
        hired_days_ago[self.new_hire_ids] = rng.integers(25, 110, self.new_hire_ids.size)
        self.active_from[self.new_hire_ids] = c.T - hired_days_ago[self.new_hire_ids]

        ids = np.arange(1, nu + 1)
        names_gen, _, _, zh = self.person_names(nu, 0.35)
        user_names = [r["name"] or names_gen[i] for i, r in enumerate(rows)]
        hired_ep = c.today_ep - hired_days_ago[1:]
        created_us = hired_ep * DAY + 2 * HOUR
        must_have_zh = zh & np.array([r["name"] is None for r in rows])
        self.load("users", pl.DataFrame({
            "id": _int(ids),
            "username": pl.Series([r["username"] for r in rows], dtype=pl.String),
            "name": pl.Series(user_names, dtype=pl.String),
            "email": pl.Series([f"{r['username']}@{COMPANY_DOMAIN}" for r in rows], dtype=pl.String),
            "phone": self.phone_norm(self._user_phones(nu)),
            "role": pl.Series([r["role"] for r in rows], dtype=pl.String),
            "team_id": _int([r["team"] or 0 for r in rows], [r["team"] is not None for r in rows]),
            "manager_id": _int([r["manager"] or 0 for r in rows], [r["manager"] is not None for r in rows]),
            "is_new_hire": pl.Series([r["new"] for r in rows]),
            "active": pl.Series([True] * nu),
            "language": pl.Series(np.where(must_have_zh, "zh", "en")),
            "password_hash": pl.Series([self.password_hash] * nu, dtype=pl.String),
            "must_change_password": pl.Series([True] * nu),
            "hired_on": _date(hired_ep),
            "created_at": _ts(created_us),
            "updated_at": _ts(created_us),
        }))

    def _user_phones(self, k: int) -> np.ndarray:
        # the phone pool is made here, once the org is known, sized for everyone who needs a phone
        n = self.n
        self._make_phone_pool(k + n + n // 5 + n // 2 + 100)
        return self.phones(k)
