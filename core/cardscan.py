"""Business-card scan (名片扫描): an image of a card -> the lines on it -> name, title, company, phones,
e-mail, address and website, ready to pre-fill a lead form for the rep to confirm.

OCR is `rapidocr-onnxruntime` (pinned): its Chinese/English detection, direction and recognition models
ship inside the package, so nothing is downloaded at run time. The engine is loaded on the first scan
(importing this module loads no model) and once per process; scans run one at a time (2 cores).

Parsing is rules, not a guess: a field that no rule recognised is None, and each found field carries a
confidence (the OCR's confidence of its line times how sure the rule is: a labelled value is surer than
an unlabelled one, a name picked by font size least of all). Phone numbers are judged by core.phones
(libphonenumber): only a number it accepts is kept, in E.164 form, and its kind (mobile / landline)
decides where it goes; a fax number is never kept.
"""
from __future__ import annotations

import io
import logging
import re
import threading
import unicodedata
import warnings
from typing import Iterable, NamedTuple

import phonenumbers

from core import phones
from core.errors import CRMError, ValidationError

log = logging.getLogger("crm")

MAX_BYTES = 20 * 1024 * 1024      # a phone photo is 2-10 MB; more is refused before decoding
MAX_PIXELS = 60_000_000           # 48 MP cameras pass; decompression bombs don't (checked from the header)
MAX_SIDE = 2000                   # longer sides are scaled down before OCR (the engine's own limit too)
FORMATS = ("PNG", "JPEG", "WEBP")     # JPEG includes MPO, the variant some phone cameras write

FIELDS = ("name", "title", "company", "mobile", "landline", "email", "address", "website")


class Line(NamedTuple):
    text: str
    confidence: float
    box: tuple[float, float, float, float] | None = None    # x, y, w, h in the image's pixels
    height: float | None = None      # the text's height along its slant (a tilted line's box is taller)

    @property
    def size(self) -> float:
        if self.height:
            return self.height
        return self.box[3] if self.box else 0.0


# ------------------------------------------------------------------ OCR

_engine = None
_engine_lock = threading.Lock()
_run_lock = threading.Lock()


class ScanUnavailable(CRMError):
    default_key = "cardscan.unavailable"


