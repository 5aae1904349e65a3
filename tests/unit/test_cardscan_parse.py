"""Card text -> lead fields, without the OCR: the lines as the recogniser gives them (with its usual
slips: full-width colons, dashes, © for @, spaces inside addresses, O for 0) become name, title,
company, mobile, landline (E.164, judged by libphonenumber), e-mail, address and website. What no rule
recognises is None, never a guess; a fax or a WeChat/QQ number never becomes the customer's phone."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings, strategies as st

from core import cardscan, phones
from core.cardscan import Line, parse


def at(text: str, y: float, size: float, x: float = 60, conf: float = 0.98) -> Line:
    """A line as the OCR reports it: its box (x, y, w, h) tells the font size."""
    width = size * len(text) * 0.8
    return Line(text, conf, (x, y, width, size), size)


def fields(result: dict) -> dict:
    return {k: result[k] for k in cardscan.FIELDS}


CHINESE_CARD = [
    at("上海星河科技有限公司", 45, 34),
    at("王建国", 150, 64),
    at("销售总监", 178, 30, x=290),
    at("手机：139 1234 5678", 300, 28),
    at("电话：021-6234 5678", 346, 28),
    at("邮箱：wang.jg@xinghe-tech.cn", 392, 28),
    at("地址：上海市浦东新区张江路88号", 438, 28),
    at("www.xinghe-tech.cn", 520, 26),
]


def test_a_chinese_card_gives_every_field():
    got = parse(CHINESE_CARD)
    assert fields(got) == dict(name="王建国", title="销售总监", company="上海星河科技有限公司", mobile="+8613912345678",
                               landline="+862162345678", email="wang.jg@xinghe-tech.cn",
                               address="上海市浦东新区张江路88号", website="www.xinghe-tech.cn")
    assert got["raw_text"].splitlines()[1] == "王建国"
    assert set(got["confidence"]) == set(cardscan.FIELDS)


@pytest.mark.parametrize("line, field, value", [
    ("Tel：021 6234 5678", "landline", "+862162345678"),
    ("手机:139-1234-5678", "mobile", "+8613912345678"),
    ("手机：１３９ １２３４ ５６７８", "mobile", "+8613912345678"),          # full-width digits
    ("M: +86 139 1234 5678", "mobile", "+8613912345678"),
    ("Mobile 139 1234 5678", "mobile", "+8613912345678"),
    ("T. (021) 6234-5678", "landline", "+862162345678"),
    ("电话：021-6234 5678 转 801", "landline", "+862162345678"),          # the extension is dropped
    ("Tel: O21-6234 5678", "landline", "+862162345678"),                  # O read for 0
    ("手机：139 l234 5678", "mobile", "+8613912345678"),                   # l read for 1
    ("电话：139 1234 5678", "mobile", "+8613912345678"),                   # the number's kind decides
    ("Tel/Fax: 021-6234 5678", "landline", "+862162345678"),
    ("139 1234 5678", "mobile", "+8613912345678"),                        # unlabelled, still a mobile
    ("Mobile: +852 9123 4567", "mobile", "+85291234567"),
    ("Tel: +44 20 7946 0958", "landline", "+442079460958"),
    ("E-mail: a@b.cn", "email", "a@b.cn"),
    ("Email：wang.jg©xinghe-tech.cn", "email", "wang.jg@xinghe-tech.cn"),
    ("wang.jg©xinghe-tech.cn", "email", "wang.jg@xinghe-tech.cn"),       # © for @, no label
    ("邮箱：wang.jg @ xinghe-tech. cn", "email", "wang.jg@xinghe-tech.cn"),
    ("E: Wang.JG@Xinghe-Tech.CN", "email", "Wang.JG@xinghe-tech.cn"),
    ("网址：www. xinghe-tech. cn", "website", "www.xinghe-tech.cn"),
    ("Web: xinghe-tech.cn", "website", "xinghe-tech.cn"),
    ("http://www.xinghe-tech.cn/about", "website", "http://www.xinghe-tech.cn/about"),
    ("地址：上海市浦东新区张江路88号", "address", "上海市浦东新区张江路88号"),
    ("Add:Room 1201,88CenturyAvenue", "address", "Room 1201, 88 Century Avenue"),  # spaces the OCR dropped
    ("Address: 1 Canada Square, London", "address", "1 Canada Square, London"),
])
def test_one_line_with_the_usual_ocr_slips(line, field, value):
    got = parse([line])
    assert got[field] == value
    assert [k for k in cardscan.FIELDS if got[k] is not None] == [field]


@pytest.mark.parametrize("line", [
    "传真：021-6234 5679", "Fax: +86 21 6234 5679", "F: 021-6234 5679",
    "微信：13912345678", "QQ: 13912345678", "邮编：200120",
    "手机：140 1234 5678",             # no network holds 140: not a mobile, not guessed
    "电话：400-820-8820",               # a hotline is no customer's phone
    "手机：139 1234 567",               # a digit missing
])
def test_numbers_that_are_not_the_customers_phone_are_not_kept(line):
    got = parse([line])
    assert got["mobile"] is None and got["landline"] is None


def test_a_fax_beside_the_phone_is_left_out_whatever_the_order():
    got = parse(["传真：010-8888 6667", "电话：010-8888 6666"])
    assert (got["mobile"], got["landline"]) == (None, "+861088886666")
    got = parse(["Tel: 021-6234 5678  Fax: 021-6234 5679  M: 139 1234 5678"])
    assert (got["mobile"], got["landline"]) == ("+8613912345678", "+862162345678")


def test_the_name_is_the_largest_short_line_not_a_logo_or_a_department():
    got = parse([
        at("星河科技", 40, 80),            # the logo, larger than the name, no surname
        at("市场部", 120, 30),             # a department
        at("王建国", 160, 60),
        at("销售总监", 240, 28),
        at("上海星河科技有限公司", 300, 28),
    ])
    assert (got["name"], got["title"], got["company"]) == ("王建国", "销售总监", "上海星河科技有限公司")


def test_of_two_names_the_larger_font_wins_and_spaced_letters_join():
    got = parse([at("李 娜", 100, 30), at("王 建 国", 160, 60)])
    assert got["name"] == "王建国"
    assert got["confidence"]["name"] < 0.95


def test_a_name_and_a_title_on_one_line():
    got = parse(["王建国 销售总监"])
    assert (got["name"], got["title"]) == ("王建国", "销售总监")
    got = parse(["技术总监 | CTO", "陈思远"])
    assert (got["name"], got["title"]) == ("陈思远", "技术总监")
    got = parse(["王建国 139 1234 5678"])
    assert (got["name"], got["mobile"]) == ("王建国", "+8613912345678")


def test_an_english_card():
    got = parse([
        at("NORTHWIND", 40, 52, x=600),
        at("Emily Carter", 150, 56),
        at("SalesManager", 225, 30),                 # a space lost by the OCR
        at("Northwind Trading Co., Ltd.", 270, 30),
        at("Mobile: +86 186 1234 5678", 350, 26),
        at("Tel: +86 755 8612 3456", 390, 26),
        at("Email: emily.carter@northwind.com", 430, 26),
        at("Add: Room 1201, 88 Century Avenue", 470, 26),
        at("Pudong, Shanghai 200120, China", 506, 26),
        at("www.northwind.com", 545, 24, x=640),
    ])
    assert fields(got) == dict(name="Emily Carter", title="Sales Manager", company="Northwind Trading Co., Ltd.",
                               mobile="+8618612345678", landline="+8675586123456",
                               email="emily.carter@northwind.com",
                               address="Room 1201, 88 Century Avenue, Pudong, Shanghai 200120, China",
                               website="www.northwind.com")


def test_a_bilingual_card_takes_the_chinese_name_and_the_matching_title_and_company():
    got = parse([
        at("深圳云帆网络有限公司", 40, 32), at("Shenzhen Yunfan Network Co., Ltd.", 85, 22),
        at("陈思远", 170, 60), at("Chen Siyuan", 250, 30), at("CTO", 185, 30, x=600), at("技术总监", 225, 30, x=600),
    ])
    assert (got["name"], got["title"], got["company"]) == ("陈思远", "技术总监", "深圳云帆网络有限公司")


def test_place_names_and_titles_are_not_names():
    got = parse(["Shanghai China", "Sales Director", "Business Development"])
    assert got["name"] is None and got["title"] == "Sales Director"


def test_a_chinese_address_over_two_lines_is_joined():
    got = parse([at("北京市朝阳区建国路100号", 456, 26), at("华信大厦12层", 492, 26), at("李娜", 150, 60, x=640)])
    assert got["address"] == "北京市朝阳区建国路100号华信大厦12层" and got["name"] == "李娜"


def test_a_label_read_as_its_own_box_joins_the_value_beside_it():
    got = parse([at("地址：", 438, 28), at("上海市浦东新区张江路88号", 438, 28, x=160),
                 at("手机", 300, 28), at("139 1234 5678", 300, 28, x=140)])
    assert got["address"] == "上海市浦东新区张江路88号" and got["mobile"] == "+8613912345678"


def test_a_labelled_value_is_surer_than_an_unlabelled_one():
    labelled = parse(["手机：139 1234 5678", "邮箱：a@b.cn"])["confidence"]
    bare = parse(["139 1234 5678", "a@b.cn"])["confidence"]
    assert labelled["mobile"] > bare["mobile"] and labelled["email"] > bare["email"]
    low_ocr = parse([Line("手机：139 1234 5678", 0.6)])["confidence"]
    assert low_ocr["mobile"] == pytest.approx(0.6)


def test_nothing_recognisable_gives_none_everywhere():
    got = parse(["名片", "Thank you", "~~~", ""])
    assert fields(got) == {k: None for k in cardscan.FIELDS} and got["confidence"] == {}
    assert parse([]) == {**{k: None for k in cardscan.FIELDS}, "confidence": {}, "raw_text": ""}


def test_lead_values_take_the_mobile_before_the_landline():
    both = parse(["手机：139 1234 5678", "电话：021-6234 5678", "王建国"])
    assert cardscan.lead_values(both) == {"name": "王建国", "phone": "+8613912345678",
                                          "landline": "+862162345678", "source": "card_scan"}
    only_landline = parse(["电话：021-6234 5678"])
    assert cardscan.lead_values(only_landline)["phone"] == "+862162345678"
    assert cardscan.lead_values(parse(["名片"])) == {}


_CARD_TEXT = st.text(alphabet=st.sampled_from(list("0123456789 +-()：:@©.,/|手机电话传真邮箱地址王建国销售总监有限公司"
                                                   "TelFaxMobileEmailCo.Ltd市区路号abcxyz\u3000\uff10\u200b")),
                     max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(_CARD_TEXT, max_size=8))
def test_any_text_parses_without_an_error_and_every_kept_phone_is_valid(lines):
    got = parse(lines)
    for field in ("mobile", "landline"):
        if got[field] is not None:
            assert phones.normalise(got[field]) == got[field]
    if got["email"] is not None:
        assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", got["email"])
    assert set(got["confidence"]) == {k for k in cardscan.FIELDS if got[k] is not None}


# ------------------------------------------------------------------ the engine: loaded once, lazily

def test_the_engine_is_built_once_however_many_threads_ask(monkeypatch):
    import sys
    import threading
    import time
    import types

    built = []

    class SlowEngine:
        def __init__(self):
            time.sleep(0.05)
            built.append(self)

    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", types.SimpleNamespace(RapidOCR=SlowEngine))
    monkeypatch.setattr(cardscan, "_engine", None)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cardscan._get_engine())) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(built) == 1 and len(got) == 8 and all(g is built[0] for g in got)


def test_an_engine_that_cannot_load_is_a_typed_error_not_a_trace(monkeypatch):
    import sys
    import types

    def broken():
        raise OSError("libGL.so.1: cannot open shared object file")

    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", types.SimpleNamespace(RapidOCR=broken))
    monkeypatch.setattr(cardscan, "_engine", None)
    with pytest.raises(cardscan.ScanUnavailable) as err:
        cardscan._get_engine()
    assert err.value.key == "cardscan.unavailable" and cardscan._engine is None
