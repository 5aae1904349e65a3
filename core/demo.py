"""A deterministic demo company: fills an empty, migrated database with two years of a realistic CRM.

`build(con, scale, seed)` generates every table as vectorised numpy / Polars columns and loads each
with one `INSERT ... SELECT` from a local Polars frame, so the 1M-customer scale builds in about a
minute. The same seed and `now` give the same database.

The story: a software and hardware vendor selling to Chinese companies and consumers. A "Sales"
team with four regions (East, with the sub-team "East - Shanghai", North, South with
"South - Shenzhen", West), a "New hires" group working from its own shared pool, "Marketing" and
"Service". Reps differ in win rate and activity volume; activity follows the Chinese calendar
(spring and autumn peaks, a dip at Chinese New Year, the October golden week and weekends).

The pipeline and transactions (issue 7): deals carry one to three catalogue lines that add up to their
amount, days in stage (stage_changed_at = the last stage-history row) and the last follow-up logged on
them; lost deals a reason code of the admin's list (and often the competitor); a year after a first win
a share of customers go through the "Renewals" pipeline. Orders are draft / confirmed / cancelled /
refunded with lines adding up to the amount; sales orders have payment plans (one to three instalments)
and payments (most paid in full, some recent ones in part, some overdue). Targets cover the last twelve
months and every month of the current year. Customers first won in the last year mostly have a hand-off
(pending / submitted / approved) with its onboarding ticket and audit rows; pending and submitted ones
leave the customer at stage "upgrade" (pending upgrade).
"""
from __future__ import annotations

import calendar
import math
import time
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pyarrow as pa

from core.db import reset_sequences, write

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
TICKET_CATEGORIES = [("technical", 0.35), ("product", 0.25), ("billing", 0.20), ("refund", 0.10), ("cancellation", 0.10)]
TICKET_SUBJECTS = {
    "technical": ["Cannot log in", "Sync error with mobile app", "Report export fails", "系统登录异常", "数据同步失败"],
    "product": ["How to configure pool rules", "Feature request: bulk edit", "Scanner not pairing", "扫描枪无法连接"],
    "billing": ["Invoice amount incorrect", "Need VAT invoice", "发票抬头修改", "Payment not reflected"],
    "refund": ["Refund request", "申请退款", "Duplicate charge"],
    "cancellation": ["Cancel subscription", "合同到期不续约", "Downgrade plan"],
}
RESOLUTIONS = ["Reset password and verified login", "Corrected configuration remotely", "Issued corrected invoice",
               "Refund processed", "Explained the feature with a guide", "Replaced the device",
               "Fixed in release, customer confirmed", "已远程协助解决", "已重新开具发票"]
FEEDBACK_COMMENTS = {
    "low": ["Response was too slow", "Problem came back", "客服响应太慢", "Not solved on first contact"],
    "mid": ["OK", "Solved, but took a while", "还可以"],
    "high": ["Very helpful, thanks!", "Quick fix", "服务很好", "Great support team"],
}
TASK_TITLES = ["Call back", "Send quotation", "Prepare contract", "Schedule demo", "Collect payment",
               "Renewal check", "回访客户", "发送报价单"]
CNY_DATES = ["2020-01-25", "2021-02-12", "2022-02-01", "2023-01-22", "2024-02-10", "2025-01-29", "2026-02-17",
             "2027-02-06", "2028-01-26", "2029-02-13", "2030-02-03", "2031-01-23", "2032-02-11"]
MONTH_FACTOR = np.array([0, 0.95, 0.85, 1.15, 1.2, 1.1, 1.05, 0.9, 0.85, 1.15, 1.05, 1.2, 1.0])
DOW_FACTOR = np.array([1.05, 1.0, 1.0, 1.0, 0.95, 0.3, 0.15])        # Monday first
HOUR_WEIGHTS = np.array([3, 10, 13, 12, 6, 5, 11, 12, 11, 8, 5, 2, 2], float)   # local 08:00 .. 20:00