def _get_engine():
    """The OCR engine, loaded on first use, once per process (thread-safe)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                try:
                    from rapidocr_onnxruntime import RapidOCR
                    _engine = RapidOCR()
                except Exception as exc:  # noqa: BLE001 - a missing library or model: say so, log the cause
                    log.error("card scan: the OCR engine could not be loaded: %r", exc)
                    raise ScanUnavailable() from None
    return _engine


def engine_loaded() -> bool:
    return _engine is not None


def load_image(image_bytes: bytes):
    """The picture as an RGB Pillow image, upright (camera EXIF orientation applied), at most MAX_SIDE
    pixels on its longer side, and the factor from its pixels back to the upright original's.
    ValidationError for anything that is not a PNG, JPEG or WebP image of sensible size."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(image_bytes, (bytearray, memoryview)):
        image_bytes = bytes(image_bytes)
    if not isinstance(image_bytes, bytes):
        raise ValidationError("cardscan.not_image")
    if not image_bytes:
        raise ValidationError("cardscan.empty")
    if len(image_bytes) > MAX_BYTES:
        raise ValidationError("cardscan.too_large", max=MAX_BYTES // (1024 * 1024))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(image_bytes), formats=FORMATS)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ValidationError("cardscan.not_image") from None
    except Image.DecompressionBombError:
        raise ValidationError("cardscan.too_many_pixels", max=MAX_PIXELS // 1_000_000) from None
    width, height = img.size
    if width < 1 or height < 1:
        raise ValidationError("cardscan.not_image")
    if width * height > MAX_PIXELS:
        raise ValidationError("cardscan.too_many_pixels", max=MAX_PIXELS // 1_000_000)
    try:
        if img.format in ("JPEG", "MPO") and max(width, height) > MAX_SIDE:
            fit = MAX_SIDE / max(width, height)        # decode a big photo at 1/2, 1/4 or 1/8 size: fast, small
            img.draft("RGB", (int(width * fit), int(height * fit)))
        img.load()
        upright = ImageOps.exif_transpose(img)
        if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
            rgba = upright.convert("RGBA")           # a transparent background is read as white paper
            paper = Image.new("RGB", rgba.size, "white")
            paper.paste(rgba, mask=rgba.getchannel("A"))
            upright = paper
        else:
            upright = upright.convert("RGB")
        shown = upright
        if max(shown.size) > MAX_SIDE:
            shown = shown.copy()
            shown.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError):
        raise ValidationError("cardscan.not_image") from None
    # the original's longer side (before draft decoding) over the one OCR sees: maps boxes back
    original_long = max(width, height)
    return shown, original_long / max(shown.size)


def read_text(image_bytes: bytes) -> list[Line]:
    """The lines of text on a card image, top to bottom. Bad input -> ValidationError (a message key)."""
    import numpy as np

    img, scale = load_image(image_bytes)
    engine = _get_engine()
    try:
        with _run_lock:       # one scan at a time: onnxruntime already uses every core
            result, _elapsed = engine(img, return_word_box=True)
    except Exception as exc:  # noqa: BLE001 - never a raw exception to the page
        log.error("card scan: OCR failed: %r", exc)
        raise ValidationError("cardscan.failed") from None
    gray = None
    lines: list[Line] = []
    for points, text, score, *word_info in result or ():
        text = text or ""
        if len(word_info) >= 2 and re.search(r"[A-Za-z0-9]", text):
            gray = np.asarray(img.convert("L")) if gray is None else gray
            text = _respace(gray, points, text, word_info[1], word_info[0])
        text = text.strip()
        if not text:
            continue
        pts = np.asarray(points, dtype=float) * scale
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        slant_height = (np.linalg.norm(pts[3] - pts[0]) + np.linalg.norm(pts[2] - pts[1])) / 2
        lines.append(Line(text, round(float(score), 4),
                          (round(float(x0), 1), round(float(y0), 1), round(float(x1 - x0), 1), round(float(y1 - y0), 1)),
                          round(float(slant_height), 1)))
    return lines


_NO_SPACE_BESIDE = set("@._-/")


def _respace(gray, points, text: str, chars: list, char_boxes: list) -> str:
    """Put back the spaces the recogniser drops between Latin words ("DAVIDMILLER"): a blank run in
    the line's picture wider than a letter gap is a space, placed between the two characters whose
    positions straddle it. Never inside an e-mail address or a web address; CJK needs none."""
    import cv2
    import numpy as np

    try:
        if "".join(chars) != text or len(chars) != len(char_boxes):
            return text
        p = np.asarray(points, dtype=np.float32)
        width = int(max(np.linalg.norm(p[0] - p[1]), np.linalg.norm(p[3] - p[2])))
        height = int(max(np.linalg.norm(p[0] - p[3]), np.linalg.norm(p[1] - p[2])))
        if width < 16 or height < 8 or height * 1.5 > width:
            return text
        warp = cv2.getPerspectiveTransform(p, np.float32([[0, 0], [width, 0], [width, height], [0, height]]))
        crop = cv2.warpPerspective(gray, warp, (width, height), borderMode=cv2.BORDER_REPLICATE)
        _, ink = cv2.threshold(crop, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
        if ink.mean() > 0.5:          # light text on a dark card
            ink = 1 - ink
        columns = ink.sum(axis=0) >= 2
        inked = np.flatnonzero(columns)
        if len(inked) < 2:
            return text
        runs, start = [], None
        for x in range(int(inked[0]), int(inked[-1]) + 1):
            if not columns[x] and start is None:
                start = x
            elif columns[x] and start is not None:
                runs.append((start, x))
                start = None
        if not runs:
            return text
        letter_gap = float(np.median([b - a for a, b in runs]))
        limit = max(0.28 * height, 1.8 * letter_gap)
        along = float(np.linalg.norm(p[1] - p[0])) / width
        origin, unit = p[0].astype(float), (p[1] - p[0]).astype(float) / float(np.linalg.norm(p[1] - p[0]))
        centres = [float(np.dot(np.asarray(b, dtype=float).mean(axis=0) - origin, unit)) for b in char_boxes]
        spaced = set()
        for a, b in runs:
            if b - a < limit:
                continue
            at = sum(1 for c in centres if c < (a + b) / 2 * along)
            if not 0 < at < len(chars):
                continue
            left, right = chars[at - 1], chars[at]
            if " " in (left, right) or left in _NO_SPACE_BESIDE and right not in "+(" or right in _NO_SPACE_BESIDE:
                continue
            if _IS_CJK.match(left) and _IS_CJK.match(right):
                continue
            spaced.add(at)
        if not spaced:
            return text
        words = _EMAIL.search(text) or _WEBSITE.search(text)
        if words:     # an address of either kind stays whole
            spaced = {k for k in spaced if not words.start() < k < words.end()}
        return "".join((" " if k in spaced else "") + ch for k, ch in enumerate(chars))
    except Exception:  # noqa: BLE001 - spacing is a nicety: the text as read is still right
        return text


def scan(image_bytes: bytes) -> dict:
    """read_text + parse, and the values for a lead form under "lead" (phone: the mobile if any, else
    the landline); the recognised lines under "lines"."""
    lines = read_text(image_bytes)
    fields = parse(lines)
    fields["lines"] = lines
    fields["lead"] = lead_values(fields)
    return fields


def lead_values(fields: dict) -> dict:
    """What a lead form is pre-filled with (only what was found; the rep confirms it)."""
    values = {
        "name": fields.get("name"),
        "title": fields.get("title"),
        "company": fields.get("company"),
        "phone": fields.get("mobile") or fields.get("landline"),
        "email": fields.get("email"),
        "address": fields.get("address"),
        "website": fields.get("website"),
    }
    if fields.get("mobile") and fields.get("landline"):
        values["landline"] = fields["landline"]
    values = {k: v for k, v in values.items() if v}
    if values:
        values["source"] = "card_scan"
    return values


# ------------------------------------------------------------------ parsing

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff"
_IS_CJK = re.compile(f"[{_CJK}]")

# labels, longest first; a one-letter label (M: T: E:) needs its colon (or a digit after "M." / "T.")
_LABELS = [
    ("fax", r"传真(?:号码)?|fax|facsimile|f(?=\s*[:.]\s*[+(\d])"),
    ("mobile", r"手机(?:号码)?|移动电话|mobile(?:\s*phone)?|mob|cell(?:phone)?|m(?=\s*[:.]\s*[+(\d])"),
    ("landline", r"办公电话|固定电话|联系电话|电话|座机|总机|直线|tel(?:ephone)?|phone|office|direct|t(?=\s*[:.]\s*[+(\d])"),
    ("email", r"电子邮件|电子邮箱|邮箱|邮件|e-?mail|mail|e(?=\s*:\s*\S)"),
    ("website", r"网址|网站|主页|官网|website|web|url|w(?=\s*:\s*\S)"),
    ("address", r"公司地址|联系地址|地址|address|addr|add|a(?=\s*:\s*\S)"),
    ("other", r"微信|wechat|qq|邮编|邮政编码|zip(?:\s*code)?|postcode|post\s*code|skype|whatsapp"),
]
_LABEL = re.compile(
    "|".join(f"(?P<{kind}>(?<![A-Za-z])(?:{pattern})(?![A-Za-z]))" for kind, pattern in _LABELS), re.IGNORECASE)
_AFTER_LABEL = re.compile(r"\s*[:.]?\s*")
_PHONE_KINDS = ("mobile", "landline")
_PHONE_LABELS = ("mobile", "landline", "fax")

_PHONE_RUN = re.compile(r"(?:\+|00)?\s*\(?\s*\d[\d\s\-.()]{5,28}\d")
_EXTENSION = re.compile(r"\s*(?:转|分机|ext\.?|extension|x)\s*\d{1,6}\b", re.IGNORECASE)
# letters OCR reads for digits inside a phone number (O for 0, l or I for 1)
_OCR_DIGITS = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1", "|": "1"})
_DIGITISH = re.compile(r"(?<![A-Za-z])[\dOolI|][\dOolI|\s\-]{8,20}[\dOolI|](?![A-Za-z])")

_AT_SIGNS = "©®"
_EMAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}")
_TLDS = "com|cn|net|org|io|co|hk|tw|sg|jp|uk|de|fr|biz|info|edu|gov|tech|ai|app|top|xyz|vip|shop|online|site|cc|me|us"
_WEBSITE = re.compile(r"(?<![@\w.\-])(?:https?://)?(?:www\d?\.)[a-z0-9\-]+(?:\.[a-z0-9\-]+)+(?:/[^\s,;]*)?", re.I)
_HTTP = re.compile(r"https?://[a-z0-9\-]+(?:\.[a-z0-9\-]+)+(?:/[^\s,;]*)?", re.I)
_DOMAIN = re.compile(rf"(?<![@\w.\-])[a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)*\.(?:{_TLDS})(?:\.(?:cn|hk|uk|tw|sg|jp))?"
                     r"(?![\w@\-])(?:/[^\s,;]*)?", re.I)

_COMPANY_ZH_STRONG = re.compile(r"(有限责任公司|股份有限公司|有限公司|集团|公司|研究院|研究所|设计院|事务所|银行|大学|学院|医院|"
                                r"协会|商会|基金会|合作社|工作室|实验室|出版社|商行|总厂|[^区路街]厂)(?:[（(][^)）]{1,12}[)）])?$")
_COMPANY_ZH_WEAK = re.compile(r"(中心|分公司|办事处|门市部|经营部|网络科技|科技|贸易|实业|咨询|传媒|物流|电子)$")
_COMPANY_EN_STRONG = re.compile(
    r"\b(co\.?\s*,?\s*ltd\.?|company|limited|ltd\.?|inc\.?|incorporated|llc|l\.l\.c\.|llp|corp\.?|corporation|"
    r"gmbh|ag|s\.a\.|plc|pty|pte\.?|s\.r\.l\.|b\.v\.|group|holdings|institute|university|bank|studio|laborator(?:y|ies)|labs?)\b"
    r"\.?\s*$", re.I)
_COMPANY_EN_WORDS = {"technology", "technologies", "tech", "solutions", "systems", "software", "consulting",
                     "international", "global", "trading", "industries", "industrial", "enterprises", "partners",
                     "associates", "ventures", "capital", "network", "networks", "media", "logistics", "electronics"}

_TITLES_ZH = ("首席执行官", "首席技术官", "首席财务官", "首席运营官", "首席营销官", "首席信息官", "董事长", "副董事长",
              "总经理", "副总经理", "总裁", "副总裁", "执行董事", "董事", "总监", "经理", "主管", "主任", "工程师", "架构师",
              "设计师", "分析师", "会计师", "律师", "顾问", "专员", "助理", "秘书", "代表", "合伙人", "创始人",
              "联合创始人", "负责人", "店长", "厂长", "部长", "处长", "科长", "院长", "所长", "校长", "主编", "编辑",
              "教授", "讲师", "医生", "医师", "销售", "业务员", "会计", "出纳", "行长", "组长", "总工", "客服", "采购")
_TITLE_ZH_END = ("总监", "经理", "主管", "主任", "工程师", "架构师", "设计师", "分析师", "师", "顾问", "专员", "助理",
                 "秘书", "代表", "董事长", "总经理", "总裁", "董事", "合伙人", "创始人", "负责人", "长", "官", "员",
                 "教授", "讲师", "医生", "编辑", "总工")
_TITLE_EN = re.compile(
    r"\b(ceo|cto|cfo|coo|cmo|cio|cso|vp|svp|evp|president|vice\s+president|chairman|chairwoman|chair|founder|"
    r"co-?founder|partner|owner|manager|director|head|lead|engineer|sales|marketing|consultant|specialist|assistant|"
    r"representative|executive|officer|architect|designer|developer|analyst|accountant|secretary|supervisor|"
    r"coordinator|attorney|lawyer|counsel|professor|lecturer|editor|administrator|advisor|adviser|agent|"
    r"principal|associate|intern|technician|buyer|purchasing|recruiter|strategist|producer|scientist|researcher)\b",
    re.I)

_ADDRESS_ZH = re.compile(r"[省市区县镇乡村路街道巷弄号楼室层座栋幢]|大厦|大楼|广场|园区|中心")
_ADDRESS_ZH_STRONG = re.compile(r"(?:省|自治区|市|区|县).*?(?:路|街|道|巷|弄|号|大厦|大楼|广场|园)")
_ADDRESS_ZH_NUMBER = re.compile(r"\d+\s*(?:号|室|楼|层|栋|幢|座)")
_ADDRESS_EN = re.compile(
    r"\b(street|st\.|road|rd\.?|avenue|ave\.?|boulevard|blvd\.?|lane|ln\.|drive|dr\.|way|highway|hwy|floor|fl\.|"
    r"suite|ste\.?|room|rm\.?|unit|building|bldg\.?|tower|plaza|square|district|province|city|county|"
    r"p\.?\s*o\.?\s*box|zip|postcode)\b", re.I)
_GEO_EN = {"china", "prc", "p.r.c.", "p.r.china", "shanghai", "beijing", "shenzhen", "guangzhou", "hangzhou",
           "suzhou", "nanjing", "chengdu", "wuhan", "tianjin", "chongqing", "xiamen", "hong", "kong", "macau",
           "taiwan", "taipei", "singapore", "pudong", "usa", "u.s.a.", "uk", "london", "new", "york"}

# common Chinese surnames (single and compound): a 2-4 character line starting with one reads as a name
_SURNAMES_2 = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐")
_SURNAMES_1 = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石"
    "廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁"
    "岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾"
    "尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛"
    "仲虞敖巩明佘池查麻苑迟邝")
_NOT_NAME_ZH = re.compile(r"(部|处|科|组|室|中心|公司|集团|分行|支行|总部|事业部|名片|地址|电话|手机|传真|邮箱|网址|微信)$")
_NOT_NAME_EN = {"business", "development", "department", "dept", "division", "branch", "office", "headquarters",
                "team", "service", "services", "customer", "support", "research", "product", "products",
                "operations", "finance", "human", "resources", "thank", "you", "card", "contact", "welcome", "the",
                "and", "of", "for", "best", "regards", "www", "email", "mobile", "phone"}
_PARTS = re.compile(r"\s*[|｜]\s*|\s+/\s+")
_NAME_EN = re.compile(r"^(?:[A-Z][a-zA-Z'’\-]+|[A-Z]\.)(?:\s+(?:[A-Z][a-zA-Z'’\-]+|[A-Z]\.)){1,2}$")


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if ch.isprintable())
    return re.sub(r"\s+", " ", text).strip()


