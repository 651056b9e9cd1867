"""Money in reward copy: the launch's currency (ISO 4217), written for its country.

Formatting follows CLDR through ``babel``, in the English of the launch's country (the copy
is English): ``en_US`` writes ``$20``, ``en_GB`` ``£20``, ``en_DE`` ``20 €``, and a country
without an English locale in CLDR (Japan) falls back to plain ``en``: ``¥3,000``. Whole
amounts drop the decimals (``$20``, not ``$20.00``); currencies without minor units (JPY)
never show any. The currency defaults to the one the country uses (CLDR territory data).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from referral_orchestrator.errors import InvalidRequest

from .content import load_yaml, read_content, skill_file

_PATTERN_FRACTION = re.compile(r"0\.0+")
# CLDR's currency spacing, which babel does not apply: "PLN 80", not "PLN80".
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")


def default_currency(country: str, on: dt.date) -> str:
    """The tender currency of ``country`` on a date (``DE`` -> ``EUR``)."""
    from babel.numbers import get_territory_currencies

    found = get_territory_currencies(country, start_date=on, tender=True)
    if not found:
        raise InvalidRequest(
            f"no official currency known for --country {country}: pass --currency, e.g. USD",
            code="bad_currency",
        )
    return str(found[0])


def normalize_currency(value: str) -> str:
    """An ISO 4217 code CLDR knows, upper-cased (``eur`` -> ``EUR``)."""
    from babel.numbers import list_currencies

    code = value.strip().upper()
    if len(code) != 3 or code not in list_currencies():
        raise InvalidRequest(
            f"--currency {value!r} is not an ISO 4217 currency code: use e.g. USD, EUR, GBP, "
            "JPY",
            code="bad_currency",
        )
    return code


@functools.cache
def money_locale(country: str) -> str:
    """The CLDR locale money is written in: English of the country when CLDR has it."""
    from babel import localedata

    return f"en_{country}" if localedata.exists(f"en_{country}") else "en"


@functools.cache
def _amounts() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(read_content(skill_file("incentive-design",
                                                            "rewards.yaml")))
    return data


@dataclass(frozen=True)
class Money:
    """Formats amounts of one currency for one country's readers."""

    currency: str
    country: str

    def format(self, amount: Decimal | int | str) -> str:
        """``20`` -> ``$20`` / ``20 €`` / ``¥3,000``; ``12.5`` -> ``$12.50``."""
        from babel import Locale
        from babel.numbers import format_currency

        value = Decimal(str(amount))
        locale = Locale.parse(money_locale(self.country))
        if value == value.to_integral_value():
            pattern = locale.currency_formats["standard"].pattern
            text = format_currency(value, self.currency, locale=locale,
                                   format=_PATTERN_FRACTION.sub("0", pattern),
                                   currency_digits=False)
        else:
            text = format_currency(value, self.currency, locale=locale)
        return _LETTER_DIGIT.sub("\u00a0", text)

    @property
    def default_reward(self) -> Decimal:
        """The default charter's reward in this currency (``rewards.yaml``)."""
        table = _amounts()
        return Decimal(str(table["amounts"].get(self.currency, table["default"])))

    def reward(self) -> str:
        """The default reward, formatted (``$20``, ``20 €``, ``¥3,000``)."""
        return self.format(self.default_reward)


def money_for(req: dict[str, Any]) -> Money:
    """The money format of a request (plans from before ``--currency``: US dollars)."""
    return Money(req.get("currency") or "USD", req.get("country") or "US")