# sales leaf teams: name, parent name, region, share of reps
SALES_TEAMS = [("East", "Sales", "East", 0.22), ("East - Shanghai", "East", "East", 0.18),
               ("North", "Sales", "North", 0.18), ("South", "Sales", "South", 0.16),
               ("South - Shenzhen", "South", "South", 0.12), ("West", "Sales", "West", 0.14)]
TEAM_CITY_BIAS = {"East - Shanghai": {"上海": 0.85, "苏州": 0.15}, "South - Shenzhen": {"深圳": 0.8, "东莞": 0.2}}


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


class _Clock:
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
        self.weight = w
        self.cum = np.concatenate([[0.0], np.cumsum(w)])
        self.hour_p = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()

    def days(self, lo, hi, n: int | None = None) -> np.ndarray:
        """A seasonal day in [lo, hi] (inclusive, clipped to the span) for each row."""
        lo = np.asarray(lo, np.int64)
        hi = np.asarray(hi, np.int64)
        if n is not None:
            lo, hi = np.broadcast_to(lo, (n,)), np.broadcast_to(hi, (n,))
        lo = np.clip(lo, 0, self.T)
        hi = np.clip(np.maximum(hi, lo), 0, self.T)
        a, b = self.cum[lo], self.cum[hi + 1]
        d = np.searchsorted(self.cum, a + self.rng.random(lo.shape) * (b - a), side="right") - 1
        return np.clip(d, lo, hi)

    def tod(self, n: int) -> np.ndarray:
        """Office time of day (China, UTC+8) as UTC microseconds after midnight."""
        h = self.rng.choice(len(self.hour_p), size=n, p=self.hour_p)
        return (h * 3600 + self.rng.integers(0, 3600, n)) * US

    def at(self, day, tod=None) -> np.ndarray:
        day = np.asarray(day, np.int64)
        return (self.start_ep + day) * DAY + (self.tod(day.size) if tod is None else tod)

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


# ------------------------------------------------------------------------------------- the build
def build(con, scale: str | int = "S", seed: int = 42, now: datetime | None = None,
          password_hash: str | None = None) -> dict[str, int]:
    """Fill an empty, migrated database with a demo company; returns the row count per table."""
    n = _n_customers(scale)
    now = now or utcnow()
    if now.tzinfo is not None:
        now = now.astimezone(timezone.utc).replace(tzinfo=None)
    now = now.replace(microsecond=0)
    for table in ("users", "customers", "deals"):
        if con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]:  # sql-ok: fixed list
            raise ValueError(f"the demo needs an empty database, but {table} has rows")
    if password_hash is None:  # one hash for every demo user, at the cost every login uses (no timing tell)
        from core.auth import hash_password

        password_hash = hash_password(DEMO_PASSWORD)
    last_timings.clear()
    gen = _Demo(con, n, seed, now, password_hash)
    progress_bar = con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]
    con.execute("SET enable_progress_bar = false")      # no bars in the server log for the long inserts
    try:  # one unit of work: a demo is there whole or not at all
        started = time.perf_counter()
        write(con, gen.run, retries=1)
        last_timings["generate_and_commit"] = time.perf_counter() - started
    finally:
        if progress_bar:
            con.execute("SET enable_progress_bar = true")
    started = time.perf_counter()
    reset_sequences(con)
    con.execute("CHECKPOINT")
    last_timings["reset_and_checkpoint"] = time.perf_counter() - started
    return dict(gen.counts)