class _Seg(NamedTuple):
    label: str | None     # a kind from _LABELS, or None
    text: str             # the value after the label
    line: int             # index of its line


def _segments(text: str, index: int) -> list[_Seg]:
    """A line cut at its labels: "Tel: 021-62345678 Fax: 021-62345679" -> two labelled values."""
    found = []
    for m in _LABEL.finditer(text):
        kind = m.lastgroup
        end = _AFTER_LABEL.match(text, m.end()).end()
        rest = text[end:]
        if kind in _PHONE_LABELS:
            # a phone label is followed by its number, by nothing (the number is in the next box) or by
            # another label ("Tel/Fax:"); "Office" or "电话" inside other words is no label
            if rest and not re.match(r"[+(\dOolI|/]", rest):
                continue
        elif not _IS_CJK.match(m.group(0)) and m.start() > 0 and ":" not in text[m.end():end]:
            continue     # "Address", "Web", "Mail" label a value at the start of a line or before a colon
        found.append((m.start(), end, kind))
    if not found:
        return [_Seg(None, text, index)]
    segs = []
    if found[0][0] > 0 and text[: found[0][0]].strip(" /|,;"):
        segs.append(_Seg(None, text[: found[0][0]].strip(), index))
    for i, (start, end, kind) in enumerate(found):
        stop = found[i + 1][0] if i + 1 < len(found) else len(text)
        segs.append(_Seg(kind, text[end:stop].strip(" /|,;"), index))
    # "Tel/Fax: 021..." -> a label with no value of its own joins the next: a phone unless both are fax
    merged: list[_Seg] = []
    for seg in segs:
        if merged and merged[-1].label and not merged[-1].text:
            prev = merged.pop()
            kind = seg.label
            if {prev.label, seg.label} == {"landline", "fax"} or {prev.label, seg.label} == {"mobile", "fax"}:
                kind = prev.label if prev.label != "fax" else seg.label
            seg = _Seg(kind, seg.text, index)
        merged.append(seg)
    return merged


