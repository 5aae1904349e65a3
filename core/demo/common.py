"""What every generator of the demo shares: the reference lists (names, places, sectors, the catalogue),
the column helpers (numpy -> typed Polars/Arrow columns with nulls), the seasonal clock and `Base`, the
state of one build (connection, ONE seeded random source, ONE clock, the bulk loader, sampling helpers)."""
from __future__ import annotations

import time
from datetime import date, datetime, timezone

import numpy as np
import polars as pl
import pyarrow as pa

try:  # the acting-user module; fall back while it is being written
    from core.context import utcnow
except ImportError:  # pragma: no cover
    def utcnow() -> datetime:
        return datetime.now(timezone.utc).replace(tzinfo=None)


SCALES = {"XS": 500, "S": 10_000, "M": 100_000, "L": 1_000_000}   # number of customers
DEMO_PASSWORD = "Demo#2026"
DEMO_LOGINS = [("admin", "admin"), ("manager", "manager"), ("rep", "sales"),
               ("marketing", "marketing"), ("service", "service")]   # (username, role)

last_timings: dict[str, float] = {}   # seconds per step of the last build (for benchmarks)

SPAN_DAYS = 730                      # the history covers the two years before `now`
US = 1_000_000                       # microseconds
HOUR = 3600 * US
DAY = 24 * HOUR
EPOCH = datetime(1970, 1, 1)
COMPANY_DOMAIN = "nebula-crm.cn"

