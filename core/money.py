"""Money limits and rounding, the same for deals and orders (a won deal must always become an order).

Limits (what a valid deal holds, an order accepts):
- AMOUNT_MAX       a deal's amount, a line's amount, an order's total, a payment plan, a payment;
- QUANTITY_MAX     a line's quantity, stored with QUANTITY_DECIMALS (3) decimals (DECIMAL(18,3));
- UNIT_PRICE_MAX   a line's unit price, stored with PRICE_DECIMALS (4) decimals (DECIMAL(18,4)); as large
                   as AMOUNT_MAX: a deal without lines becomes one order line of its amount;
- a discount is a percent 0..100 with 2 decimals (DECIMAL(5,2)).

Rounding: a line's amount = quantity x unit price x (1 - discount / 100), computed in decimal on the
values as stored (after their own rounding) and rounded once to the cent, half up (0.005 -> 0.01);
a total is the sum of the rounded line amounts. A quantity or price that is not zero but rounds to
zero at its stored precision (0.00004 at 4 decimals) is refused, never stored as 0.
"""
from __future__ import annotations

import decimal
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.errors import ValidationError
from core.fields import Field

AMOUNT_MAX = 10**13
QUANTITY_MAX = 10**9
UNIT_PRICE_MAX = 10**13   # as large as an amount: a deal without lines becomes one line of its amount
QUANTITY_DECIMALS = 3
PRICE_DECIMALS = 4
CENT = Decimal("0.01")
_CTX = decimal.Context(prec=60)


def dec(value: Any) -> Decimal:
    """A stored number (float, int, Decimal) as a Decimal of its shortest text (no binary noise)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def cents(value: Any) -> Decimal:
    return dec(value).quantize(CENT, rounding=ROUND_HALF_UP, context=_CTX)


def line_amount(quantity: Any, unit_price: Any, discount: Any = 0) -> Decimal:
    """quantity x unit price x (1 - discount / 100), rounded half up to the cent (module doc)."""
    gross = _CTX.multiply(dec(quantity), dec(unit_price))
    net = _CTX.divide(_CTX.multiply(gross, _CTX.subtract(Decimal(100), dec(discount or 0))), Decimal(100))
    return cents(net)


def refuse_vanishing(f: Field, raw: Any, cleaned: Any) -> None:
    """Refuse a value the field rounded to 0 though it was not 0 (too small for its stored decimals)."""
    if cleaned is None or cleaned != 0 or raw is None:
        return
    from core import fields

    try:
        exact = fields.clean_number(replace(f, decimals=12, min=None, max=None), raw)
    except ValidationError:
        return
    if exact != 0:
        raise ValidationError("field.too_precise", field=f.label, smallest=f"{Decimal(1).scaleb(-f.decimals)}")