def _phones_in(text: str) -> list[phones.Phone]:
    """Every number in the text that core.phones accepts, in order (extensions dropped)."""
    text = _EXTENSION.sub(" ", text)
    text = _DIGITISH.sub(lambda m: m.group(0).translate(_OCR_DIGITS) if sum(c.isdigit() for c in m.group(0)) >= 7
                         else m.group(0), text)
    found: list[phones.Phone] = []
    for m in _PHONE_RUN.finditer(text):
        run = m.group(0).strip()
        tokens = run.split()
        i = 0
        while i < len(tokens):
            for j in range(len(tokens), i, -1):
                candidate = " ".join(tokens[i:j])
                try:
                    phone = phones.describe(candidate)
                except ValidationError:
                    continue
                if phone:
                    found.append(phone)
                    i = j
                    break
            else:
                i += 1
    return found


def _phone_kind(phone: phones.Phone, label: str | None) -> str:
    if phone.kind in _PHONE_KINDS:
        return phone.kind
    if label in _PHONE_KINDS:        # an international number: its label says which it is
        return label
    number_type = phonenumbers.number_type(phonenumbers.parse(phone.e164))
    return "mobile" if number_type == phonenumbers.PhoneNumberType.MOBILE else "landline"


def _mend_email(text: str, labelled: bool) -> str:
    """What OCR does to an e-mail address undone: © or ® for @, spaces around @ and dots; after a label
    also (at) and a comma read for the dot before the domain's ending."""
    if labelled:
        text = re.sub(r"\s*(?:\(at\)|\[at\])\s*", "@", text, flags=re.I)
        text = re.sub(f"[{_AT_SIGNS}]", "@", text)
        text = re.sub(r"\s*([@.])\s*", r"\1", text)
        return re.sub(r"(?<=[A-Za-z0-9]),(?=[A-Za-z]{2,}\b)", ".", text)
    text = re.sub(rf"(?<=[A-Za-z0-9._\-])\s*[{_AT_SIGNS}@]\s*(?=[A-Za-z0-9])", "@", text)
    if "@" in text:
        head, tail = text.split("@", 1)
        text = head + "@" + re.sub(r"^\s+|\s*\.\s*(?=[A-Za-z0-9])", lambda m: "." if "." in m.group(0) else "", tail)
    return text