# ------------------------------------------------------------------------------------ reference lists
SURNAMES = [  # (hanzi, pinyin, weight %)
    ("王", "Wang", 7.1), ("李", "Li", 7.0), ("张", "Zhang", 6.7), ("刘", "Liu", 5.4), ("陈", "Chen", 4.5),
    ("杨", "Yang", 3.1), ("黄", "Huang", 2.2), ("赵", "Zhao", 2.0), ("吴", "Wu", 1.9), ("周", "Zhou", 1.9),
    ("徐", "Xu", 1.3), ("孙", "Sun", 1.3), ("马", "Ma", 1.2), ("朱", "Zhu", 1.1), ("胡", "Hu", 1.0),
    ("郭", "Guo", 1.0), ("何", "He", 0.9), ("高", "Gao", 0.9), ("林", "Lin", 0.9), ("罗", "Luo", 0.9),
    ("郑", "Zheng", 0.8), ("梁", "Liang", 0.8), ("谢", "Xie", 0.7), ("宋", "Song", 0.6), ("唐", "Tang", 0.6),
    ("许", "Xu", 0.6), ("韩", "Han", 0.6), ("冯", "Feng", 0.6), ("邓", "Deng", 0.6), ("曹", "Cao", 0.5),
    ("彭", "Peng", 0.5), ("曾", "Zeng", 0.5), ("肖", "Xiao", 0.5), ("田", "Tian", 0.4), ("董", "Dong", 0.4),
    ("袁", "Yuan", 0.4), ("潘", "Pan", 0.4), ("蒋", "Jiang", 0.4), ("蔡", "Cai", 0.4), ("余", "Yu", 0.4),
    ("杜", "Du", 0.4), ("叶", "Ye", 0.4), ("程", "Cheng", 0.4), ("苏", "Su", 0.4), ("魏", "Wei", 0.4),
    ("吕", "Lv", 0.3), ("丁", "Ding", 0.3), ("沈", "Shen", 0.3), ("任", "Ren", 0.3), ("姚", "Yao", 0.3),
    ("卢", "Lu", 0.3), ("钟", "Zhong", 0.3), ("姜", "Jiang", 0.3), ("崔", "Cui", 0.3), ("谭", "Tan", 0.3),
    ("陆", "Lu", 0.3), ("范", "Fan", 0.3), ("汪", "Wang", 0.3), ("金", "Jin", 0.3), ("石", "Shi", 0.3),
    ("廖", "Liao", 0.3), ("贾", "Jia", 0.2), ("夏", "Xia", 0.2), ("方", "Fang", 0.2), ("白", "Bai", 0.2),
    ("孟", "Meng", 0.2), ("秦", "Qin", 0.2), ("江", "Jiang", 0.2), ("顾", "Gu", 0.2), ("毛", "Mao", 0.2),
]
GIVEN = [  # (hanzi, pinyin, gender m/f/u)
    ("伟", "wei", "m"), ("芳", "fang", "f"), ("娜", "na", "f"), ("敏", "min", "f"), ("静", "jing", "f"),
    ("丽", "li", "f"), ("强", "qiang", "m"), ("磊", "lei", "m"), ("军", "jun", "m"), ("洋", "yang", "m"),
    ("勇", "yong", "m"), ("艳", "yan", "f"), ("杰", "jie", "m"), ("娟", "juan", "f"), ("涛", "tao", "m"),
    ("明", "ming", "m"), ("超", "chao", "m"), ("霞", "xia", "f"), ("平", "ping", "u"), ("刚", "gang", "m"),
    ("玲", "ling", "f"), ("辉", "hui", "m"), ("鹏", "peng", "m"), ("华", "hua", "u"), ("飞", "fei", "m"),
    ("建", "jian", "m"), ("国", "guo", "m"), ("晨", "chen", "u"), ("雪", "xue", "f"), ("婷", "ting", "f"),
    ("欣", "xin", "f"), ("宇", "yu", "m"), ("浩", "hao", "m"), ("俊", "jun", "m"), ("倩", "qian", "f"),
    ("颖", "ying", "f"), ("琳", "lin", "f"), ("佳", "jia", "u"), ("子", "zi", "u"), ("文", "wen", "u"),
    ("博", "bo", "m"), ("思", "si", "u"), ("梓", "zi", "u"), ("晓", "xiao", "u"), ("海", "hai", "m"),
    ("红", "hong", "f"), ("波", "bo", "m"), ("斌", "bin", "m"), ("慧", "hui", "f"), ("燕", "yan", "f"),
    ("然", "ran", "u"), ("涵", "han", "f"), ("轩", "xuan", "m"), ("怡", "yi", "f"), ("嘉", "jia", "u"),
    ("瑶", "yao", "f"), ("鑫", "xin", "m"), ("凯", "kai", "m"), ("秀英", "xiuying", "f"), ("桂英", "guiying", "f"),
]
EN_FIRST = [
    ("James", "m"), ("John", "m"), ("Robert", "m"), ("Michael", "m"), ("David", "m"), ("William", "m"),
    ("Richard", "m"), ("Thomas", "m"), ("Daniel", "m"), ("Matthew", "m"), ("Andrew", "m"), ("Kevin", "m"),
    ("Brian", "m"), ("Eric", "m"), ("Jason", "m"), ("Peter", "m"), ("Mark", "m"), ("Paul", "m"),
    ("Steven", "m"), ("Chris", "m"), ("Mary", "f"), ("Jennifer", "f"), ("Linda", "f"), ("Elizabeth", "f"),
    ("Susan", "f"), ("Jessica", "f"), ("Sarah", "f"), ("Karen", "f"), ("Emily", "f"), ("Emma", "f"),
    ("Olivia", "f"), ("Sophia", "f"), ("Grace", "f"), ("Anna", "f"), ("Laura", "f"), ("Rachel", "f"),
    ("Amy", "f"), ("Helen", "f"), ("Lucy", "f"), ("Nancy", "f"),
]
EN_LAST = ("Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Martin "
           "Jackson Thompson White Harris Clark Lewis Walker Hall Allen Young King Wright Scott Green Baker "
           "Adams Nelson Carter Mitchell Roberts Turner Phillips Campbell Parker Evans Edwards Collins").split()
BRAND_A = [("星", "xing"), ("华", "hua"), ("恒", "heng"), ("金", "jin"), ("东", "dong"), ("天", "tian"),
           ("博", "bo"), ("瑞", "rui"), ("鼎", "ding"), ("安", "an"), ("宏", "hong"), ("中", "zhong"),
           ("凯", "kai"), ("盛", "sheng"), ("锦", "jin"), ("汇", "hui"), ("永", "yong"), ("嘉", "jia"),
           ("腾", "teng"), ("远", "yuan"), ("九", "jiu"), ("万", "wan"), ("明", "ming"), ("海", "hai"),
           ("云", "yun"), ("智", "zhi"), ("优", "you"), ("立", "li"), ("精", "jing"), ("众", "zhong"),
           ("同", "tong"), ("北", "bei"), ("蓝", "lan"), ("银", "yin"), ("青", "qing"), ("德", "de"),
           ("百", "bai"), ("启", "qi"), ("卓", "zhuo"), ("融", "rong"), ("新", "xin"), ("润", "run"),
           ("国", "guo"), ("正", "zheng")]
