"""Reading a number the way a language writes it: each language's thousands and decimal separators.

    read("Die Antwort lautet 70.000.", "de") == "70000"      read("70 000", "fr") == "70000"
    read("2,5", "fr") == "2.5"     read("2,125", "en") == "2125"     read("2.5", "de") == "2.5"

Rules (docs/evaluation.md, "Numbers"):
  * Digits of any script count (Bengali ৭০, full-width ７０, ...); they are read as ASCII digits.
  * A thousands separator is one of the language's group separators followed by exactly three digits; every
    group after the first has three digits and uses the same separator ("70.000" in German, "70 000" in
    French or Russian with a plain, no-break or narrow no-break space, "70,000" in English). Bengali and
    Telugu also accept Indian grouping ("1,00,000").
  * The decimal separator is the language's (',' for de, es, fr, ru; '.' for the others). '.' followed by
    digits that do not form a thousands group is a decimal point in every language ("2.5"), because models
    often write English-style decimals whatever the language. ',' is never a decimal point where the language
    writes '.', so English "2,5" reads 2 (a list), and German "2,125" reads 2.125.
  * The result is canonical: no separators, '.' as decimal point, trailing decimal zeros and a trailing point
    dropped, no '+', '-0' as '0' ("3.50" -> "3.5", "7.0" -> "7").
The separators per language are those the MGSM translations themselves use in their questions (checked in
tests/evaluation/test_numbers.py against the released files).
"""

import dataclasses
import decimal
import re
import unicodedata

SPACES = (" ", "\u00a0", "\u202f", "\u2009")  # plain, no-break, narrow no-break and thin spaces


@dataclasses.dataclass(frozen=True)
class NumberFormat:
  decimal: str                 # the language's decimal separator
  groups: tuple[str, ...]      # its thousands separators
  indian_grouping: bool = False  # 1,00,000 (lakh) as well as 100,000


_POINT_DECIMAL = NumberFormat(".", (",",))
FORMATS: dict[str, NumberFormat] = {
    "en": _POINT_DECIMAL, "ja": _POINT_DECIMAL, "sw": _POINT_DECIMAL, "th": _POINT_DECIMAL, "zh": _POINT_DECIMAL,
    "bn": NumberFormat(".", (",",), indian_grouping=True),
    "te": NumberFormat(".", (",",), indian_grouping=True),
    "de": NumberFormat(",", (".", *SPACES)),
    "es": NumberFormat(",", (*SPACES, ".")),
    "fr": NumberFormat(",", SPACES),
    "ru": NumberFormat(",", SPACES),
}
DEFAULT_LOCALE = "en"


def _pattern(fmt: NumberFormat) -> re.Pattern:
  # Alternatives are tried in order: grouped integers first, so "70.000" is one number where '.' groups.
  integer = []
  if fmt.indian_grouping:
    integer += [rf"\d{{1,2}}(?:{re.escape(g)}\d{{2}})+{re.escape(g)}\d{{3}}(?!\d)" for g in fmt.groups]
  integer += [rf"\d{{1,3}}(?:{re.escape(g)}\d{{3}}(?!\d))+" for g in fmt.groups]
  integer.append(r"\d+")
  points = "".join(sorted({fmt.decimal, "."}))
  fraction = rf"(?:[{re.escape(points)}](?P<frac>\d+))?"
  return re.compile(rf"(?P<sign>[-\u2212]?)(?P<int>{'|'.join(integer)}){fraction}")


_PATTERNS = {locale: _pattern(fmt) for locale, fmt in FORMATS.items()}


def _ascii_digits(text: str) -> str:
  return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text)


def _canonical(match: re.Match) -> str:
  integer = re.sub(r"\D", "", match["int"])
  value = decimal.Decimal(f"{integer}.{match['frac']}" if match["frac"] else integer)
  if match["sign"] and value:
    value = -value
  return format(value.normalize(), "f")


def pattern(locale: str) -> re.Pattern:
  if locale not in _PATTERNS:
    raise ValueError(f"no number format for language {locale!r}; known: {', '.join(sorted(FORMATS))}")
  return _PATTERNS[locale]


def all_numbers(text: str, locale: str = DEFAULT_LOCALE) -> list[str]:
  """Every number in `text`, canonical, in order."""
  return [_canonical(m) for m in pattern(locale).finditer(_ascii_digits(text or ""))]


def read(text: str, locale: str = DEFAULT_LOCALE) -> str:
  """The first number in `text`, canonical; '' when there is none."""
  match = pattern(locale).search(_ascii_digits(text or ""))
  return _canonical(match) if match else ""


def write(value: str, locale: str = DEFAULT_LOCALE) -> str:
  """A canonical number (read's output) in the language's notation: write("2125.5", "de") == "2.125,5"."""
  fmt = FORMATS[locale]
  sign, digits = ("-", value[1:]) if value.startswith("-") else ("", value)
  integer, _, fraction = digits.partition(".")
  head = len(integer) % 3 or 3
  grouped = fmt.groups[0].join([integer[:head], *(integer[i:i + 3] for i in range(head, len(integer), 3))])
  return sign + grouped + (fmt.decimal + fraction if fraction else "")
