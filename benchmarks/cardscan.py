"""Business-card scan timings: the engine's first load, then OCR + parse per card (the cards the tests
render), a tilted noisy JPEG, and a 21.6 MP phone photo (scaled down before OCR); parse alone.

    python benchmarks/cardscan.py [--runs 5]

Median of --runs after one warm run. Prints plain `key: value` lines (milliseconds).
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from core import cardscan  # noqa: E402
from tests.integration.test_cardscan_ocr import CARDS  # noqa: E402
from benchmarks.timing import median_ms  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs

    code = "import time; t = time.perf_counter(); import core.cardscan; print((time.perf_counter() - t) * 1000)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    print(f"import_core_cardscan_ms: {float(out.stdout.strip()):.1f}")
    t0 = time.perf_counter()
    cardscan._get_engine()
    print(f"engine_load_ms: {(time.perf_counter() - t0) * 1000:.0f}")

    for card in CARDS:
        data = card.render()
        name = card.name.replace(" ", "_").replace(",", "")
        print(f"scan_{name}_{card.size[0]}x{card.size[1]}_ms: {median_ms(lambda: cardscan.scan(data), runs):.0f}")

    small = Image.open(io.BytesIO(CARDS[0].render()))
    buf = io.BytesIO()
    small.resize((6000, 3600), Image.Resampling.BICUBIC).save(buf, "JPEG", quality=85)
    photo = buf.getvalue()
    print(f"scan_photo_6000x3600_jpeg_ms: {median_ms(lambda: cardscan.scan(photo), runs):.0f}")
    print(f"load_image_photo_6000x3600_ms: {median_ms(lambda: cardscan.load_image(photo), runs):.0f}")

    lines = cardscan.read_text(CARDS[0].render())
    print(f"parse_only_ms: {median_ms(lambda: cardscan.parse(lines), runs * 20):.2f}")


if __name__ == "__main__":
    main()