class _Demo:
    def __init__(self, con, n: int, seed: int, now: datetime, password_hash: str):
        self.con = con
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.clock = _Clock(now, self.rng)
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

    # ------------------------------------------------------------------ the steps
    def run(self) -> None:
        steps = (self.org, self.products, self.customers_base, self.deals, self.customer_stages, self.ownership,
                 self.leads, self.contacts, self.activities, self.orders, self.tickets, self.handoffs, self.campaigns,
                 self.load_deals, self.load_customers, self.tasks, self.targets, self.pool_moves, self.phone_keys,
                 self.dedup_keys)
        for step in steps:
            started = time.perf_counter()
            step()
            last_timings[f"step_{step.__name__}"] = time.perf_counter() - started

    # ------------------------------------------------------------------ organisation
    def org(self) -> None:
        n, rng, c = self.n, self.rng, self.clock
        n_reps = 12 if n <= 10_000 else int(round(12 + 14 * math.log10(n / 10_000)))
        n_new = 2 if n <= 10_000 else (3 if n <= 100_000 else 5)
        n_mkt = 1 if n < 5_000 else (2 if n < 500_000 else 3)
        n_svc = int(np.clip(round(3 + 3 * math.log10(max(n, 500) / 500)), 3, 12))
        self.n_reps = n_reps

        # teams
        names = ["Sales"] + [t[0] for t in SALES_TEAMS] + ["New hires", "Marketing", "Service"]
        tid = {name: i + 1 for i, name in enumerate(names)}
        parent = {t[0]: t[1] for t in SALES_TEAMS}
        parent["New hires"] = "Sales"
        region = {t[0]: t[2] for t in SALES_TEAMS}
        self.team_id = tid
        self.sales_team_ids = np.array([tid[t[0]] for t in SALES_TEAMS])
        self.team_region = {tid[t[0]]: t[2] for t in SALES_TEAMS}
        self.team_name = {v: k for k, v in tid.items()}
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
            "created_at": _ts([created] * len(names)),
        }))

        # users: admin, managers, reps, new hires, marketing, service
        rows: list[dict] = []

        def add(username, role, team, manager=None, new=False, name=None, lang="en"):
            rows.append(dict(username=username, role=role, team=team, manager=manager, new=new, name=name,
                             lang=lang))
            return len(rows)   # the id

        admin = add("admin", "admin", None, name="Zhou Min")
        managers = {"East": add("manager", "manager", tid["East"], admin, name="Chen Jing")}
        for reg in ("North", "South", "West"):
            managers[reg] = add(f"mgr_{reg.lower()}", "manager", tid[reg], admin)
        per_team = _alloc(n_reps, [t[3] for t in SALES_TEAMS])
        self.reps_by_team: dict[int, np.ndarray] = {}
        rep_ids = []
        num = 1
        for (team, _, reg, _), k in zip(SALES_TEAMS, per_team):
            ids = []
            for j in range(k):
                if team == "East" and j == 0:
                    ids.append(add("rep", "sales", tid[team], managers[reg], name="Li Wei"))
                else:
                    num += 1
                    ids.append(add(f"rep{num:02d}", "sales", tid[team], managers[reg]))
            self.reps_by_team[tid[team]] = np.array(ids)
            rep_ids += ids
        new_ids = [add(f"new{j + 1:02d}", "sales", tid["New hires"], managers[("East", "North", "South", "West")[j % 4]],
                       new=True) for j in range(n_new)]
        self.reps_by_team[tid["New hires"]] = np.array(new_ids)
        self.marketing_ids = np.array([add("marketing", "marketing", tid["Marketing"], admin, name="Emily Zhang")]
                                      + [add(f"mkt{j + 2:02d}", "marketing", tid["Marketing"], admin)
                                         for j in range(n_mkt - 1)])
        self.service_ids = np.array([add("service", "service", tid["Service"], admin, name="Wang Fang")]
                                    + [add(f"svc{j + 2:02d}", "service", tid["Service"], admin)
                                       for j in range(n_svc - 1)])
        self.admin_id = admin
        self.manager_ids = managers
        self.team_manager = np.full(len(names) + 1, admin)
        for t in SALES_TEAMS:
            self.team_manager[tid[t[0]]] = managers[t[2]]
        self.team_manager[tid["New hires"]] = managers["East"]
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
        self.book[self.rep_ids] = rng.integers(150, 197, self.rep_ids.size)
        self.book[self.new_hire_ids] = rng.integers(15, 41, self.new_hire_ids.size)
        self.skill[self.rep_user], self.rate[self.rep_user], self.book[self.rep_user] = 1.25, 1.3, 190
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
            for team_name, bias in TEAM_CITY_BIAS.items():
                if self.team_region[self.team_id[team_name]] != reg:
                    continue
                mt = m & (team == self.team_id[team_name])
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
        # deals that would close after today are open; reps keep about 45 open deals each, so the
        # surplus is moved back in time to close before today
        natural_open = np.nonzero(engaged + cycle > c.T)[0]
        n_open = int(min(natural_open.size, 45 * self.n_reps))
        is_open = np.zeros(nd, bool)
        is_open[np.sort(rng.permutation(natural_open)[:n_open])] = True
        redo = (engaged + cycle > c.T) & ~is_open
        if redo.any():
            e2 = c.days(0, c.T - cycle[redo])
            cust[redo] = self.pick_by_day(e2, self.cust_created_day, w)
            engaged[redo] = np.maximum(e2, self.cust_created_day[cust[redo]])
        target = np.maximum(np.round(self.price[prod] * size * self.size_factor[cust], -2), 200)
        won &= ~is_open
        lost = ~is_open & ~won
        cycle = np.where(is_open, cycle, np.minimum(cycle, np.maximum(c.T - engaged, 0)))
        closed = c.workday(engaged + cycle)
        # current stage of open deals, highest stage reached by the others
        top = np.where(won, np.where(rng.random(nd) < 0.75, 4, 3),
                       1 + rng.choice(4, nd, p=[0.35, 0.3, 0.2, 0.15]))
        open_stage = 1 + rng.choice(4, nd, p=[0.3, 0.3, 0.25, 0.15])
        top = np.where(is_open, open_stage, top)
        pipe = np.ones(nd, np.int64)
        # renewals: a year after a customer's first win, a share of subscriptions come up for renewal
        r = self._renewals(cust, prod, target, won, closed)
        cust, prod, target, won, lost, is_open, cycle, top, engaged, closed, pipe = (
            np.concatenate([x, r[k]]) for x, k in ((cust, "cust"), (prod, "prod"), (target, "target"), (won, "won"),
                                                  (lost, "lost"), (is_open, "open"), (cycle, "cycle"), (top, "top"),
                                                  (engaged, "engaged"), (closed, "closed"), (pipe, "pipe")))
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
         closed_us, end_us, pipe, renewal) = (
            x[perm] for x in (cust, owner, team, prod, target, won, lost, is_open, cycle, top, stage_idx, engaged,
                              engaged_us, closed_us, end_us, pipe, renewal))
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
        exp_open = np.where(rng.random(nd) < 0.2, c.T - rng.integers(1, 30, nd), c.T + rng.integers(5, 90, nd))
        expected = np.where(is_open, np.maximum(exp_open, engaged + 7), engaged + np.maximum(planned, 1))
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
        # like new business, a rep works a limited number of open renewals (about 12): the rest of the
        # renewals due lately are not in the pipeline yet
        still_open = np.nonzero(take & (day + cycle > c.T))[0]
        cap = 12 * self.n_reps
        if still_open.size > cap:
            take[rng.permutation(still_open)[cap:]] = False
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
        r_won &= ~r_open
        r_lost = ~r_open & ~r_won
        top = np.where(r_won, np.where(rng.random(k) < 0.75, 3, 2), 1 + rng.choice(3, k, p=[0.45, 0.4, 0.15]))
        top = np.where(r_open, 1 + rng.choice(3, k, p=[0.4, 0.35, 0.25]), top)
        return dict(cust=r_cust, prod=r_prod, target=r_target, won=r_won, lost=r_lost, open=r_open, cycle=cycle,
                    top=top, engaged=day, closed=c.workday(day + cycle), pipe=np.full(k, RENEWALS_PIPELINE_ID))

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
        # assigned: won customers soon after creation, the others within the last months
        recent = c.now_us - (rng.uniform(1, 150, n) * DAY).astype(np.int64)
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
        # dates: new leads are recent, contacted/qualified within half a year
        lo = np.select([status == 0, (status == 1) | (status == 2)], [c.T - 45, c.T - 180], 0)
        created_day = c.days(lo, c.T)
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
        primary = np.r_[True, cust[1:] != cust[:-1]]
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
        # C: the latest touch of each owned, not won, worked customer (mostly within 10 working days)
        touched = self.owned & ~self.is_won & (stage > 0)
        c_cust = np.nonzero(touched)[0]
        back = np.minimum(rng.exponential(4.0, c_cust.size), 20.0)
        c_at = c.past(c.at(c.T - np.floor(back).astype(np.int64)))
        c_at = np.maximum(c_at, self.cust_created[c_cust] + 5 * 60 * US)
        c_at = np.minimum(c_at, c.now_us - 60 * US)
        # E: follow-ups logged on open deals of owned customers (most within the last two weeks, some
        # deals gone quiet), one to three each
        od = np.nonzero(d["open"] & self.owned[d["cust"]])[0]
        reps = 1 + rng.choice(3, od.size, p=[0.4, 0.35, 0.25])
        e_deal = np.repeat(od, reps)
        quiet = np.repeat(rng.random(od.size) < 0.15, reps)
        back = np.where(quiet, rng.uniform(15, 60, e_deal.size), np.minimum(rng.exponential(5.0, e_deal.size), 40))
        e_at = c.past(c.at(c.workday(c.T - np.floor(back).astype(np.int64))))
        e_at = np.clip(e_at, d["engaged_us"][e_deal] + 10 * 60 * US, c.now_us - 60 * US)
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
        g_day = c.days(0, c.T, nb)
        g_cust = self.pick_by_day(g_day, self.cust_created_day, w)
        lo = np.maximum(self.cust_created_day, self.active_from[self.hist_rep])[g_cust]
        hi_cust = np.where(self.owned, c.T, c.day_of(self.pool_since))
        hi = np.where(touched, c.T - 1, hi_cust)[g_cust]
        out = (g_day < lo) | (g_day > hi)       # pool customers: before they went back to the pool
        g_day[out] = c.days(lo[out], hi[out])
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

    # ------------------------------------------------------------------ tickets and feedback
    def tickets(self) -> None:
        n, rng, c = self.n, self.rng, self.clock
        k = 3 * n // 10
        sla = dict(self.con.execute("SELECT priority, first_response_hours FROM sla_targets").fetchall())
        res = dict(self.con.execute("SELECT priority, resolution_hours FROM sla_targets").fetchall())
        prios = ["low", "medium", "high", "critical"]
        fr_h = np.array([sla.get(p, 8.0) for p in prios])
        res_h = np.array([res.get(p, 48.0) for p in prios])
        buyers = np.nonzero(self.is_won)[0]
        others = np.nonzero(~self.is_won & (self.cust_stage > 0))[0]
        if others.size == 0:
            others = np.arange(n)
        from_buyer = rng.random(k) < (0.8 if buyers.size else 0.0)
        won_day = np.where(self.is_won, c.day_of(self.won_at), c.T + 1)
        day = c.workday(c.days(0, c.T, k), 0.5)
        by_buyer = self.pick_by_day(day, won_day, np.where(self.is_won, self.order_count + 1.0, 0.0))
        other_w = np.zeros(n)
        other_w[others] = 1.0
        by_other = self.pick_by_day(day, self.cust_created_day, other_w)
        cust = np.where(from_buyer, by_buyer, by_other)
        from_buyer &= self.is_won[cust]
        lo = np.where(from_buyer, won_day[cust], self.cust_created_day[cust])
        opened = c.at(np.maximum(day, lo))
        opened = c.past(np.maximum(opened, np.where(from_buyer, self.won_at[cust], self.cust_created[cust]) + HOUR))
        prio = rng.choice(4, k, p=[0.3, 0.42, 0.2, 0.08])
        cat = self.choose(TICKET_CATEGORIES, k)
        channel = rng.choice(5, k, p=[0.3, 0.25, 0.25, 0.12, 0.08])
        fr_due = opened + (fr_h[prio] * HOUR).astype(np.int64)
        res_due = opened + (res_h[prio] * HOUR).astype(np.int64)
        fr_ok = rng.random(k) < 0.9
        fr_delay = fr_h[prio] * np.where(fr_ok, rng.beta(2, 3, k), rng.uniform(1.05, 3, k))
        res_ok = rng.random(k) < 0.85
        res_delay = res_h[prio] * np.where(res_ok, rng.beta(2, 2.5, k), rng.uniform(1.05, 2.5, k))
        fr_at = opened + np.maximum((fr_delay * HOUR).astype(np.int64), 60 * US)
        res_at = np.maximum(opened + (res_delay * HOUR).astype(np.int64), fr_at + 10 * 60 * US)
        close_at = res_at + (rng.uniform(1, 7, k) * DAY).astype(np.int64)
        # a backlog: part of the recent tickets wait on the customer, a fix or an escalation
        stuck = (opened > c.now_us - 45 * DAY) & (rng.random(k) < 0.35)
        res_at = np.where(stuck, np.maximum(res_at, c.now_us + DAY), res_at)
        responded = fr_at <= c.now_us
        resolved = res_at <= c.now_us
        closed = resolved & (close_at <= c.now_us) & (rng.random(k) < 0.75)
        status = np.select([closed, resolved, responded & (rng.random(k) < 0.6)], [3, 2, 1], 0)
        breached = (fr_at > fr_due) | (res_at > res_due)
        rated = resolved & (rng.random(k) < 0.6)
        p_good = np.where(breached[:, None], [0.15, 0.2, 0.3, 0.2, 0.15], [0.03, 0.05, 0.15, 0.37, 0.4])
        score = 1 + (rng.random(k)[:, None] > np.cumsum(p_good, axis=1)).sum(axis=1)
        score = np.minimum(score, 5)
        subj_all = [s for cat_name, _ in TICKET_CATEGORIES for s in TICKET_SUBJECTS[cat_name]]
        subj_start = np.cumsum([0] + [len(TICKET_SUBJECTS[x]) for x, _ in TICKET_CATEGORIES])[:-1]
        subj_count = np.array([len(TICKET_SUBJECTS[x]) for x, _ in TICKET_CATEGORIES])
        subj = subj_start[cat] + rng.integers(0, 1 << 30, k) % subj_count[cat]
        svc_w = np.linspace(1.5, 0.7, self.service_ids.size)
        assignee = self.service_ids[rng.choice(self.service_ids.size, k, p=svc_w / svc_w.sum())]
        ids = np.arange(1, k + 1)
        updated = np.maximum.reduce([opened, np.where(responded, fr_at, 0), np.where(resolved, res_at, 0),
                                     np.where(closed, close_at, 0)])
        first_order_day = np.where(self.first_order < np.iinfo(np.int64).max, self.first_order // DAY, 0)
        frame = pl.DataFrame({
            "id": _int(ids),
            "customer_id": _int(cust + 1),
            "deal_id": _int(np.zeros(k), np.zeros(k, bool)),
            "contact_id": _int(self.primary_contact[cust], self.primary_contact[cust] > 0),
            "subject": _pick(subj_all, subj),
            "description": _pick(["Customer reported by " + x for x in ["email", "phone", "chat", "social media", "web form"]], channel),
            "category": _pick([x for x, _ in TICKET_CATEGORIES], cat),
            "product": _pick([p[1] for p in PRODUCTS], rng.integers(0, len(PRODUCTS), k)),
            "purchased_on": _date(first_order_day[cust], from_buyer & (first_order_day[cust] > 0)),
            "priority": _pick(prios, prio),
            "channel": _pick(["email", "phone", "chat", "web", "social"], channel),
            "status": _pick(["open", "pending", "resolved", "closed"], status),
            "assignee_id": _int(assignee),
            "team_id": _int(np.full(k, self.team_id["Service"])),
            "opened_at": _ts(opened),
            "first_response_due": _ts(fr_due),
            "resolution_due": _ts(res_due),
            "first_response_at": _ts(fr_at, responded),
            "resolved_at": _ts(res_at, resolved),
            "closed_at": _ts(close_at, closed),
            "resolution": _pick(RESOLUTIONS, rng.integers(0, len(RESOLUTIONS), k), resolved),
            "satisfaction": _float(score, rated),
            "reopen_count": _int(np.where(resolved & (rng.random(k) < 0.04), 1, 0)),
            "created_by": _int(assignee, channel != 3),
            "created_at": _ts(opened),
            "updated_at": _ts(updated),
        })
        onboarding, onb_opened = self.onboarding_tickets(fr_h[1], res_h[1])
        frame = _by_time(pl.concat([frame, onboarding], how="vertical"), "opened_at")
        self.load("tickets", frame.with_columns(ticket_no="TK" + pl.col("id").cast(pl.String).str.zfill(7)))
        # ticket ids follow the opening time: where each generated ticket ended up
        every = np.concatenate([opened, onb_opened])
        all_ids = np.empty(every.size, np.int64)
        all_ids[np.argsort(every - every % US, kind="stable")] = np.arange(1, every.size + 1)
        new_id = all_ids[:k]
        self.ho["ticket"] = all_ids[k:]
        # feedback: CSAT of the rated tickets, NPS for a part of the resolved ones, a few complaints
        r_rows = np.nonzero(rated)[0]
        nps_rows = np.nonzero(resolved & (rng.random(k) < 0.25))[0]
        m = max(n // 200, 2)
        comp_cust = rng.integers(0, n, m)
        kinds = np.concatenate([np.zeros(r_rows.size, np.int64), np.ones(nps_rows.size, np.int64),
                                2 + (rng.random(m) < 0.5)])
        f_ticket = np.concatenate([new_id[r_rows], new_id[nps_rows], np.zeros(m, np.int64)])
        f_cust = np.concatenate([cust[r_rows], cust[nps_rows], comp_cust])
        nps = np.clip(np.round(np.where(rng.random(nps_rows.size) < 0.5, rng.normal(9.2, 0.8, nps_rows.size),
                                        rng.normal(6.5, 2.2, nps_rows.size))), 0, 10)
        f_score = np.concatenate([score[r_rows].astype(float), nps, np.zeros(m)])
        base_at = np.concatenate([res_at[r_rows], res_at[nps_rows],
                                  c.past(c.at(c.days(self.cust_created_day[comp_cust], c.T)))])
        f_at = c.past(base_at + (rng.uniform(0.1, 48, base_at.size) * HOUR).astype(np.int64))
        f_at = np.maximum(f_at, base_at)
        band = np.where(kinds == 0, np.select([f_score <= 2, f_score <= 3], [0, 1], 2),
                        np.select([f_score <= 6, f_score <= 8], [0, 1], 2))
        band = np.where(kinds == 2, 0, np.where(kinds == 3, 2, band))
        comments = FEEDBACK_COMMENTS["low"] + FEEDBACK_COMMENTS["mid"] + FEEDBACK_COMMENTS["high"]
        c_start = np.array([0, len(FEEDBACK_COMMENTS["low"]), len(FEEDBACK_COMMENTS["low"]) + len(FEEDBACK_COMMENTS["mid"])])
        c_count = np.array([len(FEEDBACK_COMMENTS[x]) for x in ("low", "mid", "high")])
        comment = c_start[band] + rng.integers(0, 1 << 30, band.size) % c_count[band]
        nf = kinds.size
        f_owner = self.service_ids[rng.integers(0, self.service_ids.size, nf)]
        ch = np.concatenate([channel[r_rows], np.full(nps_rows.size, 5), rng.integers(0, 5, m)])
        self.load("feedback", _by_time(pl.DataFrame({
            "id": _int(np.arange(1, nf + 1)),
            "customer_id": _int(f_cust + 1),
            "ticket_id": _int(f_ticket, f_ticket > 0),
            "kind": _pick(["csat", "nps", "complaint", "suggestion"], kinds),
            "score": _float(f_score, kinds < 2),
            "comment": _pick(comments, comment, (kinds >= 2) | (rng.random(nf) < 0.4)),
            "channel": _pick(["email", "phone", "chat", "web", "social", "sms"], ch),
            "status": _pick(["open", "closed"], np.where((kinds >= 2) & (f_at > c.now_us - 30 * DAY), 0, 1)),
            "owner_id": _int(f_owner),
            "team_id": _int(np.full(nf, self.team_id["Service"])),
            "created_at": _ts(f_at),
        }), "created_at"))

    def onboarding_tickets(self, fr_hours: float, res_hours: float) -> tuple[pl.DataFrame, np.ndarray]:
        """The onboarding ticket (service queue) each hand-off created when it was filled in: linked to
        the customer and the won deal; an agent takes it within hours, onboarding takes days to weeks."""
        rng, c, d, h = self.rng, self.clock, self.d, self.ho
        k = h["cust"].size
        cust, deal = h["cust"], h["deal"]
        opened = h["created"]
        fr_due = opened + int(fr_hours * HOUR)
        res_due = opened + int(res_hours * HOUR)
        fr_at = opened + (rng.uniform(0.3, 1.2, k) * fr_hours * HOUR).astype(np.int64)
        res_at = np.maximum(opened + (rng.uniform(2, 25, k) * DAY).astype(np.int64), fr_at + HOUR)
        close_at = res_at + (rng.uniform(1, 7, k) * DAY).astype(np.int64)
        responded = fr_at <= c.now_us
        resolved = res_at <= c.now_us
        closed = close_at <= c.now_us
        status = np.select([closed, resolved, responded], [3, 2, 1], 0)
        assignee = self.service_ids[rng.integers(0, self.service_ids.size, k)]
        updated = np.maximum.reduce([opened, np.where(responded, fr_at, 0), np.where(resolved, res_at, 0),
                                     np.where(closed, close_at, 0)])
        subject = _where(self.cust_zh[cust], "新客户交付：" + self.cust_name.gather(_int(cust)),
                         "Onboarding: " + self.cust_name.gather(_int(cust)))
        h["bought"] = self.bought_text(deal)
        frame = pl.DataFrame({
            "id": _int(np.zeros(k)),
            "customer_id": _int(cust + 1),
            "deal_id": _int(deal + 1),
            "contact_id": _int(self.primary_contact[cust], self.primary_contact[cust] > 0),
            "subject": subject,
            "description": h["bought"],
            "category": pl.Series(["onboarding"] * k, dtype=pl.String),
            "product": _pick([p[1] for p in PRODUCTS], d["prod"][deal]),
            "purchased_on": _date(d["closed_us"][deal] // DAY),
            "priority": pl.Series(["medium"] * k, dtype=pl.String),
            "channel": _pick(["web"], np.zeros(k), np.zeros(k, bool)),
            "status": _pick(["open", "pending", "resolved", "closed"], status),
            "assignee_id": _int(assignee, responded),
            "team_id": _int(np.full(k, self.team_id["Service"])),
            "opened_at": _ts(opened),
            "first_response_due": _ts(fr_due),
            "resolution_due": _ts(res_due),
            "first_response_at": _ts(fr_at, responded),
            "resolved_at": _ts(res_at, resolved),
            "closed_at": _ts(close_at, closed),
            "resolution": _pick(["Onboarding completed, customer live", "已完成上线交付"],
                                self.cust_zh[cust].astype(np.int64), resolved),
            "satisfaction": _float(np.zeros(k), np.zeros(k, bool)),
            "reopen_count": _int(np.zeros(k)),
            "created_by": _int(d["owner"][deal]),
            "created_at": _ts(opened),
            "updated_at": _ts(updated),
        })
        return frame, opened

    def bought_text(self, deal: np.ndarray) -> pl.Series:
        """What was bought, from the deal's lines: "2 x Cloud CRM Professional; 1 x Onboarding Service"."""
        dl = self.deal_line_rows
        pos = np.full(self.nd, -1)
        pos[deal] = np.arange(deal.size)
        keep = pos[dl["row"]] >= 0
        return (pl.DataFrame({"h": pos[dl["row"][keep]], "pos": dl["pos"][keep],
                              "text": pl.Series(dl["qty"][keep]).cast(pl.String) + " x "
                              + _pick([p[1] for p in PRODUCTS], dl["prod"][keep])})
                .sort(["h", "pos"]).group_by("h", maintain_order=True).agg(pl.col("text").str.join("; "))
                .join(pl.DataFrame({"h": np.arange(deal.size)}), on="h", how="right")
                .sort("h")["text"])

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
