"""The duplicate guard (查重): one check used by manual create, lead conversion, import and the API.

`find(con, actor, entity, values)` lists the records that the values (phone, e-mail, name, company)
duplicate, across leads, owned customers, pool customers, the recycle bin and contacts, each with a
score (0-100), the reasons, and who holds it (owner and team, a shared pool, the recycle bin). A match
outside the actor's scope says only that it exists and who holds it: no id, no name, no field.
`guard(...)` applies the admin's per-rule strictness (settings `dedup.*`): block, warn (the user must
confirm: "save anyway"), or allow and report.

The rules
- phone: exact, on the normalised phone (core.phones) through the phone_keys uniqueness table. A phone
  is a unique key of the store (phone_keys), so this rule always blocks.
- e-mail: exact, trimmed and lower-cased.
- name: likely. Person names are compared by characters and by pinyin (张伟 / 章伟 / Zhang Wei / Wei
  Zhang are the same pinyin); company names once legal forms (有限公司, 股份有限公司, 集团, Co., Ltd.,
  Inc., GmbH …), bracketed parts ((中国), (Shanghai) …), a leading place (上海, 广东省深圳市, Beijing …),
  punctuation, width and case are stripped, and with common industry words read in English (科技 =
  technology), so 上海星河科技有限公司, 星河科技 and Xinghe Technology Co., Ltd. are the same company.
  Other names of the same brand are scored with rapidfuzz and match above `dedup.name_threshold`.

Fast at a million rows: nothing scans the big tables. The keys live in the narrow table dedup_keys
(key, entity, entity_id, chars, pinyin) with an ART index on key: 'e:' + e-mail, 'p:' + a person's
name in pinyin, 'c:' + a company's brand in pinyin and its first industry word (a blocking key: 星河科技
and 星河科技发展 share it, 星河电子 does not). A check looks up a handful of keys by equality, scores the few candidates in Python, then reads
the best few records by id with the viewer's scope. Services keep the keys (`remember`) in the same
unit of work as the record; `backfill` fills them for rows that existed before (run by core.setup on
opening the store, vectorised: Polars, pinyin once per distinct character), the demo calls `rebuild`.
A key left stale by a writer that did not call `remember` can only hide a match, never invent one:
the matches are checked against the records' current values before they are reported.
"""
from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import duckdb
import polars as pl
from rapidfuzz import fuzz

from core import access, db, phones, settings
from core.context import Actor
from core.errors import DuplicateError, PermissionDenied, ValidationError

ENTITIES = ("customer", "lead", "contact")
RULES = ("phone", "email", "name")
ACTIONS = ("block", "warn", "allow")
SEVERITY = {"allow": 0, "warn": 1, "block": 2}
MAX_LIMIT = 200
MAX_TEXT = 300                    # longer input is cut before any work (a name field holds 200)

# ---------------------------------------------------------------------------------- normalisation
ZH_LEGAL = ("集团股份有限公司", "集团有限责任公司", "集团有限公司", "股份有限公司", "有限责任公司", "有限公司",
            "股份公司", "集团公司", "总公司", "分公司", "控股", "集团", "公司", "有限合伙", "合伙企业", "工作室",
            "商行", "企业")
EN_LEGAL = ("company limited", "co ltd", "co", "ltd", "limited", "inc", "incorporated", "llc", "l l c", "corp",
            "corporation", "gmbh", "ag", "plc", "pte", "pty", "sa", "s a", "group", "holdings", "holding",
            "company", "llp", "lp", "bv", "nv", "kk", "srl", "spa")
PLACES = (
    "中国", "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽", "福建",
    "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西", "甘肃", "青海", "台湾",
    "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门", "深圳", "广州", "杭州", "南京", "苏州", "宁波", "无锡",
    "合肥", "济南", "青岛", "福州", "厦门", "石家庄", "沈阳", "大连", "太原", "哈尔滨", "郑州", "东莞", "佛山", "南宁",
    "海口", "长沙", "武汉", "成都", "西安", "昆明", "贵阳", "兰州", "长春", "南昌", "呼和浩特", "乌鲁木齐", "拉萨",
    "西宁", "银川", "珠海", "温州", "绍兴", "嘉兴", "常州", "南通", "徐州", "烟台", "潍坊", "泉州", "中山", "惠州",
    "台州", "金华", "扬州", "镇江", "洛阳", "唐山", "保定", "三亚", "桂林", "汕头", "江门", "湛江", "芜湖",
)
_PLACE_TAILS = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市", "区")
# industry words read the same in both languages (a canonical English word each)
INDUSTRY: dict[str, tuple[str, ...]] = {
    "technology": ("信息技术", "信息科技", "科技", "技术", "info tech", "information technology", "technologies",
                   "technology", "tech"),
    "electronics": ("电子", "electronics", "electronic"),
    "software": ("软件", "software"),
    "network": ("网络", "network", "networks"),
    "trading": ("国际贸易", "贸易", "商贸", "trading", "trade"),
    "machinery": ("机械", "machinery"),
    "industry": ("实业", "工业", "industries", "industrial", "industry"),
    "manufacturing": ("制造", "manufacturing"),
    "medical": ("医疗器械", "医疗", "medical"),
    "biotech": ("生物科技", "生物技术", "生物", "biotech", "biotechnology"),
    "investment": ("投资", "investment", "investments", "capital"),
    "finance": ("金融服务", "金融", "financial", "finance"),
    "logistics": ("物流", "logistics"),
    "supplychain": ("供应链", "supply chain"),
    "education": ("教育", "education"),
    "training": ("培训", "training", "learning"),
    "telecom": ("通信", "通讯", "telecom", "telecommunications", "communications"),
    "consulting": ("咨询", "consulting", "consultancy"),
    "management": ("企业管理", "管理", "management"),
    "media": ("文化传媒", "传媒", "广告", "media", "advertising"),
    "development": ("发展", "development"),
    "international": ("国际", "international"),
}
_CANON_RE = r"\b(?:" + "|".join(sorted(INDUSTRY, key=len, reverse=True)) + r")\b"