BRAND_B = [("辰", "chen"), ("信", "xin"), ("达", "da"), ("桥", "qiao"), ("方", "fang"), ("宇", "yu"),
           ("远", "yuan"), ("丰", "feng"), ("盛", "sheng"), ("泰", "tai"), ("图", "tu"), ("科", "ke"),
           ("创", "chuang"), ("程", "cheng"), ("通", "tong"), ("兴", "xing"), ("禾", "he"), ("飞", "fei"),
           ("航", "hang"), ("州", "zhou"), ("象", "xiang"), ("德", "de"), ("纳", "na"), ("帆", "fan"),
           ("汇", "hui"), ("品", "pin"), ("诚", "cheng"), ("海", "hai"), ("河", "he"), ("松", "song"),
           ("润", "run"), ("美", "mei"), ("川", "chuan"), ("恒", "heng"), ("明", "ming"), ("越", "yue"),
           ("华", "hua"), ("泽", "ze"), ("成", "cheng"), ("源", "yuan")]
EN_ADJ = ("Blue Golden Silver Pacific Bright Summit Evergreen Red Northstar Harbor Eastern Pioneer Apex "
          "Crystal Green Oak Maple Unity Vertex Horizon Sun Jade Lotus Dragon Phoenix Atlas Nova Orion "
          "Delta Sterling").split()