def _email_in(text: str, labelled: bool) -> str | None:
    m = _EMAIL.search(_mend_email(text, labelled))
    if not m:
        return None
    local, domain = m.group(0).split("@", 1)
    return f"{local}@{domain.lower()}"


def _website_in(text: str, labelled: bool) -> str | None:
    probe = _EMAIL.sub(" ", text)
    if labelled or re.search(r"\bwww\s*\.|https?\s*:", probe, re.I):
        probe = re.sub(r"\s*\.\s*", ".", probe)
        probe = re.sub(r"(https?)\s*:\s*/\s*/\s*", r"\1://", probe, flags=re.I)
    m = _WEBSITE.search(probe) or _HTTP.search(probe) or _DOMAIN.search(probe)
    if not m:
        return None
    site = m.group(0).rstrip("./")
    if not labelled and not re.match(r"(?:https?://|www)", site, re.I) and probe.strip() != m.group(0):
        return None        # a bare domain counts alone on its line or after a label, not inside a sentence
    return site.lower()


def _mend_spaces(text: str) -> str:
    """Spaces the OCR dropped from Latin text put back: "Room 1201,88CenturyAvenue" -> "Room 1201, 88
    Century Avenue", "SalesManager" -> "Sales Manager" (for addresses, titles and names, not brands)."""
    if _IS_CJK.search(text):
        return text
    text = re.sub(r"\s*,\s*(?=\S)", ", ", text)
    text = re.sub(r"(?i)\b(director|manager|head|president|officer|engineer|representative|vp)(of|for)\b", r"\1 \2", text)
    text = re.sub(r"(?<=[a-z]{2})(?=[A-Z][a-z])", " ", text)
    return re.sub(r"(?<=\d)(?=[A-Z][a-z]{2,})", " ", text)