def _alts(words: Iterable[str]) -> str:
    return "|".join(sorted({re.escape(w) for w in words}, key=len, reverse=True))


# legal forms at the end of a name, matched on the reversed name: a regex anchored at the start is
# tried at one position only, one anchored at the end at every position (4x slower over 1M names)
_EN_LEGAL_REVERSED = _alts(w[::-1] for w in EN_LEGAL).replace("\\ ", "[.\\s]*")
_ZH_LEGAL_REVERSED = _alts(w[::-1] for w in ZH_LEGAL)
_LEGAL_REVERSED_RE = (r"^[\s,.]*(?:(?:\.?\b(?:" + _EN_LEGAL_REVERSED + r")\b[\s,.&]*)|(?:"
                      + _ZH_LEGAL_REVERSED + r"))+")
_BRACKETS_RE = r"\([^)]*\)|\[[^\]]*\]|【[^】]*】|〔[^〕]*〕|「[^」]*」"


@functools.lru_cache(maxsize=None)
def _places_re() -> str:
    from pypinyin import lazy_pinyin

    zh = rf"(?:{_alts(PLACES)})(?:{_alts(_PLACE_TAILS)})?"
    latin = _alts(["".join(lazy_pinyin(p)) for p in PLACES] + ["china", "hong kong", "macau", "macao"])
    return rf"^(?:{zh})+|^(?:{latin})\b[\s,]*"


@functools.lru_cache(maxsize=None)
def _industry_maps() -> tuple[list[str], list[str], list[str], list[str]]:
    """(Chinese words, their replacements, Latin words padded as whole words, their replacements)."""
    zh, zh_to, en, en_to = [], [], [], []
    pairs = sorted(((w, canon) for canon, words in INDUSTRY.items() for w in words), key=lambda p: -len(p[0]))
    for word, canon in pairs:
        if any("\u4e00" <= ch <= "\u9fff" for ch in word):
            zh.append(word)
            zh_to.append(f"  {canon}  ")
        else:
            en.append(" " + "  ".join(word.split()) + " ")
            en_to.append(f"  {canon}  ")
    return zh, zh_to, en, en_to


@functools.lru_cache(maxsize=None)
def syllable(ch: str) -> str:
    """The pinyin of one Chinese character, without tone (its most common reading; ü as v)."""
    from pypinyin import lazy_pinyin

    return lazy_pinyin(ch)[0].replace("ü", "v")


def _text(values: Sequence[Any] | pl.Series) -> pl.Series:
    if isinstance(values, pl.Series):
        return values.cast(pl.String).str.slice(0, MAX_TEXT).alias("s")
    return pl.Series("s", [v[:MAX_TEXT] if isinstance(v, str) else None for v in values], dtype=pl.String)