EN_NOUN = "River Peak Bridge Stone Wave Point Gate Field Bay Ridge Star Line Path Way Link Leaf Hill Lake Rock Port".split()
ZH_SUFFIX = [("有限公司", 0.75), ("股份有限公司", 0.15), ("集团有限公司", 0.10)]
EN_SUFFIX = [("Co., Ltd.", 0.45), ("Ltd.", 0.2), ("(China) Co., Ltd.", 0.15), ("Group", 0.1), ("Inc.", 0.1)]
# sector code, weight, words (hanzi, pinyin, english)
SECTORS = [
    ("technology", 0.18, [("科技", "keji", "Technology"), ("电子", "dianzi", "Electronics"), ("信息技术", "it", "Info Tech")]),
    ("software", 0.12, [("软件", "soft", "Software"), ("网络", "net", "Systems")]),
    ("retail", 0.14, [("商贸", "shangmao", "Trading"), ("贸易", "trade", "Retail")]),
    ("manufacturing", 0.18, [("机械", "jixie", "Machinery"), ("实业", "shiye", "Industries"), ("制造", "mfg", "Manufacturing")]),
    ("medical", 0.07, [("医疗器械", "medical", "Medical"), ("生物", "bio", "Biotech")]),
    ("finance", 0.05, [("投资", "invest", "Capital"), ("金融服务", "finance", "Financial")]),
    ("logistics", 0.08, [("物流", "wuliu", "Logistics"), ("供应链", "scm", "Supply Chain")]),
    ("education", 0.05, [("教育", "edu", "Education"), ("培训", "peixun", "Learning")]),
    ("telecommunications", 0.03, [("通信", "tongxin", "Telecom")]),
    ("services", 0.06, [("咨询", "zixun", "Consulting"), ("企业管理", "guanli", "Services")]),
    ("marketing", 0.04, [("广告", "ad", "Media"), ("文化传媒", "media", "Marketing")]),
]
# (province, city, pinyin, weight) per region
CITIES = {
    "East": [("上海市", "上海", "sh", 5), ("浙江省", "杭州", "hz", 3), ("浙江省", "宁波", "nb", 1.5),
             ("江苏省", "南京", "nj", 2), ("江苏省", "苏州", "sz", 2.5), ("江苏省", "无锡", "wx", 1),
             ("安徽省", "合肥", "hf", 1.2), ("山东省", "济南", "jn", 1.2), ("山东省", "青岛", "qd", 1.5),
             ("福建省", "福州", "fz", 1), ("福建省", "厦门", "xm", 1.2)],
    "North": [("北京市", "北京", "bj", 6), ("天津市", "天津", "tj", 2), ("河北省", "石家庄", "sjz", 1),
              ("辽宁省", "沈阳", "sy", 1.2), ("辽宁省", "大连", "dl", 1.2), ("山西省", "太原", "ty", 0.8),
              ("黑龙江省", "哈尔滨", "hrb", 0.8), ("河南省", "郑州", "zz", 1.5)],
    "South": [("广东省", "广州", "gz", 4), ("广东省", "深圳", "szn", 4), ("广东省", "东莞", "dg", 1.5),
              ("广东省", "佛山", "fs", 1.5), ("广西壮族自治区", "南宁", "nn", 0.8), ("海南省", "海口", "hk", 0.5),
              ("湖南省", "长沙", "cs", 1.5), ("湖北省", "武汉", "wh", 2)],
    "West": [("四川省", "成都", "cd", 4), ("重庆市", "重庆", "cq", 3), ("陕西省", "西安", "xa", 2.5),
             ("云南省", "昆明", "km", 1.2), ("贵州省", "贵阳", "gy", 0.8), ("甘肃省", "兰州", "lz", 0.6)],
}
SOURCES = [("web", 0.28), ("referral", 0.15), ("event", 0.10), ("ad", 0.20), ("cold_call", 0.15), ("import", 0.12)]
PRODUCTS = [  # code, name, Chinese name, series, list price, deal weight (0: no longer sold)
    ("CL-STD", "Cloud CRM Starter", "云CRM 标准版", "Cloud", 2400, 0.20),
    ("CL-PRO", "Cloud CRM Professional", "云CRM 专业版", "Cloud", 9800, 0.20),
    ("CL-ENT", "Cloud CRM Enterprise", "云CRM 企业版", "Cloud", 48000, 0.06),
    ("AD-ANA", "Analytics Add-on", "数据分析模块", "Add-on", 6000, 0.10),
    ("AD-CALL", "Call Center Module", "呼叫中心模块", "Add-on", 12000, 0.08),
    ("HW-S1", "Smart Scanner S1", "智能扫描枪 S1", "Hardware", 1299, 0.10),
    ("HW-PRO", "Smart Scanner Pro", "智能扫描枪 Pro", "Hardware", 3599, 0.08),
    ("SV-ONB", "Onboarding Service", "上线实施服务", "Service", 5000, 0.06),
    ("SV-INT", "Custom Integration", "定制集成开发", "Service", 30000, 0.04),
    ("SV-TRN", "Training Workshop", "培训工作坊", "Service", 3000, 0.05),
    ("SV-SUP", "Premium Support Plan", "高级支持服务", "Service", 15000, 0.03),
    ("HW-S0", "Smart Scanner S0 (discontinued)", "智能扫描枪 S0（停售）", "Hardware", 999, 0.0),
]
N_SOLD = sum(1 for p in PRODUCTS if p[5] > 0)      # the products on sale come first
SUPPORT_PLAN = [p[0] for p in PRODUCTS].index("SV-SUP")
CNY_DATES = ["2020-01-25", "2021-02-12", "2022-02-01", "2023-01-22", "2024-02-10", "2025-01-29", "2026-02-17",
             "2027-02-06", "2028-01-26", "2029-02-13", "2030-02-03", "2031-01-23", "2032-02-11"]
MONTH_FACTOR = np.array([0, 0.95, 0.85, 1.15, 1.2, 1.1, 1.05, 0.9, 0.85, 1.15, 1.05, 1.2, 1.0])
DOW_FACTOR = np.array([1.05, 1.0, 1.0, 1.0, 0.95, 0.3, 0.15])        # Monday first
HOUR_WEIGHTS = np.array([3, 10, 13, 12, 6, 5, 11, 12, 11, 8, 5, 2, 2], float)   # local 08:00 .. 20:00