def _cjk_share(text: str) -> float:
    letters = [c for c in text if not c.isspace()]
    return sum(1 for c in letters if _IS_CJK.match(c)) / max(len(letters), 1)


def _company_score(text: str) -> float:
    if re.search(r"\d{3,}|@", text):
        return 0.0
    compact = text.replace(" ", "")
    if _IS_CJK.search(text) and _cjk_share(text) > 0.5:
        if len(compact) < 4 or len(compact) > 40:
            return 0.0
        if _COMPANY_ZH_STRONG.search(compact):
            return 0.95 if re.search(r"有限|集团|股份", compact) else 0.85
        if _COMPANY_ZH_WEAK.search(compact) and len(compact) >= 5:
            return 0.5
        return 0.0
    if len(text) > 80:
        return 0.0
    if _COMPANY_EN_STRONG.search(text):
        return 0.9 if re.search(r"\b(co|ltd|limited|inc|llc|corp|corporation|gmbh|plc)\b", text, re.I) else 0.7
    words = {w.lower().strip(".,") for w in text.split()}
    if len(words) >= 2 and words & _COMPANY_EN_WORDS and not _TITLE_EN.search(text):
        return 0.45
    return 0.0


def _address_score(text: str) -> float:
    if "@" in text:
        return 0.0
    compact = text.replace(" ", "")
    if _IS_CJK.search(text) and _cjk_share(text) > 0.4:
        if len(compact) < 6:
            return 0.0
        if _ADDRESS_ZH_STRONG.search(compact):
            return 0.85
        if _ADDRESS_ZH_NUMBER.search(compact):
            return 0.65
        if len(_ADDRESS_ZH.findall(compact)) >= 3 and re.search(r"\d", compact):
            return 0.6
        return 0.0
    has_number = bool(re.search(r"\d", text))
    if _ADDRESS_EN.search(text) and has_number:
        return 0.8
    if _ADDRESS_EN.search(text) and "," in text:
        return 0.55
    return 0.0


