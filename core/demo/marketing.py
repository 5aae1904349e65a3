"""Marketing: campaigns over the two years (one a month or so, every channel) and their members going
through the funnel (sent, opened, clicked, responded, converted into a deal)."""
from __future__ import annotations

import math
from datetime import date

import numpy as np
import polars as pl

from core.demo.common import DAY, HOUR, Base, _alloc, _date, _float, _int, _pick, _ts

class Marketing(Base):
    # ------------------------------------------------------------------ campaigns and members
    def campaigns(self) -> None:
        n, rng, c, d = self.n, self.rng, self.clock, self.d
        k = int(np.clip(round(10 + 20 * math.log10(n / 500) / math.log10(2000)), 10, 30))
        channels = ["email", "sms", "phone", "event"]
        ch = rng.choice(4, k, p=[0.4, 0.25, 0.15, 0.2])
        ch[:4] = rng.permutation(4)   # every channel at least once
        start = np.sort(np.linspace(10, c.T + 20, k).astype(np.int64) + rng.integers(-8, 9, k))
        start[-1] = c.T + 21                          # next month's campaign is still a draft
        start = np.minimum(start, c.T + 25)
        dur = np.where(ch == 3, rng.integers(1, 4, k), rng.integers(7, 46, k))
        end = start + dur
        status = np.where(start > c.T, 0, np.where(end >= c.T, 1, 2))    # draft / running / done
        budget = np.round(np.select([ch == 0, ch == 1, ch == 2], [rng.uniform(5e3, 3e4, k), rng.uniform(1e4, 6e4, k),
                                                                  rng.uniform(2e4, 8e4, k)], rng.uniform(5e4, 4e5, k)), -3)
        cost = np.round(budget * np.where(status == 2, rng.uniform(0.8, 1.1, k), rng.uniform(0.3, 0.7, k)), 2)
        # members: about 0.3 x customers in all, larger for e-mail and SMS
        share = np.array([3.0, 2.0, 0.5, 0.4])[ch] * (status > 0)
        size = np.array(_alloc(int(0.3 * n), share + 1e-9, 0)) * (status > 0)
        cols = {x: [] for x in ("camp", "cust", "added", "sent", "opened", "clicked", "responded")}
        cust_day = self.cust_created_day
        order_by_day = np.argsort(cust_day, kind="stable")
        sorted_days = cust_day[order_by_day]
        for i in range(k):
            if size[i] == 0:
                continue
            avail = order_by_day[:np.searchsorted(sorted_days, start[i] - 1, side="right")]
            m = int(min(size[i], avail.size))
            if m == 0:
                continue
            members = np.sort(rng.choice(avail, m, replace=False))
            start_us = (c.start_ep + start[i]) * DAY
            added = start_us - (rng.uniform(1, 4, m) * DAY).astype(np.int64)
            sent_day = start[i] + rng.integers(0, max(int(dur[i]), 1), m) * (ch[i] != 0)
            sent = (c.start_ep + sent_day) * DAY + c.tod(m)
            p_sent, p_open, p_click, p_resp = {0: (0.97, 0.28, 0.25, 0.3), 1: (0.98, 0.0, 0.06, 0.35),
                                               2: (0.9, 0.45, 0.0, 0.2), 3: (0.98, 0.4, 0.35, 0.6)}[int(ch[i])]
            s = rng.random(m) < p_sent
            o = s & (rng.random(m) < p_open)
            cl = (o if p_open else s) & (rng.random(m) < p_click)
            rs = (cl if p_click else o) & (rng.random(m) < p_resp)
            t_open = sent + (rng.exponential(6, m) * HOUR).astype(np.int64)
            t_click = (t_open if p_open else sent) + (rng.exponential(0.3, m) * HOUR).astype(np.int64)
            t_resp = np.where(p_click, t_click, t_open) + (rng.exponential(20, m) * HOUR).astype(np.int64)
            cols["camp"].append(np.full(m, i + 1))
            cols["cust"].append(members)
            cols["added"].append(added)
            cols["sent"].append(np.where(s, sent, 0))
            cols["opened"].append(np.where(o, t_open, 0))
            cols["clicked"].append(np.where(cl, t_click, 0))
            cols["responded"].append(np.where(rs, t_resp, 0))
        mem = {x: (np.concatenate(v) if v else np.zeros(0, np.int64)) for x, v in cols.items()}
        nm = mem["camp"].size
        # conversions: a member whose customer engaged a deal within 45 days after the contact
        camp_ch = np.r_[0, ch][mem["camp"]]
        md = pl.DataFrame({"row": np.arange(nm), "cust": mem["cust"], "sent": mem["sent"]}).filter(pl.col("sent") > 0)
        dd = pl.DataFrame({"deal": np.arange(self.nd), "cust": d["cust"], "eng": d["engaged_us"]})
        hits = (md.join(dd, on="cust", how="inner")
                .filter((pl.col("eng") > pl.col("sent") + HOUR) & (pl.col("eng") <= pl.col("sent") + 45 * DAY))
                .sort(["deal", "sent", "row"]).unique(subset="deal", keep="first", maintain_order=True)
                .sort(["row", "eng", "deal"]).unique(subset="row", keep="first", maintain_order=True))
        rows = hits["row"].to_numpy()
        deals = hits["deal"].to_numpy()
        keep = rng.random(rows.size) < 0.6
        rows, deals = rows[keep], deals[keep]
        conv = np.zeros(nm, np.int64)
        conv[rows] = d["engaged_us"][deals]
        revenue = np.zeros(nm)
        won_rows = d["won"][deals]
        revenue[rows[won_rows]] = d["amount"][deals[won_rows]]
        # a converted member went through the funnel before converting
        fr = np.sort(rng.random((rows.size, 3)), axis=1)
        sent_r = mem["sent"][rows]
        span = (conv[rows] - sent_r).astype(float)
        chr_ = camp_ch[rows]
        mem["opened"][rows] = np.where(np.isin(chr_, (0, 2, 3)), sent_r + (fr[:, 0] * span).astype(np.int64), 0)
        mem["clicked"][rows] = np.where(np.isin(chr_, (0, 1, 3)), sent_r + (fr[:, 1] * span).astype(np.int64), 0)
        mem["responded"][rows] = sent_r + (fr[:, 2] * span).astype(np.int64)
        self.deal_campaign = np.zeros(self.nd, np.int64)
        self.deal_campaign[deals] = mem["camp"][rows]
        for x in ("sent", "opened", "clicked", "responded"):    # a running campaign: nothing after now
            mem[x] = np.where(mem[x] > c.now_us, 0, mem[x])
        conv = np.where(conv > c.now_us, 0, conv)
        self.load("campaign_members", pl.DataFrame({
            "campaign_id": _int(mem["camp"]),
            "customer_id": _int(mem["cust"] + 1),
            "added_at": _ts(np.minimum(np.maximum(mem["added"], self.cust_created[mem["cust"]]), c.now_us)),
            **{f"{x}_at": _ts(mem[x], mem[x] > 0) for x in ("sent", "opened", "clicked", "responded")},
            "converted_at": _ts(conv, conv > 0),
            "revenue": _float(revenue, revenue > 0),
        }))
        members = np.bincount(mem["camp"], minlength=k + 1)[1:]
        responded = np.bincount(mem["camp"], weights=mem["responded"] > 0, minlength=k + 1)[1:]
        rev = np.bincount(mem["camp"], weights=revenue, minlength=k + 1)[1:]
        season = {1: "New Year", 2: "Spring", 3: "Spring", 4: "Spring", 5: "Spring", 6: "618", 7: "Summer",
                  8: "Summer", 9: "Autumn", 10: "Autumn", 11: "Double 11", 12: "Year-end"}
        base = {0: "newsletter", 1: "SMS promotion", 2: "key-account call campaign", 3: "customer event"}
        names = []
        for i in range(k):
            day = date.fromordinal(date(1970, 1, 1).toordinal() + int(c.start_ep + start[i]))
            label = season[day.month] + " " + base[int(ch[i])]
            if ch[i] == 3:
                label = ["Industry expo", "Customer day", "Webinar", "Partner summit"][i % 4] + " " + \
                    ["Shanghai", "Beijing", "Shenzhen", "Chengdu", "online"][i % 5]
            names.append(f"{label} {day:%Y-%m}")
        created = (c.start_ep + start - rng.integers(14, 31, k)) * DAY + 2 * HOUR
        created = np.minimum(created, c.now_us - DAY)
        active = status > 0
        self.load("campaigns", pl.DataFrame({
            "id": _int(np.arange(1, k + 1)),
            "name": pl.Series(names, dtype=pl.String),
            "channel": _pick(channels, ch),
            "status": _pick(["draft", "running", "done"], status),
            "budget": _float(budget),
            "cost": _float(cost, active),
            "cost_per_contact": _float(cost / np.maximum(members, 1), active & (members > 0)),
            "revenue_per_response": _float(rev / np.maximum(responded, 1), active & (responded > 0)),
            "start_date": _date(c.start_ep + start),
            "end_date": _date(c.start_ep + end),
            "owner_id": _int(self.marketing_ids[np.arange(k) % self.marketing_ids.size]),
            "team_id": _int(np.full(k, self.team_id["Marketing"])),
            "created_at": _ts(created),
            "updated_at": _ts(np.maximum(np.minimum((c.start_ep + end + 1) * DAY + 2 * HOUR, c.now_us - HOUR), created)),
        }))
