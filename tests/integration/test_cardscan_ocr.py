"""Business cards made by the test itself (Pillow, Noto CJK) read by the REAL OCR engine
(rapidocr-onnxruntime, its models inside the package): every field printed on the card comes back in
the parsed result, phones in E.164, and what is not on the card comes back as None. Bad uploads
(not an image, empty, 50 MB, a huge resolution) are refused with a message key, never a trace."""
from __future__ import annotations

import io
import random
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from core import cardscan
from core.errors import ValidationError
from tests.conftest import ROOT

FONTS = Path("/usr/share/fonts/opentype/noto")
REGULAR, BOLD = FONTS / "NotoSansCJK-Regular.ttc", FONTS / "NotoSansCJK-Bold.ttc"
SC = 2            # the Simplified Chinese face inside the .ttc collections

pytestmark = pytest.mark.skipif(not REGULAR.exists() or not BOLD.exists(),
                                reason="needs fonts-noto-cjk (installed by .ci/run)")


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(BOLD if bold else REGULAR), size, index=SC)


@dataclass
class Card:
    name: str
    texts: list                   # (x, y, text, size, bold, colour)
    expected: dict
    rotate: float = 0.0
    noise: bool = False
    size: tuple = (1000, 600)
    fmt: str = "PNG"
    timings: list = field(default_factory=list)

    def render(self) -> bytes:
        img = Image.new("RGB", self.size, "white")
        draw = ImageDraw.Draw(img)
        for x, y, text, size, bold, colour in self.texts:
            draw.text((x, y), text, font=font(size, bold), fill=colour)
        if self.rotate:
            img = img.rotate(self.rotate, resample=Image.Resampling.BICUBIC, expand=True, fillcolor="white")
        if self.noise:
            rnd = random.Random(6)
            img = img.filter(ImageFilter.GaussianBlur(0.8))
            px = img.load()
            w, h = img.size
            for _ in range(w * h // 40):                 # speckles, as on a phone photo of paper
                x, y = rnd.randrange(w), rnd.randrange(h)
                g = rnd.randrange(120, 230)
                px[x, y] = (g, g, g)
            img = Image.blend(img, Image.new("RGB", img.size, (238, 232, 220)), 0.15)   # off-white paper
        buf = io.BytesIO()
        img.save(buf, self.fmt, **({"quality": 80} if self.fmt == "JPEG" else {}))
        return buf.getvalue()


NAVY, GREY, BLACK = (20, 40, 90), (90, 90, 90), (0, 0, 0)

ZH = dict(name="王建国", title="销售总监", company="上海星河科技有限公司", mobile="+8613912345678",
          landline="+862162345678", email="wang.jg@xinghe-tech.cn", address="上海市浦东新区张江路88号",
          website="www.xinghe-tech.cn")
ZH_TEXTS = [
    (60, 45, "上海星河科技有限公司", 34, True, NAVY),
    (60, 150, "王建国", 64, True, BLACK),
    (290, 178, "销售总监", 30, False, GREY),
    (60, 300, "手机：139 1234 5678", 28, False, BLACK),
    (60, 346, "电话：021-6234 5678", 28, False, BLACK),
    (60, 392, "邮箱：wang.jg@xinghe-tech.cn", 28, False, BLACK),
    (60, 438, "地址：上海市浦东新区张江路88号", 28, False, BLACK),
    (60, 520, "www.xinghe-tech.cn", 26, False, NAVY),
]

CARDS = [
    Card("chinese", ZH_TEXTS, ZH),
    Card("english", [
        (600, 40, "NORTHWIND", 52, True, NAVY),
        (60, 150, "Emily Carter", 56, True, BLACK),
        (60, 225, "Sales Manager", 30, False, GREY),
        (60, 270, "Northwind Trading Co., Ltd.", 30, False, NAVY),
        (60, 350, "Mobile: +86 186 1234 5678", 26, False, BLACK),
        (60, 390, "Tel: +86 755 8612 3456", 26, False, BLACK),
        (60, 430, "Email: emily.carter@northwind.com", 26, False, BLACK),
        (60, 470, "Add: Room 1201, 88 Century Avenue", 26, False, BLACK),
        (60, 506, "Pudong, Shanghai 200120, China", 26, False, BLACK),
        (640, 545, "www.northwind.com", 24, False, NAVY),
    ], dict(name="Emily Carter", title="Sales Manager", company="Northwind Trading Co., Ltd.",
            mobile="+8618612345678", landline="+8675586123456", email="emily.carter@northwind.com",
            address="Room 1201, 88 Century Avenue, Pudong, Shanghai 200120, China", website="www.northwind.com")),
    Card("bilingual", [
        (60, 40, "深圳云帆网络有限公司", 32, True, NAVY),
        (60, 85, "Shenzhen Yunfan Network Co., Ltd.", 22, False, NAVY),
        (60, 170, "陈思远", 60, True, BLACK),
        (60, 250, "Chen Siyuan", 30, False, GREY),
        (600, 185, "技术总监 | CTO", 30, False, GREY),
        (60, 340, "手机 Mobile：199 8765 4321", 26, False, BLACK),
        (60, 382, "电话 Tel：0755-8612 3456", 26, False, BLACK),
        (60, 424, "邮箱 E-mail：chensy@yunfan.com.cn", 26, False, BLACK),
        (60, 466, "地址：深圳市南山区科苑路15号", 26, False, BLACK),
        (60, 508, "网址 Web：www.yunfan.com.cn", 26, False, BLACK),
    ], dict(name="陈思远", title="技术总监", company="深圳云帆网络有限公司", mobile="+8619987654321",
            landline="+8675586123456", email="chensy@yunfan.com.cn", address="深圳市南山区科苑路15号",
            website="www.yunfan.com.cn")),
    Card("tilted and noisy photo", ZH_TEXTS, ZH, rotate=3.0, noise=True, size=(1000, 600), fmt="JPEG"),
    Card("no mobile, a fax", [
        (60, 50, "北京华信咨询集团", 34, True, NAVY),
        (640, 150, "李娜", 60, True, BLACK),
        (640, 235, "财务经理", 30, False, GREY),
        (60, 330, "传真：010-8888 6667", 26, False, BLACK),
        (60, 372, "电话：010-8888 6666", 26, False, BLACK),
        (60, 414, "li.na@huaxin-group.com", 26, False, BLACK),
        (60, 456, "北京市朝阳区建国路100号", 26, False, BLACK),
        (60, 492, "华信大厦12层", 26, False, BLACK),
    ], dict(name="李娜", title="财务经理", company="北京华信咨询集团", mobile=None, landline="+861088886666",
            email="li.na@huaxin-group.com", address="北京市朝阳区建国路100号华信大厦12层", website=None)),
    Card("international", [
        (60, 60, "Harbour Light Consulting Ltd.", 30, True, NAVY),
        (560, 150, "DAVID MILLER", 48, True, BLACK),
        (560, 215, "Director of Business Development", 22, False, GREY),
        (60, 330, "M. +852 9123 4567", 26, False, BLACK),
        (60, 372, "T. +44 20 7946 0958", 26, False, BLACK),
        (60, 414, "d.miller@harbourlight.co.uk", 26, False, BLACK),
        (60, 456, "Suite 5, 1 Canada Square, London", 26, False, BLACK),
    ], dict(name="DAVID MILLER", title="Director of Business Development", company="Harbour Light Consulting Ltd.",
            mobile="+85291234567", landline="+442079460958", email="d.miller@harbourlight.co.uk",
            address="Suite 5, 1 Canada Square, London", website=None)),
]

TIMES: list[float] = []


@pytest.fixture(scope="module", autouse=True)
def engine_once():
    """Load the engine once for the module and print the OCR time per card at the end."""
    started = time.perf_counter()
    cardscan._get_engine()
    load = time.perf_counter() - started
    yield
    if TIMES:
        print(f"\ncardscan engine load: {load:.2f} s; OCR per card: median {sorted(TIMES)[len(TIMES) // 2]:.2f} s, "
              f"max {max(TIMES):.2f} s over {len(TIMES)} cards")


@pytest.mark.parametrize("card", CARDS, ids=[c.name for c in CARDS])
def test_a_rendered_card_is_read_into_its_fields(card):
    image = card.render()
    started = time.perf_counter()
    found = cardscan.scan(image)
    TIMES.append(time.perf_counter() - started)
    got = {k: found[k] for k in cardscan.FIELDS}
    assert got == card.expected, found["raw_text"]
    assert set(found["confidence"]) == {k for k, v in card.expected.items() if v}
    assert all(0 < c <= 1 for c in found["confidence"].values())
    lead = found["lead"]
    assert lead["phone"] == (card.expected["mobile"] or card.expected["landline"])
    assert lead["name"] == card.expected["name"] and lead["source"] == "card_scan"
    assert all(isinstance(line, cardscan.Line) and line.box and line.box[2] > 0 for line in found["lines"])


def test_a_blank_card_gives_no_field_and_no_guess():
    buf = io.BytesIO()
    Image.new("RGB", (800, 500), "white").save(buf, "PNG")
    found = cardscan.scan(buf.getvalue())
    assert found["lines"] == [] and all(found[k] is None for k in cardscan.FIELDS) and found["lead"] == {}


def test_a_big_phone_photo_is_scaled_down_and_still_read(monkeypatch):
    card = Card("big photo", ZH_TEXTS, ZH, size=(1000, 600))
    small = Image.open(io.BytesIO(card.render()))
    big = small.resize((6000, 3600), Image.Resampling.BICUBIC)      # 21.6 MP, like a phone camera
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=85)
    engine, seen = cardscan._get_engine(), []
    monkeypatch.setattr(cardscan, "_engine", lambda img, **kw: seen.append(img.size) or engine(img, **kw))
    found = cardscan.scan(buf.getvalue())
    assert seen == [(cardscan.MAX_SIDE, 1200)]                     # the OCR saw 2000 x 1200, not 21.6 MP
    assert {k: found[k] for k in cardscan.FIELDS} == ZH
    assert max(line.box[0] + line.box[2] for line in found["lines"]) > 2000   # boxes in the photo's own pixels


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels in a few bytes (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data, key", [
    (b"", "cardscan.empty"),
    (b"%PDF-1.7 not a picture", "cardscan.not_image"),
    ("a string, not bytes", "cardscan.not_image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "cardscan.not_image"),                  # a broken PNG
    (b"\x00" * (50 * 1024 * 1024), "cardscan.too_large"),                            # 50 MB
    (_png_header(12000, 12000), "cardscan.too_many_pixels"),                                # 144 MP in a few KB
    (_png_header(30000, 30000), "cardscan.too_many_pixels"),                                # Pillow's bomb limit
], ids=["empty", "pdf", "str", "broken png", "50 MB", "144 MP", "900 MP"])
def test_bad_uploads_are_refused_with_a_message_key(data, key):
    with pytest.raises(ValidationError) as err:
        cardscan.read_text(data)
    assert err.value.key == key