def _title_score(text: str) -> float:
    if re.search(r"\d|@|www\.", text, re.I):
        return 0.0
    compact = text.replace(" ", "")
    if _IS_CJK.search(text) and _cjk_share(text) > 0.5:
        if len(compact) > 16:
            return 0.0
        if compact.endswith(_TITLE_ZH_END) and any(t in compact for t in _TITLES_ZH):
            return 0.9
        if any(t in compact for t in _TITLES_ZH):
            return 0.6
        return 0.0
    if len(text) > 60 or len(text.split()) > 7:
        return 0.0
    if _TITLE_EN.search(text):
        return 0.85
    return 0.0


def _zh_name(text: str) -> str | None:
    compact = text.replace(" ", "")
    if not re.fullmatch(f"[{_CJK}·]{{2,5}}", compact) or _NOT_NAME_ZH.search(compact):
        return None
    if len(compact.replace("·", "")) > 4:
        return None
    return compact


def _surname_known(name: str) -> bool:
    return name[:2] in _SURNAMES_2 or name[0] in _SURNAMES_1


def _en_name(text: str) -> str | None:
    text = text.strip(" ,;|")
    if not _NAME_EN.match(text):
        return None
    words = [w.lower().strip(".,") for w in text.split()]
    if any(w in _COMPANY_EN_WORDS or w in _GEO_EN or w in _NOT_NAME_EN for w in words):
        return None
    if _TITLE_EN.search(text) or _ADDRESS_EN.search(text) or _COMPANY_EN_STRONG.search(text):
        return None
    if any(_LABEL.fullmatch(w) for w in words):
        return None
    return text


def _as_line(item) -> Line:
    if isinstance(item, Line):
        return item
    if isinstance(item, str):
        return Line(item, 1.0)
    if isinstance(item, (tuple, list)) and item and isinstance(item[0], str):
        return Line(*item)
    raise ValidationError("cardscan.failed")


def _same_row(a: Line, b: Line) -> bool:
    if not a.box or not b.box:
        return True
    ca, cb = a.box[1] + a.box[3] / 2, b.box[1] + b.box[3] / 2
    return abs(ca - cb) < max(a.box[3], b.box[3]) * 0.6 and b.box[0] >= a.box[0]