def _clean(e: pl.Expr) -> pl.Expr:
    """Input as text: NFKC (full width to half width), lower case, one space between words."""
    return e.str.normalize("NFKC").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def _compact(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all(r"[^\p{L}\p{N}]+", "")


def _words(e: pl.Expr) -> pl.Expr:
    """Words apart by two spaces and padded, so whole-word replacements never share a space."""
    return "  " + e.str.replace_all(r"[^\p{L}\p{N}]+", "  ").str.strip_chars() + "  "


def _han(s: pl.Series) -> list[str]:
    """The distinct Chinese characters in the values."""
    if s.len() > 64:
        return s.str.extract_all(r"\p{Han}").explode().drop_nulls().unique().sort().to_list()
    found = {ch for v in s.to_list() if v for ch in v if _HAN.match(ch)}
    return sorted(found)


_HAN = re.compile("[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


def _pinyin(e: pl.Expr, han: list[str]) -> pl.Expr:
    """Every Chinese character replaced by its pinyin syllable (as a word), ü read as v; then the
    words apart by one space."""
    e = e.str.replace_all("ü", "v", literal=True)
    if han:
        e = e.str.replace_many(han, [f"  {syllable(ch)}  " for ch in han], leftmost=True)
    return e.str.replace_all(r"\s+", " ").str.strip_chars()


def _blank_to_null(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    return frame.with_columns(pl.when(pl.col("chars") != "").then(pl.col(c)).alias(c) for c in columns)


def person_forms(values: Sequence[Any]) -> pl.DataFrame:
    """Person names as compared: chars (the name without spaces or punctuation) and pinyin (its
    syllables or words, in order, joined); `words` keeps them apart for word-order variants."""
    s = _text(values)
    spaced = _pinyin(_words(_clean(pl.col("s"))), _han(s))
    out = s.to_frame().select(chars=_compact(_clean(pl.col("s"))), spaced=spaced).select(
        "chars", pinyin=pl.col("spaced").str.replace_all(" ", "", literal=True), words=pl.col("spaced").str.split(" "))
    return _blank_to_null(out, ("pinyin", "words", "chars"))


def company_forms(values: Sequence[Any]) -> pl.DataFrame:
    """Company names as compared: whole (the name without spaces or punctuation), chars (also without
    legal form, brackets and leading place), pinyin (chars read in pinyin, industry words in English),
    brand (the blocking key: the pinyin without industry words, then the first industry word: 星河科技发展
    and Xinghe Technology are both xinghetechnology)."""
    s = _text(values)
    zh, zh_to, en, en_to = _industry_maps()
    c = pl.col
    out = (s.to_frame()
           .select(s0=_clean(c("s")))
           .with_columns(s1=c("s0").str.replace_all(_BRACKETS_RE, " ").str.replace_all(r"\s+", " ").str.strip_chars())
           .with_columns(s2=c("s1").str.reverse().str.replace(_LEGAL_REVERSED_RE, "").str.reverse()
                         .str.strip_chars(" ,.&-"))
           .with_columns(s2=pl.when(c("s2").str.len_chars() > 0).then(c("s2")).otherwise(c("s1")))
           .with_columns(s3=c("s2").str.replace(_places_re(), "").str.strip_chars(" ,.&-"))
           # a place is stripped only before a name of its own: 上海银行 and 中国银行 stay apart
           .with_columns(s3=pl.when(c("s3").str.len_chars() >= 3).then(c("s3")).otherwise(c("s2")))
           .select(text=c("s0"), kept=c("s3"), whole=_compact(c("s0")), chars=_compact(c("s3")),
                   spaced=_pinyin(_words(c("s3")).str.replace_many(zh, zh_to, leftmost=True)
                                  .str.replace_many(en, en_to, leftmost=True), _han(s)))
           .select("text", "kept", "whole", "chars",
                   pinyin=c("spaced").str.replace_all(" ", "", literal=True),
                   brand=c("spaced").str.replace_all(_CANON_RE, "").str.replace_all(" ", "", literal=True)
                   + c("spaced").str.extract(f"({_CANON_RE})", 1).fill_null(""),
                   words=c("spaced").str.split(" "))
           .with_columns(brand=pl.when(c("brand") != "").then(c("brand")).otherwise(c("pinyin"))))
    return _blank_to_null(out, ("text", "kept", "whole", "pinyin", "brand", "words", "chars"))


def stripped_parts(text: str | None, kept: str | None) -> list[str]:
    """What stripping took from a company name (上海, 有限公司, co., ltd.): the text around what was
    kept (nothing when the kept part is not one piece of the name, as after a bracket)."""
    if not text or not kept or kept == text or kept not in text:
        return []
    return [p for p in (p.strip(" ,.&-") for p in text.split(kept, 1)) if p]


_FORMS: dict[str, Any] = {"person": person_forms, "company": company_forms}
_CACHE: dict[tuple[str, str], dict | None] = {}
_CACHE_SIZE = 20_000


def forms_of(kind: str, names: Sequence[Any]) -> list[dict | None]:
    """The forms of a few names (a check's input, its candidates' current names) as dicts, None for an
    empty name; each distinct name is computed once per process (one Polars call for the new ones)."""
    texts = [n[:MAX_TEXT] if isinstance(n, str) else None for n in names]
    missing = sorted({t for t in texts if t is not None and (kind, t) not in _CACHE})
    if missing:
        if len(_CACHE) + len(missing) > _CACHE_SIZE:
            _CACHE.clear()
        for text, row in zip(missing, _FORMS[kind](missing).iter_rows(named=True)):
            _CACHE[(kind, text)] = row if row["pinyin"] else None
    return [None if t is None else _CACHE.get((kind, t)) for t in texts]


def email_key(value: Any) -> str | None:
    """The e-mail as a key: trimmed, lower case (full-width typing folded first); None when empty.
    The same as SQL lower(trim(email)) on what the store holds (core.fields keeps e-mails lower case)."""
    if not isinstance(value, str):
        return None
    value = unicodedata.normalize("NFKC", value[:MAX_TEXT]).strip(" \t\r\n\u3000").lower()
    return value or None


# ---------------------------------------------------------------------------------- keys of records
_KEY_COLUMNS = {"key": pl.String, "entity": pl.String, "entity_id": pl.Int64, "chars": pl.String, "pinyin": pl.String}


def _empty_keys() -> pl.DataFrame:
    return pl.DataFrame(schema=_KEY_COLUMNS)


def name_keys(entity: str, ids: Sequence[int], names: Sequence[Any], kinds: Sequence[Any] | None = None,
              companies: Sequence[Any] | None = None) -> pl.DataFrame:
    """The name keys of records, vectorised: customers by kind (a company's name is a company), leads
    (the name is a person, `companies` their company), contacts have none (phone and e-mail only)."""
    ids = pl.Series(list(ids), dtype=pl.Int64)
    frames = []
    if entity == "customer":
        kinds = pl.Series(list(kinds) if kinds is not None else ["company"] * len(ids), dtype=pl.String)
        names = pl.Series(list(names), dtype=pl.String)
        is_person = (kinds == "person").fill_null(False)
        frames.append(_person_rows(entity, ids.filter(is_person), names.filter(is_person)))
        frames.append(_company_rows(entity, ids.filter(~is_person), names.filter(~is_person)))
    elif entity == "lead":
        frames.append(_person_rows(entity, ids, list(names)))
        if companies is not None:
            frames.append(_company_rows(entity, ids, list(companies)))
    return pl.concat(frames) if frames else _empty_keys()


def _forms_by_value(forms, names) -> pl.DataFrame:
    """forms(names) for a long list computed once per distinct name (the demo's 400,000 person names
    hold 30,000 distinct ones), in the order of `names`."""
    names = pl.Series("s", list(names) if not isinstance(names, pl.Series) else names, dtype=pl.String)
    if names.len() < 1000:
        return forms(names.to_list())
    distinct = names.unique().drop_nulls()
    table = forms(distinct).with_columns(s=distinct)
    return names.to_frame().join(table, on="s", how="left", maintain_order="left").drop("s")


def _person_rows(entity: str, ids: pl.Series, names) -> pl.DataFrame:
    if len(ids) == 0:
        return _empty_keys()
    f = _forms_by_value(person_forms, names)
    return pl.DataFrame({"key": "p:" + f["pinyin"], "entity": entity, "entity_id": ids, "chars": f["chars"],
                         "pinyin": f["pinyin"]}, schema=_KEY_COLUMNS).filter(pl.col("key").is_not_null())


def _company_rows(entity: str, ids: pl.Series, names) -> pl.DataFrame:
    if len(ids) == 0:
        return _empty_keys()
    f = _forms_by_value(company_forms, names)
    return pl.DataFrame({"key": "c:" + f["brand"], "entity": entity, "entity_id": ids, "chars": f["chars"],
                         "pinyin": f["pinyin"]}, schema=_KEY_COLUMNS).filter(pl.col("key").is_not_null())


def keys_of(entity: str, entity_id: int, values: dict[str, Any]) -> list[tuple]:
    """Every key row (key, entity, entity_id, chars, pinyin) of one record, from its values: the same
    forms as the bulk `name_keys`, through the cache the guard has just filled for these values."""
    if entity not in ENTITIES:
        raise ValueError(entity)
    names: list[tuple[str, Any]] = []
    if entity == "customer":
        names.append(("person" if values.get("kind") == "person" else "company", values.get("name")))
    elif entity == "lead":
        names += [("person", values.get("name")), ("company", values.get("company"))]
    out = []
    for kind, name in names:
        f = forms_of(kind, [name])[0]
        if f:
            key = "p:" + f["pinyin"] if kind == "person" else "c:" + f["brand"]
            out.append((key, entity, entity_id, f["chars"], f["pinyin"]))
    email = email_key(values.get("email"))
    if email:
        out.append(("e:" + email, entity, entity_id, None, None))
    return out


def remember(con: duckdb.DuckDBPyConnection, entity: str, entity_id: int, values: dict[str, Any],
             replace: bool = True, old: dict[str, Any] | None = None) -> None:
    """Keep a record's keys (inside the unit of work that writes the record, with its values after the
    write: name, kind, company, email). Replaces the keys it had: those of `old` (its values before,
    found by key) when given, else every key of the record (a scan of the key table);
    `replace=False` for a new record."""
    rows = keys_of(entity, entity_id, values)
    if old is not None:
        for key, *_ in keys_of(entity, entity_id, old):
            con.execute("DELETE FROM dedup_keys WHERE key = ? AND entity_id = ? AND entity = ?", [key, entity_id, entity])
    elif replace:
        con.execute("DELETE FROM dedup_keys WHERE entity_id = ? AND entity = ?", [entity_id, entity])
    if rows:
        con.execute("INSERT INTO dedup_keys VALUES " + ", ".join("(?, ?, ?, ?, ?)" for _ in rows),
                    [v for row in rows for v in row])


IDENTITY = ("name", "kind", "company", "email", "phone", "phone_norm")


def check_new(con: duckdb.DuckDBPyConnection, actor: Actor, entity: str, entity_id: int, values: dict[str, Any],
              confirmed: bool = False, exclude: Any = None) -> list[Match]:
    """Inside the unit of work that creates a record: the guard on its values (DuplicateError), then
    its keys. Returns the matches the rules allow (to report). `exclude`: e.g. the lead being converted."""
    matches = guard(con, actor, entity, values, exclude=exclude, confirmed=confirmed)
    remember(con, entity, entity_id, values, replace=False)
    return matches


def check_edit(con: duckdb.DuckDBPyConnection, actor: Actor, entity: str, entity_id: int, old: dict[str, Any],
               new: dict[str, Any], confirmed: bool = False) -> list[Match]:
    """Inside the unit of work that edits a record: the guard on the identity values that change (an
    edit of other fields does not flag a record again), then its keys. `old`: the record before,
    `new`: the changed values."""
    changed = {k for k in IDENTITY if k in new and new[k] != old.get(k)}
    if not changed:
        return []
    merged = {k: new[k] if k in new else old.get(k) for k in IDENTITY}
    probe: dict[str, Any] = {}
    if changed & {"name", "kind"}:
        probe.update(name=merged["name"], kind=merged["kind"])
    for k in ("company", "email"):
        if k in changed:
            probe[k] = merged[k]
    if changed & {"phone", "phone_norm"}:
        probe["phone_norm"] = merged["phone_norm"] or (phones.normalise(merged["phone"]) if merged["phone"] else None)
    matches = guard(con, actor, entity, probe, exclude=(entity, entity_id), confirmed=confirmed)
    if changed & {"name", "kind", "company", "email"}:
        remember(con, entity, entity_id, merged, old={k: old.get(k) for k in IDENTITY})
    return matches


def forget(con: duckdb.DuckDBPyConnection, entity: str, ids: Iterable[int]) -> None:
    """Drop the keys of purged records (a record in the recycle bin keeps its keys: it still holds them)."""
    ids = [int(i) for i in ids]
    if ids:
        con.execute("DELETE FROM dedup_keys WHERE entity = ? AND entity_id IN (SELECT unnest(?))", [entity, ids])


_TABLE_SQL = ("CREATE TABLE dedup_keys (key VARCHAR NOT NULL, entity VARCHAR NOT NULL, entity_id BIGINT NOT NULL, "
              "chars VARCHAR, pinyin VARCHAR)")  # as in migration 004
_NAME_SOURCES = {
    "customer": "SELECT id, name, kind, NULL AS company FROM customers",
    "lead": "SELECT id, name, NULL AS kind, company FROM leads",
}
_TABLES = {"customer": "customers", "lead": "leads", "contact": "contacts"}
PENDING_EMAILS = "emails:"   # dedup_pending mark emails:<entity>:<batch>: a big import whose e-mail keys come later


def pending_emails(con) -> list[tuple[str, int]]:
    """(entity, import batch) whose e-mail keys are still to be built (core.imports.engine.fill_keys: right after
    a big wizard import, within minutes of a command-line one). Until then their records are read directly."""
    out = []
    for (what,) in con.execute("SELECT what FROM dedup_pending WHERE what LIKE 'emails:%'").fetchall():
        _, entity, batch = what.split(":")
        if entity in _TABLES:
            out.append((entity, int(batch)))
    return out


def pending_email_sql(entity: str, batch: int) -> str:
    """SELECT key, entity, entity_id of the e-mail keys a pending batch will get (as _EMAIL_SQL makes them)."""
    return (f"SELECT 'e:' || lower(trim(email)) AS key, '{entity}' AS entity, id AS entity_id FROM {_TABLES[entity]} "
            f"WHERE import_id = {int(batch)} AND nullif(trim(email), '') IS NOT NULL")  # binned ones keep keys too


_EMAIL_SQL = (
    "SELECT 'e:' || lower(trim(email)) AS key, ? AS entity, id AS entity_id, NULL AS chars, NULL AS pinyin "
    "FROM {table} WHERE nullif(trim(email), '') IS NOT NULL"
)


def _all_name_keys(con) -> pl.DataFrame:
    frames = []
    for entity, sql in _NAME_SOURCES.items():
        rows = con.sql(sql).pl()
        if rows.height:
            frames.append(name_keys(entity, rows["id"], rows["name"], rows["kind"], rows["company"]))
    return pl.concat(frames) if frames else _empty_keys()


def _load_sorted(con, frame: pl.DataFrame) -> None:
    """Bulk-load keys: the index is dropped and built again over the whole table (far faster than
    growing it row by row), and the rows go in key order, so a common key's rows sit together."""
    if frame.height:
        frame = frame.sort("key")
        con.execute("DROP INDEX IF EXISTS dedup_keys_key")
        con.execute("INSERT INTO dedup_keys SELECT key, entity, entity_id, chars, pinyin FROM frame")
        con.execute("CREATE INDEX dedup_keys_key ON dedup_keys (key)")


def backfill(con: duckdb.DuckDBPyConnection) -> bool:
    """Fill the name keys of the rows that existed when migration 004 ran (it fills the e-mail keys in
    SQL; pinyin needs Python). Runs once, from core.setup.prepare; True when it did work."""
    pending = db.scalar(con, "SELECT count(*) FROM dedup_pending WHERE what = 'names'")
    if not pending:
        return False

    def work():
        if not db.scalar(con, "SELECT count(*) FROM dedup_pending WHERE what = 'names'"):
            return
        con.execute("DELETE FROM dedup_keys WHERE key NOT LIKE 'e:%'")  # none after 004; idempotent anyway
        _load_sorted(con, _all_name_keys(con))
        con.execute("DELETE FROM dedup_pending WHERE what = 'names'")

    db.write(con, work, retries=1)
    return True


def rebuild(con: duckdb.DuckDBPyConnection) -> int:
    """Every key again from the records (after a bulk load such as the demo, or a change of the rules
    of normalisation). Joins the caller's unit of work; returns how many keys there are."""
    def work():
        # a new table: committing the delete of millions of indexed rows costs more than all the rest
        con.execute("DROP INDEX IF EXISTS dedup_keys_key")
        con.execute("DROP TABLE dedup_keys")
        con.execute(_TABLE_SQL)
        con.execute("DELETE FROM dedup_pending")
        parts = [_EMAIL_SQL.format(table=t) for t in ("customers", "leads", "contacts")]  # fixed names
        emails = con.sql(" UNION ALL ".join(parts), params=["customer", "lead", "contact"]).pl()
        _load_sorted(con, pl.concat([_all_name_keys(con), emails.cast(_KEY_COLUMNS)]))
        con.execute("CREATE INDEX IF NOT EXISTS dedup_keys_key ON dedup_keys (key)")
        return db.scalar(con, "SELECT count(*) FROM dedup_keys")

    return db.write(con, work)


# ---------------------------------------------------------------------------------- matching
@dataclass(frozen=True)
class Match:
    """One record the values duplicate. `id`, `name` (and `customer_id` for a contact: the record
    page that shows it) are set only when the actor may open the record; otherwise the match says only
    what it is and who holds it."""

    entity: str                           # customer | lead | contact
    score: int                            # 0..100
    rules: tuple[str, ...]                # the rules it matched: phone, email, name
    rule: str                             # the rule whose setting applies: the strictest of them
    action: str                           # that rule's setting: block | warn | allow
    reasons: tuple[tuple[str, dict], ...]  # (message key, params), strongest first
    holder: str                           # owner | pool | bin
    owner: str | None = None              # owner's name (holder "owner")
    team: str | None = None               # the owner's team, or the pool's team
    visible: bool = False
    id: int | None = None
    name: str | None = None
    customer_id: int | None = None        # the customer page that opens it (customer, contact)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class _Hit:
    entity: str
    entity_id: int
    threshold: int = 0                            # name matches below it do not count
    score: int = 0
    rules: set = field(default_factory=set)
    reasons: list = field(default_factory=list)   # (score, message key, params)

    def add(self, score: int, rule: str, key: str, params: dict | None = None) -> None:
        if rule == "name" and score < self.threshold:
            return
        self.score = max(self.score, score)
        self.rules.add(rule)
        self.reasons.append((score, key, params or {}))


class Matches(list):
    """The matches, best first; `more` is True when further candidates were left out by the limit."""

    more: bool = False


def strictness(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The admin's settings of the guard: rule -> block | warn | allow, and the name score threshold."""
    found = settings.get_many(con, [f"dedup.{rule}" for rule in RULES] + ["dedup.name_threshold"])
    out: dict[str, Any] = {rule: found[f"dedup.{rule}"] for rule in RULES}
    out["phone"] = "block"  # a phone is a unique key of the store (phone_keys)
    out["threshold"] = found["dedup.name_threshold"]
    return out


def _exclusions(exclude: Any) -> set[tuple[str, int]]:
    if exclude is None:
        return set()
    items = [exclude] if isinstance(exclude, tuple) and len(exclude) == 2 and isinstance(exclude[0], str) else exclude
    out = set()
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and item[0] in ENTITIES):
            raise ValidationError("error.invalid_value", value=str(item)[:60])
        out.add((item[0], int(item[1])))
    return out


class _Query:
    """The values under check, in every form the rules compare."""

    def __init__(self, entity: str, values: dict[str, Any]):
        self.phone = values.get("phone_norm") or (
            phones.normalise(values.get("phone")) if values.get("phone") not in (None, "") else None)
        self.email = email_key(values.get("email"))
        name, company = values.get("name"), values.get("company")
        persons, companies = [], []
        if entity == "customer":
            (persons if values.get("kind") == "person" else companies).append(name)
        elif entity == "lead":
            persons.append(name)
            companies.append(company)
        elif entity == "search":
            persons.append(name)
            companies += [name, company]
        self.persons = [{**p, "orders": _orders(p["words"])} for p in forms_of("person", persons) if p]
        self.companies = [c for c in forms_of("company", companies) if c]

    def keys(self) -> list[str]:
        out = []
        if self.email:
            out.append("e:" + self.email)
        for p in self.persons:
            out += ["p:" + o for o in p["orders"]]
        out += ["c:" + c["brand"] for c in self.companies]
        return list(dict.fromkeys(out))


def _orders(words: list[str]) -> list[str]:
    """A person's name in pinyin in every word order (Zhang Wei, Wei Zhang; at most 3 words, else the
    name and its reverse)."""
    orders = itertools.permutations(words) if len(words) <= 3 else (words, list(reversed(words)))
    return list(dict.fromkeys("".join(o) for o in orders))


def _score_person(q: dict, chars: str | None, pinyin: str | None, hit: _Hit) -> None:
    if chars and chars == q["chars"]:
        hit.add(95, "name", "dedup.reason.same_name")
    elif pinyin and pinyin in q["orders"]:
        hit.add(85, "name", "dedup.reason.same_pinyin", {"pinyin": " ".join(q["words"])})


def _score_company(q: dict, whole: str | None, chars: str | None, pinyin: str | None, hit: _Hit,
                   cand: dict | None = None) -> None:
    """Same name (100), same name once legal form, brackets and place are stripped (95), same in
    pinyin / English industry words (90), else rapidfuzz's similarity of the stripped names and of
    their pinyin (at most 89). `cand`: the candidate's stripped parts, given only when the actor may
    see the candidate (the reason names them)."""
    if not chars or not pinyin:
        return
    if whole is not None and whole == q["whole"]:
        hit.add(100, "name", "dedup.reason.same_name")
    elif chars == q["chars"]:
        parts = _parts(q, cand)
        hit.add(95, "name", "dedup.reason.same_company_stripped" if parts else "dedup.reason.same_company",
                {"parts": parts} if parts else {})
    elif pinyin == q["pinyin"]:
        hit.add(90, "name", "dedup.reason.same_pinyin", {"pinyin": " ".join(q["words"])})
    else:
        score = _similarity(q, chars, pinyin)
        hit.add(score, "name", "dedup.reason.similar_name", {"score": score})


def _similarity(q: dict, chars: str, pinyin: str) -> int:
    """How alike two company names of one brand block are (at most 89, below the exact forms): a name
    that extends the other (星河科技 / 星河科技发展) 89, else rapidfuzz's ratio of the stripped names and
    of their pinyin, whichever is higher."""
    if pinyin.startswith(q["pinyin"]) or q["pinyin"].startswith(pinyin):
        return 89
    return min(89, int(round(max(fuzz.ratio(chars, q["chars"]), fuzz.ratio(pinyin, q["pinyin"])))))


def _parts(q: dict, cand: dict | None) -> str:
    """What was stripped from the two names (from the candidate's only when the actor may see it)."""
    found = stripped_parts(q.get("text"), q.get("kept"))
    if cand:
        found += stripped_parts(cand.get("text"), cand.get("kept"))
    return ", ".join(dict.fromkeys(found))


# the current values of candidates: columns over x (a customer's page is its own; a contact's, its customer's)
_RECORDS = {  # entity -> (columns over x, table, permission module)
    "customer": ("x.id, x.name, x.kind, NULL AS company, x.email, NULL AS status, x.id AS customer_id, "
                 "x.owner_id, x.team_id, x.deleted_at", "customers", "customers"),
    "lead": ("x.id, x.name, NULL AS kind, x.company, x.email, x.status, NULL AS customer_id, "
             "x.owner_id, x.team_id, x.deleted_at", "leads", "leads"),
}


def _records(con, actor: Actor, entity: str, ids: list[int]) -> dict[int, dict]:
    """The candidates' current values, holders, and whether the actor may open them."""
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)   # a literal list: DuckDB prunes the scan by the ids' zonemaps
    if entity == "contact":
        rows = db.rows(con, f"SELECT x.id, x.name, x.email, x.customer_id, x.deleted_at FROM contacts x "
                            f"WHERE x.id IN ({marks})", ids)
        parents = _records(con, actor, "customer", sorted({r["customer_id"] for r in rows if r["customer_id"]}))
        out = {}
        for r in rows:
            p = parents.get(r["customer_id"]) or {}
            out[r["id"]] = {**r, "kind": None, "company": None, "status": None,
                            "owner_id": p.get("owner_id"), "owner": p.get("owner"), "team": p.get("team"),
                            "deleted_at": r["deleted_at"] or p.get("deleted_at"),
                            "visible": bool(p.get("visible")) and r["deleted_at"] is None}
        return out
    columns, table, module = _RECORDS[entity]
    try:
        where, params = access.predicate(con, actor, module, "view", "x")
    except PermissionDenied:
        where, params = "FALSE", []
    rows = db.rows(con, f"SELECT {columns}, (x.deleted_at IS NULL AND {where}) AS visible FROM {table} x "
                        f"WHERE x.id IN ({marks})", params + ids)
    # the holders' names by their ids (joining users and teams costs more than reading the few names)
    users = sorted({r["owner_id"] for r in rows if r["owner_id"] is not None})
    teams = sorted({r["team_id"] for r in rows if r["team_id"] is not None})
    names = dict(((kind, i), name) for kind, i, name in con.execute(
        "SELECT 'u', id, name FROM users WHERE id IN (SELECT unnest(?)) UNION ALL "
        "SELECT 't', id, name FROM teams WHERE id IN (SELECT unnest(?))", [users, teams]).fetchall()
    ) if rows else {}
    for r in rows:
        r["owner"], r["team"] = names.get(("u", r["owner_id"])), names.get(("t", r["team_id"]))
    return {r["id"]: r for r in rows}


def can_check(con: duckdb.DuckDBPyConnection, actor: Actor) -> bool:
    """Whether the actor may use the duplicate check: anyone who may view customers or leads."""
    return access.can(con, actor, "customers", "view") or access.can(con, actor, "leads", "view")


def find(con: duckdb.DuckDBPyConnection, actor: Actor, entity: str, values: dict[str, Any],
         exclude: Any = None, limit: int = 20) -> Matches:
    """The records that `values` (phone, email, name, company, kind) of a new or edited `entity`
    (customer, lead, contact; "search" for the duplicate check page, where the name may be a person's
    or a company's) duplicate, best first, at most `limit`. `exclude`: (entity, id) or a list of them:
    the record itself when it is edited, the lead being converted. Anyone who may view customers or
    leads may ask; what they see of each match depends on their scope (see Match)."""
    if not can_check(con, actor):
        raise PermissionDenied("error.permission", module="customers", action="view")
    if entity not in ENTITIES + ("search",):
        raise ValidationError("error.invalid_value", value=str(entity)[:60])
    if not isinstance(values, dict):
        raise ValidationError("field.bad_values")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError("list.bad_page_size", max=MAX_LIMIT)
    skip = _exclusions(exclude)
    rules = strictness(con)
    q = _Query(entity, values)
    # one statement: the phone key, then each key by equality (an ART lookup each; an IN list would
    # scan). A person key's pinyin is the key itself: only a company key's rows need theirs.
    parts, params = [], []
    if q.phone:
        parts.append("SELECT -1 AS i, entity, entity_id, NULL AS chars, NULL AS pinyin FROM phone_keys "
                     "WHERE phone_norm = ?")
        params.append(q.phone)
    keys = q.keys()
    waiting = pending_emails(con) if any(key[:2] == "e:" for key in keys) else []
    for i, key in enumerate(keys):
        columns = {"e:": "NULL, NULL", "p:": "chars, NULL", "c:": "chars, pinyin"}[key[:2]]
        parts.append(f"SELECT {i}, entity, entity_id, {columns} FROM dedup_keys WHERE key = ?")
        params.append(key)
        if key[:2] == "e:":   # a big import's records whose e-mail keys are not built yet: read directly. The
            # import stored each address cleaned (trimmed, lower case), as its key has it; a record edited since
            # holds keys of its own
            for ent, batch in waiting:
                parts.append(f"SELECT {i}, '{ent}', id, NULL, NULL FROM {_TABLES[ent]} WHERE import_id = {int(batch)} "
                             "AND email = ?")
                params.append(key[2:])
    first: dict[tuple[str, int], int] = {}     # a first score from the keys alone, to rank candidates
    by_phone: set[tuple[str, int]] = set()
    threshold = rules["threshold"]
    rows = con.execute(" UNION ALL ".join(parts), params).fetchall() if parts else []
    for i, ent, eid, chars, pinyin in rows:
        k = (ent, eid)
        if i < 0:
            by_phone.add(k)
            score = 100
        else:
            key = keys[i]
            score = _first_score(q, key, chars, key[2:] if key[:2] == "p:" else pinyin, threshold)
        if score and score > first.get(k, 0):
            first[k] = score
    ranked = sorted((k for k in first if k not in skip), key=lambda k: (-first[k], ENTITIES.index(k[0]), k[1]))
    out = Matches()
    # read the best candidates, a few more than asked: some are converted leads or keys gone stale
    while ranked and len(out) < limit:
        batch, ranked = ranked[:limit + 10], ranked[limit + 10:]
        out += _confirm(con, actor, q, batch, by_phone, rules)
    out.sort(key=lambda m: (-m.score, -SEVERITY[m.action], ENTITIES.index(m.entity), m.holder))
    out.more = len(out) > limit or bool(ranked)
    del out[limit:]
    return out


def _first_score(q: _Query, key: str, chars: str | None, pinyin: str | None, threshold: int) -> int:
    """The score a key row gives (0 below the threshold), from the key table alone."""
    kind = key[:2]
    if kind == "e:":
        return 100
    best = 0
    if kind == "p:":
        for p in q.persons:
            if chars == p["chars"]:
                best = max(best, 95)
            elif pinyin in p["orders"]:
                best = max(best, 85)
    else:
        for c in q.companies:
            if key[2:] == c["brand"] and chars and pinyin:
                if chars == c["chars"]:
                    best = max(best, 95)
                elif pinyin == c["pinyin"]:
                    best = max(best, 90)
                else:
                    best = max(best, _similarity(c, chars, pinyin))
    return best if best >= threshold else 0


def _confirm(con, actor: Actor, q: _Query, batch: list[tuple[str, int]], by_phone: set, rules: dict
             ) -> list[Match]:
    """Matches from candidates, scored again on the records' current values (a stale key can hide a
    match, never invent one), with their holders and what the actor may see of them."""
    from core import pool_mask

    out = []
    hidden = pool_mask.masked(con, actor)   # pool -> fields hidden from the actor while a record sits there
    for entity in ENTITIES:
        ids = [eid for ent, eid in batch if ent == entity]
        recs = _records(con, actor, entity, ids)
        forms = _current_forms(entity, recs)
        for eid in ids:
            rec = recs.get(eid)
            if rec is None or (entity == "lead" and rec.get("status") == "converted"):
                continue  # purged, or a lead that became a customer (the customer is the match)
            fresh = _Hit(entity, eid, rules["threshold"])
            if (entity, eid) in by_phone:  # phone_keys is the store's own key: current by construction
                fresh.add(100, "phone", "dedup.reason.same_phone")
            if q.email and email_key(rec.get("email")) == q.email:
                fresh.add(100, "email", "dedup.reason.same_email")
            for form in forms.get(eid, ()):
                if form["type"] == "p":
                    for p in q.persons:
                        _score_person(p, form["chars"], form["pinyin"], fresh)
                else:
                    for c in q.companies:
                        if form["brand"] == c["brand"]:
                            _score_company(c, form["whole"], form["chars"], form["pinyin"], fresh,
                                           form if rec["visible"] else None)
            if fresh.score:
                if (entity == "customer" and rec.get("owner_id") is None and rec.get("visible")
                        and fresh.rules & hidden.get(rec.get("team_id"), frozenset())):
                    # found by a field its pool hides from the actor: named by its holder only, as a
                    # record the actor may not open (else the message would tell the hidden value)
                    rec = {**rec, "visible": False}
                out.append(_match(fresh, rec, rules))
    return out


def _current_forms(entity: str, recs: dict[int, dict]) -> dict[int, list[dict]]:
    """The name forms of the records' current names (customers by kind; a lead's name and company)."""
    out: dict[int, list[dict]] = {}
    persons, companies = [], []
    for rid, r in recs.items():
        if entity == "customer":
            (persons if r.get("kind") == "person" else companies).append((rid, r.get("name")))
        elif entity == "lead":
            persons.append((rid, r.get("name")))
            companies.append((rid, r.get("company")))
    for kind, items in (("person", persons), ("company", companies)):
        for (rid, _), f in zip(items, forms_of(kind, [n for _, n in items])):
            if f:
                out.setdefault(rid, []).append({**f, "type": kind[0]})
    return out


def _match(h: _Hit, rec: dict, rules: dict) -> Match:
    reasons: list[tuple[str, dict]] = []
    for _score, key, params in sorted(h.reasons, key=lambda r: -r[0]):
        if (key, params) not in reasons:
            reasons.append((key, params))
    if rec.get("deleted_at") is not None:
        holder = "bin"
    elif rec.get("owner_id") is None:
        holder = "pool"
    else:
        holder = "owner"
    visible = bool(rec["visible"])
    matched = tuple(r for r in RULES if r in h.rules)
    rule = max(matched, key=lambda r: (SEVERITY[rules[r]], -RULES.index(r)))
    return Match(
        entity=h.entity, score=h.score, rules=matched, rule=rule, action=rules[rule],
        reasons=tuple(reasons), holder=holder,
        owner=rec.get("owner") if holder == "owner" else None,
        team=rec.get("team") if holder != "bin" else None,
        visible=visible,
        id=h.entity_id if visible else None,
        name=rec.get("name") if visible else None,
        customer_id=rec.get("customer_id") if visible else None,
    )


# ---------------------------------------------------------------------------------- the guard
def guard(con: duckdb.DuckDBPyConnection, actor: Actor, entity: str, values: dict[str, Any],
          exclude: Any = None, confirmed: bool = False) -> list[Match]:
    """Check `values` of a new or edited record before it is written (inside the writer's unit of
    work). Raises DuplicateError (its `matches` attribute lists them for the form) when a match's rule
    blocks, or warns and the user has not confirmed ("save anyway"); otherwise returns the matches
    (rules set to "allow": saved and reported)."""
    matches = find(con, actor, entity, values, exclude=exclude)
    blocking = [m for m in matches if m.action == "block"]
    warning = [m for m in matches if m.action == "warn"]
    if blocking:
        raise duplicate_error(entity, blocking[0], matches)
    if warning and not confirmed:
        raise duplicate_error(entity, warning[0], matches, warn=True)
    return matches


def duplicate_error(entity: str, match: Match, matches: list[Match], warn: bool = False) -> DuplicateError:
    """The error naming who holds the match (never an id): phone.held_by / dedup.email.held_by /
    dedup.name.held_by and their pool and recycle-bin forms."""
    rule = match.rule
    prefix = "phone" if rule == "phone" else f"dedup.{rule}"
    suffix = {"owner": "held_by", "pool": "held_in_pool", "bin": "held_in_bin"}[match.holder]
    params: dict[str, Any] = {"entity": f"entity.{match.entity}"}
    if match.holder == "owner":
        params.update(owner=match.owner or "—", team=match.team or "—")
    elif match.holder == "pool":
        params["team"] = match.team or "—"
    if rule == "name":
        params["score"] = match.score
    err = DuplicateError(f"{prefix}.{suffix}" + ("_warn" if warn and rule != "phone" else ""), **params)
    err.matches = matches
    err.warn = warn
    return err