def _n_customers(scale: str | int) -> int:
    if isinstance(scale, str) and scale.strip().isdigit():
        scale = int(scale)
    if isinstance(scale, str):
        if scale.upper() not in SCALES:
            raise ValueError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)} or a number")
        return SCALES[scale.upper()]
    n = int(scale)
    if n < 20:
        raise ValueError("a demo needs at least 20 customers")
    return n


# --------------------------------------------------------------------------------- column helpers
def _mask(valid):
    return None if valid is None else ~np.asarray(valid, bool)


def _ts(us, valid=None) -> pl.Series:
    us = np.asarray(us, np.int64)
    return pl.Series(pa.array(us - us % US, type=pa.timestamp("us"), mask=_mask(valid)))   # whole seconds


def _date(epoch_days, valid=None) -> pl.Series:
    return pl.Series(pa.array(np.asarray(epoch_days, np.int32), type=pa.date32(), mask=_mask(valid)))


def _int(values, valid=None) -> pl.Series:
    return pl.Series(pa.array(np.asarray(values, np.int64), type=pa.int64(), mask=_mask(valid)))


def _float(values, valid=None) -> pl.Series:
    return pl.Series(pa.array(np.asarray(values, np.float64), type=pa.float64(), mask=_mask(valid)))


def _pick(choices, idx, valid=None) -> pl.Series:
    """Strings chosen from a small list by index (null where not valid)."""
    src = pl.Series(list(choices), dtype=pl.String)
    return src.gather(_int(idx, valid))


def _where(cond, a: pl.Series, b: pl.Series) -> pl.Series:
    return pl.DataFrame({"c": np.asarray(cond, bool), "a": a, "b": b}).select(
        pl.when(pl.col("c")).then(pl.col("a")).otherwise(pl.col("b"))).to_series()