def test_a_gif_or_bmp_is_not_accepted():
    for fmt in ("GIF", "BMP"):
        buf = io.BytesIO()
        Image.new("RGB", (300, 200), "white").save(buf, fmt)
        with pytest.raises(ValidationError) as err:
            cardscan.read_text(buf.getvalue())
        assert err.value.key == "cardscan.not_image"


def test_a_truncated_jpeg_is_refused_not_crashed():
    data = CARDS[0].render()
    img = Image.open(io.BytesIO(data))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    with pytest.raises(ValidationError) as err:
        cardscan.read_text(buf.getvalue()[: len(buf.getvalue()) // 3])
    assert err.value.key == "cardscan.not_image"


def test_importing_the_module_loads_no_model_and_reads_no_network():
    code = ("import sys, core.cardscan as c; "
            "assert not c.engine_loaded(); "
            "assert 'rapidocr_onnxruntime' not in sys.modules and 'onnxruntime' not in sys.modules, 'model loaded'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_the_models_ship_inside_the_package():
    import importlib.util

    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    models = sorted(p.name for p in Path(spec.origin).parent.joinpath("models").glob("*.onnx"))
    assert len(models) == 3 and any("det" in m for m in models) and any("rec" in m for m in models), models


# ------------------------------------------------------------------ the widget (AppTest, same process: one engine)

def _widget_script():
    import streamlit as st

    from ui.cardscan import card_input

    st.session_state["lead_values"] = card_input("lead")


def _widget(lang: str = "en"):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_widget_script, default_timeout=60)
    at.session_state["lang"] = lang
    return at.run()


def test_the_widget_reads_an_upload_once_and_returns_the_lead_values(monkeypatch):
    calls = []
    real_scan = cardscan.scan
    monkeypatch.setattr(cardscan, "scan", lambda data: calls.append(len(data)) or real_scan(data))
    at = _widget()
    assert not at.exception and at.session_state["lead_values"] is None
    at.file_uploader[0].set_value(("card.png", CARDS[0].render(), "image/png")).run()
    assert not at.exception and not at.error
    lead = at.session_state["lead_values"]
    assert lead == {"name": "王建国", "title": "销售总监", "company": "上海星河科技有限公司", "phone": "+8613912345678",
                    "landline": "+862162345678", "email": "wang.jg@xinghe-tech.cn",
                    "address": "上海市浦东新区张江路88号", "website": "www.xinghe-tech.cn", "source": "card_scan"}
    shown = at.dataframe[0].value
    assert dict(zip(shown["Field"], shown["Value"]))["Mobile"] == "+8613912345678"
    at.run()                                   # a rerun (any other widget) does not read the card again
    assert len(calls) == 1 and at.session_state["lead_values"]["name"] == "王建国"


def test_the_widget_says_what_is_wrong_with_a_bad_file_in_the_users_language():
    at = _widget("zh")
    at.file_uploader[0].set_value(("card.png", b"this is not a picture", "image/png")).run()
    assert not at.exception and at.session_state["lead_values"] is None
    assert [e.value for e in at.error] == ["无法读取此文件：请上传名片的 PNG、JPEG 或 WebP 图片。"]


def test_the_widget_takes_a_camera_photo():
    at = _widget()
    at.segmented_control[0].set_value("camera").run()
    assert not at.file_uploader and at.camera_input[0].resolution == "1080p"
    photo = Card("photo", CARDS[4].texts, CARDS[4].expected, fmt="JPEG").render()
    at.camera_input[0].set_value(("photo.jpg", photo, "image/jpeg")).run()
    assert not at.exception and not at.error
    lead = at.session_state["lead_values"]
    assert (lead["name"], lead["phone"]) == ("李娜", "+861088886666") and "landline" not in lead
    assert any("Website" in c.value for c in at.caption)      # what the card lacks is named