def parse(lines: Iterable) -> dict:
    """name, title, company, mobile, landline (E.164), email, address, website: each None when no rule
    found it; `confidence` per found field (0-1); `raw_text` the lines as read. Lines are Line tuples
    (or plain strings: then there is no font size to tell a name by, and the first candidate is taken)."""
    items = [_as_line(x) for x in lines]
    items = [Line(_clean(x.text), float(x.confidence), x.box, x.height) for x in items]
    items = [x for x in items if x.text]
    raw_text = "\n".join(x.text for x in items)

    # a label read as a box of its own ("地址：" | "上海市…") is joined with the value beside or below it
    joined: list[Line] = []
    for x in items:
        if joined:
            prev = joined[-1]
            segs = _segments(prev.text, 0)
            if segs[-1].label and not segs[-1].text and _same_row(prev, x):
                joined[-1] = Line(f"{prev.text} {x.text}", min(prev.confidence, x.confidence), prev.box, prev.height)
                continue
        joined.append(x)
    items = joined

    out: dict = {f: None for f in FIELDS}
    conf: dict[str, float] = {}
    where: dict[str, int] = {}
    used: set[int] = set()           # lines that gave a value (or a fax, QQ, postcode)

    def take(field: str, value, certainty: float, line: int) -> None:
        if value and out[field] is None:
            out[field] = value
            conf[field] = round(certainty * min(max(items[line].confidence, 0.0), 1.0), 3)
            where[field] = line
        used.add(line)

    free: list[tuple[int, str]] = []   # unlabelled text, for the pattern and heuristic rules
    for i, x in enumerate(items):
        for seg in _segments(x.text, i):
            if seg.label is None:
                free.append((i, seg.text))
            elif seg.label in ("fax", "other"):
                used.add(i)
            elif seg.label in _PHONE_KINDS:
                for phone in _phones_in(seg.text):
                    take(_phone_kind(phone, seg.label), phone.e164, 1.0, i)
                used.add(i)
            elif seg.label == "email":
                take("email", _email_in(seg.text, True), 1.0, i)
            elif seg.label == "website":
                take("website", _website_in(seg.text, True), 1.0, i)
            elif seg.label == "address":
                take("address", _mend_spaces(seg.text).strip(" ,;") or None, 1.0, i)

    # unlabelled values: e-mail and website by their patterns, phone numbers that libphonenumber accepts
    rest: list[tuple[int, str]] = []
    for i, text in free:
        email = _email_in(text, False)
        if email:
            take("email", email, 0.9, i)
            text = _EMAIL.sub(" ", _mend_email(text, False)).strip(" ,;|")
        site = _website_in(text, False)
        if site:
            take("website", site, 0.85, i)
            continue
        numbers = _phones_in(text)
        if numbers:
            for phone in numbers:
                take(_phone_kind(phone, None), phone.e164, 0.8, i)
            text = _PHONE_RUN.sub(" ", _EXTENSION.sub(" ", text)).strip(" ,;|:")     # "王建国 139 1234 5678"
            if len(re.findall(f"[A-Za-z{_CJK}]", text)) < 2:
                continue
        if text and not email:
            # "技术总监 / CTO", "王建国 | 销售总监": each part on its own
            rest.extend((i, part) for part in _PARTS.split(text) if part.strip())

    # company, address and title by their words; a name by its shape; "王建国 销售总监" is both
    names: list[tuple[int, str, float]] = []
    companies: list[tuple[float, int, str]] = []
    addresses: list[tuple[float, int, str]] = []
    titles: list[tuple[float, int, str]] = []
    for i, text in rest:
        pair = re.match(f"^([{_CJK}]{{2,4}})\\s+(\\S.*)$", text)
        if pair and _zh_name(pair.group(1)) and not _title_score(pair.group(1)) and _title_score(pair.group(2)):
            names.append((i, pair.group(1), 0.8 if _surname_known(pair.group(1)) else 0.5))
            titles.append((_title_score(pair.group(2)), i, pair.group(2)))
            continue
        mended = _mend_spaces(text)
        c, a, t = _company_score(text), _address_score(mended), _title_score(mended)
        if max(c, a, t) == 0:
            zh = _zh_name(text)
            en = None if zh else _en_name(mended)
            if zh:
                names.append((i, zh, 0.8 if _surname_known(zh) else 0.4))
            elif en:
                names.append((i, en, 0.6))
        elif c >= max(a, t):
            companies.append((c, i, text))
        elif a >= t:
            addresses.append((a, i, mended))
        else:
            titles.append((t, i, mended))

    def size(i: int) -> float:
        return items[i].size

    if names:
        # a Chinese name before its pinyin; a known surname first, then the largest font, then the first line
        cjk = any(_IS_CJK.search(n) for _, n, _ in names)
        pool = [n for n in names if (_IS_CJK.search(n[1]) is not None) == cjk]
        i, name, certainty = max(pool, key=lambda n: (n[2], size(n[0]), -n[0]))
        rivals = [n for n in pool if n[0] != i]
        if rivals and max(size(n[0]) for n in rivals) >= size(i) * 0.9:
            certainty *= 0.8             # no clearly larger font: less sure
        take("name", name, certainty, i)
    zh_card = out["name"] is not None and _IS_CJK.search(out["name"]) is not None

    def pick(field: str, found: list) -> None:
        if not found:
            return
        same = [f for f in found if (_cjk_share(f[2]) > 0.5) == zh_card] if out["name"] else found
        certainty, i, text = max(same or found, key=lambda f: (f[0], size(f[1]), -f[1]))
        take(field, text, certainty, i)

    pick("company", companies)
    pick("title", titles)
    pick("address", addresses)

    # an address often goes on over a second line ("Pudong, Shanghai 200120, China", "星河大厦12楼")
    if out["address"] is not None:
        at = where["address"]
        nxt = at + 1
        if nxt < len(items) and nxt not in used and _continues_address(items[at], items[nxt]):
            glue = "" if _IS_CJK.search(out["address"]) and _IS_CJK.search(items[nxt].text) else ", "
            out["address"] = f"{out['address']}{glue}{_mend_spaces(items[nxt].text)}"
            used.add(nxt)

    out["confidence"] = conf
    out["raw_text"] = raw_text
    return out


def _continues_address(first: Line, second: Line) -> bool:
    text = second.text
    if "@" in text or _title_score(text) or _company_score(text) or _zh_name(text) or _en_name(text):
        return False
    if _IS_CJK.search(text):
        looks = _address_score(text) > 0 or bool(re.search(r"[楼室层座栋幢]|大厦|大楼|广场", text))
    else:
        words = {w.lower().strip(".,") for w in text.split()}
        looks = bool(words & _GEO_EN) or bool(re.search(r"\b\d{5,6}\b", text)) or bool(_ADDRESS_EN.search(text))
    if not looks:
        return False
    if first.box and second.box:
        gap = second.box[1] - (first.box[1] + first.box[3])
        return -first.size * 0.3 < gap < first.size * 1.2 and abs(second.size - first.size) < first.size * 0.35
    return True