def _by_time(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """Rows in time order with ids 1..n, as a live system would have numbered them."""
    frame = frame.sort(column, maintain_order=True)
    return frame.with_columns(pl.Series("id", np.arange(1, frame.height + 1), dtype=pl.Int64))


def _weights(pairs):
    w = np.array([p[-1] for p in pairs], float)
    return w / w.sum()


def _alloc(total: int, shares, minimum: int = 1) -> list[int]:
    """Split `total` by shares (largest remainder), each at least `minimum`."""
    shares = np.asarray(shares, float) / np.sum(shares)
    raw = shares * total
    out = np.maximum(np.floor(raw).astype(int), minimum)
    while out.sum() < total:
        out[np.argmax(raw - out)] += 1
    while out.sum() > total:
        out[np.argmax(out)] -= 1
    return out.tolist()


class Clock:
    """Days are numbered 0 (SPAN_DAYS before today) .. SPAN_DAYS (today, UTC); times are epoch us."""

    def __init__(self, now: datetime, rng: np.random.Generator):
        self.rng = rng
        self.now = now
        self.now_us = int((now - EPOCH).total_seconds()) * US
        self.today_ep = (now.date() - date(1970, 1, 1)).days
        self.T = SPAN_DAYS
        self.start_ep = self.today_ep - SPAN_DAYS
        self.start_us = self.start_ep * DAY
        ep = self.start_ep + np.arange(SPAN_DAYS + 1)
        d64 = ep.astype("datetime64[D]")
        month = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
        dom = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
        self.dow = (ep + 3) % 7
        w = MONTH_FACTOR[month] * DOW_FACTOR[self.dow] * (0.75 + 0.5 * np.arange(SPAN_DAYS + 1) / SPAN_DAYS)
        for text in CNY_DATES:
            diff = ep - (date.fromisoformat(text) - date(1970, 1, 1)).days
            w[(diff >= -2) & (diff <= 6)] *= 0.15
            w[((diff >= -7) & (diff < -2)) | ((diff > 6) & (diff <= 14))] *= 0.55
        w[(month == 10) & (dom <= 7)] *= 0.3          # national-day golden week
        self.hour_p = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()
        # today has only had its hours up to now: its share of the day's volume, at times before now
        self.hour_cum = np.concatenate([[0.0], np.cumsum(self.hour_p)])
        hours_now = (self.now_us - self.today_ep * DAY) / HOUR
        whole = int(min(hours_now, len(self.hour_p)))
        self.today_share = float(self.hour_cum[whole] + (self.hour_p[whole] * (hours_now - whole)
                                                         if whole < len(self.hour_p) else 0.0))
        w[-1] *= self.today_share
        self.weight = w
        self.cum = np.concatenate([[0.0], np.cumsum(w)])

    def days(self, lo, hi, n: int | None = None, cum: np.ndarray | None = None) -> np.ndarray:
        """A seasonal day in [lo, hi] (inclusive, clipped to the span) for each row (by the cumulated day
        weights `cum` when given, else the calendar's)."""
        lo = np.asarray(lo, np.int64)
        hi = np.asarray(hi, np.int64)
        if n is not None:
            lo, hi = np.broadcast_to(lo, (n,)), np.broadcast_to(hi, (n,))
        lo = np.clip(lo, 0, self.T)
        hi = np.clip(np.maximum(hi, lo), 0, self.T)
        cum = self.cum if cum is None else cum
        a, b = cum[lo], cum[hi + 1]
        d = np.searchsorted(cum, a + self.rng.random(lo.shape) * (b - a), side="right") - 1
        return np.clip(d, lo, hi)

    def tod(self, n: int) -> np.ndarray:
        """Office time of day (China, UTC+8) as UTC microseconds after midnight."""
        h = self.rng.choice(len(self.hour_p), size=n, p=self.hour_p)
        return (h * 3600 + self.rng.integers(0, 3600, n)) * US

    def at(self, day, tod=None) -> np.ndarray:
        """Instants on the rows' days: office times of day (today's before now) unless `tod` is given."""
        day = np.asarray(day, np.int64)
        if tod is None:
            tod = self.tod(day.size)
            today = np.nonzero(day == self.T)[0]
            if today.size:
                u = self.rng.random(today.size) * self.today_share
                h = np.clip(np.searchsorted(self.hour_cum, u, side="right") - 1, 0, len(self.hour_p) - 1)
                tod[today] = ((h + (u - self.hour_cum[h]) / self.hour_p[h]) * HOUR).astype(np.int64)
        return (self.start_ep + day) * DAY + tod

    def workday(self, day, p: float = 0.85) -> np.ndarray:
        """Move a share of weekend days to the next Monday (not past today)."""
        day = np.asarray(day, np.int64)
        dow = (self.start_ep + day + 3) % 7
        shift = np.where(dow == 5, 2, np.where(dow == 6, 1, 0)) * (self.rng.random(day.size) < p)
        out = day + shift
        return np.where(out > self.T, day, out)

    def past(self, us) -> np.ndarray:
        """Clamp times to before now (by a few pseudo-random minutes)."""
        us = np.asarray(us, np.int64)
        return np.minimum(us, self.now_us - 60 * US - (us % (50 * 60 * US)))

    def day_of(self, us) -> np.ndarray:
        return np.asarray(us, np.int64) // DAY - self.start_ep


class Base:
    """The shared state of one build: the connection, ONE seeded random source, ONE clock, the loader
    and the sampling helpers every module's generator uses."""

    def __init__(self, con, n: int, seed: int, now: datetime, password_hash: str):
        self.con = con
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.clock = Clock(now, self.rng)
        self.password_hash = password_hash
        self.counts: dict[str, int] = {}

    # ------------------------------------------------------------------ helpers
    def load(self, table: str, frame: pl.DataFrame) -> None:
        cols = ", ".join(frame.columns)
        started = time.perf_counter()
        self.con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM frame")  # sql-ok: fixed names
        last_timings[f"insert_{table}"] = last_timings.get(f"insert_{table}", 0.0) + time.perf_counter() - started
        self.counts[table] = self.counts.get(table, 0) + frame.height

    def choose(self, pairs, size: int) -> np.ndarray:
        return self.rng.choice(len(pairs), size=size, p=_weights(pairs))

    def pick_rep(self, teams: np.ndarray, weighted: bool = True) -> np.ndarray:
        """A rep of each row's team, weighted by the reps' activity rates."""
        out = np.zeros(teams.size, np.int64)
        for team, reps in self.reps_by_team.items():
            m = teams == team
            k = int(m.sum())
            if k:
                w = self.rate[reps] if weighted else np.ones(len(reps))
                out[m] = self.rng.choice(reps, size=k, p=w / w.sum())
        return out

    def pick_by_day(self, day: np.ndarray, start: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """For each row's day, an entity (index) that existed by then (start <= day), by weight.

        Days before the first entity existed take the first one. Sampling the day first and the
        entity second keeps volumes on the calendar instead of piling up where entities accumulate.
        """
        idx = np.nonzero(weight > 0)[0]
        if idx.size == 0:
            idx = np.arange(np.size(start))
        order = idx[np.argsort(start[idx], kind="stable")]
        sd = start[order]
        cw = np.cumsum(weight[order])
        k = np.maximum(np.searchsorted(sd, day, side="right"), 1)
        u = self.rng.random(np.size(day)) * cw[k - 1]
        j = np.minimum(np.searchsorted(cw, u, side="right"), k - 1)
        return order[j]

    def phones(self, k: int) -> np.ndarray:
        """k new, unique mainland mobile numbers (11 digits, as int64)."""
        taken = self._phone_pool[self._phone_next:self._phone_next + k]
        self._phone_next += k
        if taken.size < k:  # pragma: no cover - the pool is sized up front
            raise RuntimeError("phone pool exhausted")
        return taken

    def _make_phone_pool(self, total: int) -> None:
        prefixes = np.array([130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156,
                             157, 158, 159, 166, 176, 177, 180, 181, 182, 183, 185, 186, 187, 188, 189,
                             191, 198, 199])
        w = np.where(prefixes < 140, 3.0, np.where(prefixes < 160, 2.0, np.where(prefixes >= 180, 2.0, 0.7)))
        draw = int(total * 1.02) + 64
        nums = (prefixes[self.rng.choice(len(prefixes), draw, p=w / w.sum())] * 100_000_000
                + self.rng.integers(0, 100_000_000, draw))
        _, first = np.unique(nums, return_index=True)
        self._phone_pool = nums[np.sort(first)][:total]
        self._phone_next = 0

    @staticmethod
    def phone_norm(nums: np.ndarray) -> pl.Series:
        return "+86" + pl.Series(nums).cast(pl.String)

    def person_names(self, k: int, zh_share: float):
        """Names, genders, pinyin e-mail local parts of k people."""
        rng = self.rng
        zh = rng.random(k) < zh_share
        sw = np.array([s[2] for s in SURNAMES])
        si = rng.choice(len(SURNAMES), k, p=sw / sw.sum())
        g1 = rng.integers(0, len(GIVEN), k)
        two_char = np.array([len(g[0]) > 1 for g in GIVEN])
        g2 = np.where((rng.random(k) < 0.6) & ~two_char[g1], rng.integers(0, len(GIVEN), k), len(GIVEN))
        g2 = np.where((g2 < len(GIVEN)) & two_char[np.minimum(g2, len(GIVEN) - 1)], len(GIVEN), g2)
        fi = rng.integers(0, len(EN_FIRST), k)
        li = rng.integers(0, len(EN_LAST), k)
        given = [g[0] for g in GIVEN] + [""]
        given_py = [g[1] for g in GIVEN] + [""]
        zh_name = _pick([s[0] for s in SURNAMES], si) + _pick(given, g1) + _pick(given, g2)
        en_name = _pick([f[0] for f in EN_FIRST], fi) + " " + _pick(EN_LAST, li)
        name = _where(zh, zh_name, en_name)
        zh_local = _pick(given_py, g1) + _pick(given_py, g2) + "." + _pick([s[1].lower() for s in SURNAMES], si)
        en_local = _pick([f[0].lower() for f in EN_FIRST], fi) + "." + _pick([x.lower() for x in EN_LAST], li)
        local = _where(zh, zh_local, en_local)
        last_g = np.where(g2 < len(GIVEN), g2, g1)
        gz = np.array([g[2] for g in GIVEN])[last_g]
        gz = np.where(gz == "u", np.where(rng.random(k) < 0.5, "m", "f"), gz)
        ge = np.array([f[1] for f in EN_FIRST])[fi]
        gender = np.where(zh, gz, ge)
        return name, gender, local, zh
