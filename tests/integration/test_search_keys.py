"""The customers list's search box by key (core.search): the same results as the substring search it
replaces, for every kind of text a user types, and the keys follow every write."""
from __future__ import annotations

import pytest

from core import customers, listing, merge, search, settings
from tests.conftest import NOW

NAMES = [
    "上海星河科技有限公司", "星河科技", "北京星河电子科技有限公司", "深圳华源培训股份有限公司", "科技", "技科",
    "张伟", "章伟", "王秀英", "王秀", "秀英王", "Xinghe Technology Co., Ltd.", "XINGHE TECH", "xinghe tech",
    "Sun Line Learning (China) Co., Ltd.", "3M China", "88号商行", "A1 Trading 2024", "Café Müller", "CAFÉ MÜLLER",
    "Straße GmbH", "STRASSE AG", "ΣΟΦΙΑ Ltd", "σοφια", "İstanbul Export", "istanbul import", "O'Brien & Sons",
    "a_b Studio", "a%b Studio", "aXb Studio", "Zhang Wei", "Wei Zhang", "zhangwei", "ｆｕｌｌ ｗｉｄｔｈ", "全角１２３４",
    "Ab", "ab", "aB", "x", "科", "\\back\\slash", "e\u0301clair combining",
]
EMAILS = [None, "sales@xinghe.com", "info@XingHe.cn", "zhang.wei@qq.com", "wei_zhang@126.com", "a%b@ex.com",
          "ab@ab.ab", "cafe@muller.de"]
QUERIES = [
    # one character: searched by scan (no pair of characters to look up)
    "科", "a", "A", "1", "x", "@", "Σ",
    # two characters
    "科技", "技科", "星河", "张伟", "伟", "ab", "AB", "Ab", "co", "CO", "té", "ss", "SS", "ß", "σο", "ΣΟ", "İs", "is",
    "88", "号商", "q.", "@q", "\\b", "e\u0301", "\u0301c",
    # longer
    "星河科技", "上海星河科技有限公司", "星河电子科技", "王秀英", "秀英", "xinghe", "XINGHE", "Xinghe Tech", "tech",
    "technology co", "co., ltd.", "café", "CAFÉ MÜLLER", "müller", "straße", "strasse", "σοφια", "ΣΟΦΙΑ LTD",
    "istanbul", "İSTANBUL", "o'brien", "& sons", "zhang wei", "wei zhang", "ｆｕｌｌ", "full", "１２３４", "1234",
    "a1 trading", "2024", "xinghe.com", "@qq.com", "zhang.wei", "muller.de",
    # digits: the phone from four digits on (full width too), the names and e-mails as text
    "13800", "1380013", "+86138", "8613800", "００１３", "138-0013", "0013 00", "99999", "12345678901234567890",
    # LIKE wildcards: searched by scan (as LIKE reads them)
    "a_b", "a%b", "_", "%", "a_", "%b",
    # long text, and text no record holds
    "上海星河科技有限公司上海星河科技有限公司上海星河科技有限公司", "没有这个", "nothing like it", "zz",
]


@pytest.fixture
def varied(company):
    c, boss = company.con, company.actor("boss")
    settings.set_value(c, boss, "dedup.email", "allow")  # shared e-mails on purpose
    ids = {}
    for n, name in enumerate(NAMES):
        values = {"name": name, "phone": f"1380013{n + 100:04d}", "kind": "company"}
        if EMAILS[n % len(EMAILS)]:
            values["email"] = EMAILS[n % len(EMAILS)]
        ids[name] = customers.create_customer(c, boss, values, confirmed=True)
    return company, ids


def _by_scan(c, actor, q) -> list[int]:
    """What the search box found before the keys: the substring search over every row."""
    where, args = listing.text_search(q)
    df, _ = listing.fetch_page(c, actor, customers.LIST, where, args, "name", False, 0, 500)
    return sorted(df["id"].to_list())


def _listed(c, actor, q) -> list[int]:
    df, total = customers.list_customers(c, actor, {"q": q}, sort="name", desc=False, page_size=500)
    assert total == df.height
    return sorted(df["id"].to_list())


def test_the_search_box_finds_by_key_exactly_what_the_substring_search_finds(varied):
    company, _ids = varied
    c = company.con
    for username in ("boss", "mgr", "rep_a"):
        actor = company.actor(username)
        for q in QUERIES:
            assert _listed(c, actor, q) == _by_scan(c, actor, q), (username, q)


def test_text_of_two_characters_or_more_is_looked_up_by_key_and_never_scans_the_names(varied):
    company, ids = varied
    c = company.con
    for q in ("科技", "星河科技", "xinghe", "CAFÉ", "@qq.com", "1380013", "８８号"):
        text = q.strip()
        assert search.clause(c, "customer", text, "ILIKE" if text.lower() != text.upper() else "LIKE"), q
    statements = []

    class Spy:
        def __getattr__(self, name):
            attr = getattr(c, name)
            if name not in ("execute", "sql"):
                return attr

            def run(sql, *args, **kwargs):
                statements.append(sql)
                return attr(sql, *args, **kwargs)
            return run

    df, total = customers.list_customers(Spy(), company.actor("boss"), {"q": "星河科技", "stage": ["raw"]})
    assert sorted(df["name"].to_list()) == ["上海星河科技有限公司", "星河科技"] and total == 2
    assert not any("LIKE" in s for s in statements), "the names were scanned"
    for q in ("科", "a", "a_b", "%"):  # one character or a LIKE wildcard: the substring search
        assert search.clause(c, "customer", q, "ILIKE" if q.lower() != q.upper() else "LIKE") is None


def test_the_keys_follow_an_edit_a_merge_and_its_undo(varied):
    company, ids = varied
    c, boss = company.con, company.actor("boss")
    find = lambda q: [r for r in customers.list_customers(c, boss, {"q": q})[0]["id"].to_list()]  # noqa: E731
    sid = ids["星河科技"]
    seen = customers.get_customer(c, boss, sid)
    customers.update_customer(c, boss, sid, {"name": "银河数据", "email": "hello@yinhe.cn", "phone": "13900139000"},
                              seen=seen, confirmed=True)
    assert sid not in find("星河科技") and sid in find("银河数据") and sid in find("yinhe.cn")
    assert sid in find("13900139") and sid not in find("13800130")
    loser = ids["深圳华源培训股份有限公司"]
    merge_id = merge.merge(c, boss, sid, loser, {"name": "loser"})
    assert find("华源培训") == [sid] and find("银河数据") == []
    merge.undo_merge(c, boss, merge_id)
    assert find("银河数据") == [sid] and find("华源培训") == [loser]
    kept = c.execute("SELECT * FROM search_keys ORDER BY ALL").fetchall()
    search.rebuild(c)  # the keys kept write by write are those built from scratch: none stale, none missing
    assert c.execute("SELECT * FROM search_keys ORDER BY ALL").fetchall() == kept


def test_a_new_customer_is_found_at_once_and_backfill_builds_the_same_keys(varied):
    company, _ids = varied
    c, rep = company.con, company.actor("rep_a")
    new = customers.create_customer(c, rep, {"name": "新客户科技", "phone": "13700137000"})
    assert customers.list_customers(c, rep, {"q": "客户科"})[0]["id"].to_list() == [new]
    before = c.execute("SELECT * FROM search_keys ORDER BY ALL").fetchall()
    c.execute("INSERT INTO search_pending VALUES ('customers')")
    assert search.backfill(c) and not search.backfill(c)
    assert c.execute("SELECT * FROM search_keys ORDER BY ALL").fetchall() == before
    assert NOW  # the company's clock
