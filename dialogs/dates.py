"""Dates typed by patients in their own words ("15 March", "next Tuesday", "下周三").

`understand_date(text, locale, today)` turns a short answer into a date and says
whether the date needs questioning; `format_date_for(locale, date)` writes it back
in the locale's full date format so the patient can confirm it.

How a text is read, in order (the first step that recognises the text decides):

1. numeric forms, in any locale: ISO `2027-03-15` (also `/` and `.`), day-first
   `15/03/2027`, `15.03.2027`, `15-03-27`, `15/03`; month-first (`03/15/2027`) only
   in en and zh and only when the day-first reading is impossible;
   Chinese `2027年3月15日`, `3月15日`, `三月十五日`, `3月15号`;
2. our own small rules for the locale's language (tables below): day + month name,
   weekday names with "this"/"next"/"of next week", "next week", "next month",
   "in N days/weeks/months", and the few day words dateparser misses;
3. dateparser, restricted to the locale's language (today, tomorrow, yesterday,
   "in 3 days", "3 days from now", ... whatever it reads as a single day);
4. if the locale is not English: steps 2 and 3 again in English.

Meanings (the same in every language unless said otherwise):

* a date without a year is its next occurrence on or after today;
* a bare weekday ("Tuesday", "вторник", "周三", "mardi", "martes", "الثلاثاء") and
  "next <weekday>" ("next Tuesday", "в следующий вторник", "mardi prochain",
  "el próximo martes", "الثلاثاء القادم") are the first such weekday after today
  (1 to 7 days ahead; typed on a Tuesday, they mean a week later);
* "this <weekday>" ("this Friday", "в эту пятницу", "ce vendredi", "este viernes",
  "هذا الجمعة") is the first such weekday on or after today (0 to 6 days ahead);
  Chinese 这周五/本周五 is the Friday of the current Monday-to-Sunday week, which
  may be in the past (and is then questioned);
* "<weekday> of next week" ("Tuesday next week", "вторник на следующей неделе",
  "mardi de la semaine prochaine", "el martes de la semana que viene",
  "الثلاثاء من الأسبوع القادم") and Chinese 下周三 / 下星期三 / 下礼拜三 are that weekday
  in the next Monday-to-Sunday week (下下周三: the week after);
* "next week" (下周, "на следующей неделе", ...) is Monday of the next week;
* "next month" (下个月, "в следующем месяце", ...) and "in a month" are the same
  day of the month a month later, clamped to the month's end (31 Jan -> 28 Feb).

Nothing here does I/O; dateparser is imported on first use.
"""
from __future__ import annotations

import calendar
import datetime
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date

MAX_LENGTH = 100     # longer answers are not a date typed in a chat; they are not read at all
HORIZON_DAYS = 365   # a date more than this many days ahead is questioned

LANGUAGES = ("en", "zh", "ru", "ar", "es", "fr")
MONTH_FIRST_FALLBACK = {"en", "zh"}   # 03/15/2027 is read month-first only here, and only if 15 cannot be a month


@dataclass(frozen=True)
class DateAnswer:
    date: datetime.date | None
    problem: str | None   # None when fine; "unknown", "past" or "too_far"


def language_of(locale: str) -> str:
    """The dateparser language code of a shipped locale: zh_Hans -> zh; unknown -> en."""
    lang = re.split(r"[_\-@.]", locale or "", maxsplit=1)[0].lower()
    return lang if lang in LANGUAGES else "en"


def format_date_for(locale: str, date: datetime.date) -> str:
    """The date in the locale's full format: "2027年3月15日星期一", "lundi 15 mars 2027"."""
    try:
        babel_locale = Locale.parse((locale or "en").replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        babel_locale = Locale("en")
    return format_date(date, format="full", locale=babel_locale)


# --------------------------------------------------------------------------- normalising

_EDGE = " \t\r\n.,!?;:…。！？、，،؛؟\"'«»“”„‘’()[]{}<>*~"
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2)
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u0640]")   # harakat, tanwin, tatweel
_ARABIC_LETTERS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})


def _clean(text: str) -> str:
    """What dateparser sees: NFKC (full-width digits), ASCII digits, single spaces, lower case,
    no punctuation around the answer."""
    text = unicodedata.normalize("NFKC", text).translate(_DIGITS).replace("’", "'")
    return " ".join(text.split()).strip(_EDGE).casefold()


def _key(text: str) -> str:
    """What our rules see: `_clean`, then no accents on Latin letters (é -> e, ñ -> n), ё -> е,
    Arabic without vowel marks and with one alef, no punctuation inside words."""
    text = _clean(text)
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and out and ord(out[-1]) < 0x250:
            continue   # an accent on a Latin letter; Cyrillic й keeps its breve
        out.append(ch)
    text = unicodedata.normalize("NFC", "".join(out)).replace("ё", "е")
    text = _ARABIC_MARKS.sub("", text).translate(_ARABIC_LETTERS)
    text = re.sub(r"(?<!\d)[.,،]|[.,،](?!\d)", " ", text)            # "March 15, 2027", "Mar. 15"
    text = re.sub(r"(?<=[^\W\d_])[-'](?=[^\W\d_])", " ", text)         # "vendredi-ci"
    return " ".join(text.split())


def _alt(*words: str, name: str | None = None) -> str:
    """A regex alternation of words written naturally (accents, hamza): normalised like input."""
    keys = sorted({_key(w) for w in words}, key=len, reverse=True)
    body = "|".join(re.escape(k) for k in keys)
    return f"(?P<{name}>{body})" if name else f"(?:{body})"


# --------------------------------------------------------------------------- numbers

_ZH_DIGIT = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4,
             "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
ZH_NUMBER = "[0-9〇零一二两兩三四五六七八九十]+"


def _zh_number(text: str) -> int | None:
    """Arabic or Chinese numerals up to 99, or digit-by-digit years: 15, 十五, 二十三, 二〇二七."""
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    if "十" in text:
        head, _, tail = text.partition("十")
        if len(head) > 1 or len(tail) > 1 or any(c not in _ZH_DIGIT for c in head + tail):
            return None
        return (_ZH_DIGIT[head] if head else 1) * 10 + (_ZH_DIGIT[tail] if tail else 0)
    if text and all(c in _ZH_DIGIT for c in text):
        return int("".join(str(_ZH_DIGIT[c]) for c in text))
    return None


_WORD_NUMBERS: dict[str, dict[str, int]] = {
    "en": {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
           "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2},
    "ru": {"один": 1, "одну": 1, "одна": 1, "два": 2, "две": 2, "три": 3, "четыре": 4, "пять": 5,
           "шесть": 6, "семь": 7, "восемь": 8, "девять": 9, "десять": 10, "пару": 2},
    "fr": {"un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
           "huit": 8, "neuf": 9, "dix": 10, "quinze": 15},
    "es": {"un": 1, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6,
           "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "quince": 15},
    "ar": {"واحد": 1, "واحده": 1, "اثنين": 2, "اثنان": 2, "ثلاث": 3, "ثلاثة": 3, "أربع": 4,
           "أربعة": 4, "خمس": 5, "خمسة": 5, "ست": 6, "ستة": 6, "سبع": 7, "سبعة": 7, "ثماني": 8,
           "ثمانية": 8, "تسع": 9, "تسعة": 9, "عشر": 10, "عشرة": 10},
}
_WORD_NUMBER_KEYS = {lang: {_key(w): n for w, n in words.items()} for lang, words in _WORD_NUMBERS.items()}


def _number(text: str | None, lang: str) -> int | None:
    if text is None:
        return 1   # "через неделю", "dans une semaine" without a number: one
    if lang == "zh":
        return _zh_number(text)
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    return _WORD_NUMBER_KEYS.get(lang, {}).get(text)


# --------------------------------------------------------------------------- date arithmetic


class _Impossible(Exception):
    """The text has a recognised shape but names no real date (31 April, 13/13/2027)."""


def _add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _add(today: datetime.date, n: int, unit: str) -> datetime.date:
    if unit == "month":
        return _add_months(today, n)
    return today + datetime.timedelta(days=n * (7 if unit == "week" else 1))


def _day_month(today: datetime.date, day: int, month: int, year: int | None) -> datetime.date:
    """An explicit date; without a year the next occurrence on or after today."""
    if year is not None:
        if year < 100:
            year += 2000
        try:
            return datetime.date(year, month, day)
        except ValueError:
            raise _Impossible from None
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise _Impossible
    for year in range(today.year, today.year + 9):   # 29 February waits for a leap year
        try:
            candidate = datetime.date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise _Impossible   # 31 April, 30 February


def _day_of_month(today: datetime.date, day: int) -> datetime.date:
    """A bare day number ("15", "15号"): the next such day of a month on or after today."""
    if not 1 <= day <= 31:
        raise _Impossible
    for months in range(0, 13):
        first = _add_months(today.replace(day=1), months)
        if day <= calendar.monthrange(first.year, first.month)[1] and (candidate := first.replace(day=day)) >= today:
            return candidate
    raise _Impossible


def _weekday_after(today: datetime.date, weekday: int, *, include_today: bool) -> datetime.date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and not include_today:
        ahead = 7
    return today + datetime.timedelta(days=ahead)


def _week_monday(today: datetime.date, weeks_ahead: int) -> datetime.date:
    return today - datetime.timedelta(days=today.weekday()) + datetime.timedelta(weeks=weeks_ahead)


# --------------------------------------------------------------------------- numeric and Chinese forms

_ISO = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_NUMERIC = re.compile(r"(\d{1,2})[-/.](\d{1,2})(?:[-/.](\d{4}|\d{2}))?")
_BARE_NUMBER = re.compile(r"[-+]?\d+")
_ZH_DAY = re.compile(rf"(?P<d>{ZH_NUMBER})\s?(?:日|号|號)")
_ZH_DATE = re.compile(
    rf"(?:(?P<y>[0-9〇零一二两三四五六七八九]{{2,4}})\s?年\s?)?(?P<m>{ZH_NUMBER})\s?月\s?(?P<d>{ZH_NUMBER})\s?(?:日|号|號)?"
)


def _numeric(key: str, lang: str, today: datetime.date) -> datetime.date | None:
    if m := _ISO.fullmatch(key):
        return _day_month(today, int(m[3]), int(m[2]), int(m[1]))
    if m := _NUMERIC.fullmatch(key):
        first, second = int(m[1]), int(m[2])
        year = int(m[3]) if m[3] else None
        if 1 <= second <= 12:
            return _day_month(today, first, second, year)
        if lang in MONTH_FIRST_FALLBACK and 1 <= first <= 12:
            return _day_month(today, second, first, year)
        raise _Impossible
    if _BARE_NUMBER.fullmatch(key):   # dateparser reads "15" as a past day and "-1" as the 1st
        if re.fullmatch(r"\d{1,2}", key):
            return _day_of_month(today, int(key))
        raise _Impossible
    if m := _ZH_DAY.fullmatch(key):
        if (day := _zh_number(m["d"])) is None:
            raise _Impossible
        return _day_of_month(today, day)
    if m := _ZH_DATE.fullmatch(key):
        day, month = _zh_number(m["d"]), _zh_number(m["m"])
        year = _zh_number(m["y"]) if m["y"] else None
        if day is None or month is None or (m["y"] and year is None):
            raise _Impossible
        return _day_month(today, day, month, year)
    return None


# --------------------------------------------------------------------------- language tables

_MONTHS: dict[str, dict[int, tuple[str, ...]]] = {
    "en": {1: ("january", "jan"), 2: ("february", "feb"), 3: ("march", "mar"), 4: ("april", "apr"),
           5: ("may",), 6: ("june", "jun"), 7: ("july", "jul"), 8: ("august", "aug"),
           9: ("september", "sept", "sep"), 10: ("october", "oct"), 11: ("november", "nov"),
           12: ("december", "dec")},
    "ru": {1: ("января", "январь", "янв"), 2: ("февраля", "февраль", "фев"), 3: ("марта", "март", "мар"),
           4: ("апреля", "апрель", "апр"), 5: ("мая", "май"), 6: ("июня", "июнь", "июн"),
           7: ("июля", "июль", "июл"), 8: ("августа", "август", "авг"),
           9: ("сентября", "сентябрь", "сен", "сент"), 10: ("октября", "октябрь", "окт"),
           11: ("ноября", "ноябрь", "ноя"), 12: ("декабря", "декабрь", "дек")},
    "fr": {1: ("janvier", "janv"), 2: ("février", "févr", "fév"), 3: ("mars",), 4: ("avril", "avr"),
           5: ("mai",), 6: ("juin",), 7: ("juillet", "juil"), 8: ("août",), 9: ("septembre", "sept"),
           10: ("octobre", "oct"), 11: ("novembre", "nov"), 12: ("décembre", "déc")},
    "es": {1: ("enero", "ene"), 2: ("febrero", "feb"), 3: ("marzo", "mar"), 4: ("abril", "abr"),
           5: ("mayo", "may"), 6: ("junio", "jun"), 7: ("julio", "jul"), 8: ("agosto", "ago"),
           9: ("septiembre", "setiembre", "sept", "sep"), 10: ("octubre", "oct"),
           11: ("noviembre", "nov"), 12: ("diciembre", "dic")},
    # Egyptian/Gulf names, Levantine/Iraqi names, Maghrebi names
    "ar": {1: ("يناير", "كانون الثاني", "جانفي"), 2: ("فبراير", "شباط", "فيفري"), 3: ("مارس", "آذار"),
           4: ("أبريل", "إبريل", "نيسان", "أفريل"), 5: ("مايو", "أيار", "ماي"), 6: ("يونيو", "يونيه", "حزيران", "جوان"),
           7: ("يوليو", "يوليه", "تموز", "جويلية", "يوليوز"), 8: ("أغسطس", "آب", "أوت", "غشت"),
           9: ("سبتمبر", "أيلول", "شتنبر"), 10: ("أكتوبر", "تشرين الأول", "أكتوبر"),
           11: ("نوفمبر", "تشرين الثاني", "نونبر"), 12: ("ديسمبر", "كانون الأول", "دجنبر")},
}

_WEEKDAYS: dict[str, dict[int, tuple[str, ...]]] = {
    "en": {0: ("monday", "mon"), 1: ("tuesday", "tues", "tue"), 2: ("wednesday", "wed"),
           3: ("thursday", "thurs", "thur", "thu"), 4: ("friday", "fri"), 5: ("saturday", "sat"),
           6: ("sunday", "sun")},
    "ru": {0: ("понедельник", "пн"), 1: ("вторник", "вт"), 2: ("среда", "среду", "ср"), 3: ("четверг", "чт"),
           4: ("пятница", "пятницу", "пт"), 5: ("суббота", "субботу", "сб"), 6: ("воскресенье", "вс")},
    "fr": {0: ("lundi",), 1: ("mardi",), 2: ("mercredi",), 3: ("jeudi",), 4: ("vendredi",),
           5: ("samedi",), 6: ("dimanche",)},
    "es": {0: ("lunes",), 1: ("martes",), 2: ("miércoles",), 3: ("jueves",), 4: ("viernes",),
           5: ("sábado",), 6: ("domingo",)},
    "ar": {0: ("الاثنين", "الإثنين", "اثنين"), 1: ("الثلاثاء", "ثلاثاء"), 2: ("الأربعاء", "أربعاء"),
           3: ("الخميس", "خميس"), 4: ("الجمعة", "جمعة"), 5: ("السبت", "سبت"), 6: ("الأحد", "أحد")},
}
_ZH_WEEKDAY_DIGIT = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
                     "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}
_ZH_WEEK = "(?:周|週|星期|礼拜|禮拜)"
_ZH_WD = rf"{_ZH_WEEK}(?P<wd>[一二三四五六日天1-7])"

# Units of "in N ..." and the number a unit word implies when none is typed (Arabic duals).
_UNITS: dict[str, dict[str, tuple[str, int | None]]] = {
    "en": {"day": ("day", None), "days": ("day", None), "week": ("week", None), "weeks": ("week", None),
           "month": ("month", None), "months": ("month", None)},
    "ru": {"день": ("day", None), "дня": ("day", None), "дней": ("day", None), "сутки": ("day", None),
           "неделю": ("week", None), "недели": ("week", None), "недель": ("week", None),
           "месяц": ("month", None), "месяца": ("month", None), "месяцев": ("month", None)},
    "fr": {"jour": ("day", None), "jours": ("day", None), "semaine": ("week", None),
           "semaines": ("week", None), "mois": ("month", None)},
    "es": {"día": ("day", None), "días": ("day", None), "semana": ("week", None), "semanas": ("week", None),
           "mes": ("month", None), "meses": ("month", None)},
    "ar": {"يوم": ("day", None), "أيام": ("day", None), "يومين": ("day", 2),
           "أسبوع": ("week", None), "أسابيع": ("week", None), "أسبوعين": ("week", 2),
           "شهر": ("month", None), "أشهر": ("month", None), "شهور": ("month", None), "شهرين": ("month", 2)},
}
_UNIT_KEYS = {lang: {_key(w): u for w, u in units.items()} for lang, units in _UNITS.items()}
_ZH_UNITS = {"天": "day", "日": "day", "周": "week", "週": "week", "星期": "week", "礼拜": "week",
             "禮拜": "week", "月": "month"}


def _patterns(lang: str) -> dict[str, list[re.Pattern[str]]]:
    """Full-match regexes over `_key` text, grouped by meaning."""
    if lang == "zh":
        return {
            "weekday_next": [re.compile(rf"{_ZH_WD}")],
            "weekday_this_week": [re.compile(rf"(?:这|這|本)(?:个|個)?{_ZH_WD}")],
            "weekday_next_week": [re.compile(rf"(?P<nx>下+)(?:个|個)?{_ZH_WD}")],
            "next_week": [re.compile(rf"下(?:个|個)?{_ZH_WEEK}")],
            "next_month": [re.compile(r"下(?:个|個)?月")],
            "in_n": [re.compile(rf"(?P<n>{ZH_NUMBER})\s?(?P<ge>个|個)?\s?(?P<u>天|日|周|週|星期|礼拜|禮拜|月)"
                                r"\s?(?:后|後|以后|以後|之后|之後)")],
            "day_words": [],
        }
    months = _alt(*(w for names in _MONTHS[lang].values() for w in names), name="m")
    wd = _alt(*(w for names in _WEEKDAYS[lang].values() for w in names), name="wd")
    num = _alt(*_WORD_NUMBERS[lang], name="n").replace("(?P<n>", r"(?P<n>\d+|")
    unit = _alt(*_UNITS[lang], name="u")
    day, year = r"(?P<d>\d{1,2})", r"(?P<y>\d{4}|\d{2})"
    compile_all = lambda *regexes: [re.compile(r) for r in regexes]  # noqa: E731
    if lang == "en":
        d = rf"{day}(?:st|nd|rd|th)?"
        return {
            "day_month": compile_all(rf"(?:on )?(?:the )?{d}(?: of)? {months}(?: {year})?",
                                     rf"(?:on )?{months} (?:the )?{d}(?: {year})?"),
            "weekday_next": compile_all(rf"(?:on )?(?:next )?{wd}"),
            "weekday_this": compile_all(rf"(?:on )?(?:this (?:coming )?|the coming |coming ){wd}"),
            "weekday_next_week": compile_all(rf"(?:on )?{wd} (?:of |in )?next week",
                                             rf"next week (?:on )?{wd}"),
            "next_week": compile_all(r"(?:in |during )?(?:the )?next week"),
            "next_month": compile_all(r"(?:in |during )?(?:the )?next month"),
            "in_n": compile_all(rf"in (?:{num} )?{unit}(?: time)?", rf"{num} {unit} (?:from (?:now|today)|later)"),
            "day_words": [],
        }
    if lang == "ru":
        nxt = "следующ(?:ий|ую|ее|ая)"
        nxt_week = "на следующей неделе"
        return {
            "day_month": compile_all(rf"(?:на |к )?{day}(?:-?го|-?е)? {months}(?: {year}(?: ?(?:г|года|год))?)?"),
            "weekday_next": compile_all(rf"(?:в |во )?(?:{nxt} )?{wd}"),
            "weekday_this": compile_all(rf"(?:в |во )?(?:эт(?:от|у|о|а)|ближайш(?:ий|ую|ее|ая)) {wd}"),
            "weekday_next_week": compile_all(rf"(?:в |во )?{wd} {nxt_week}", rf"{nxt_week} (?:в |во )?{wd}"),
            "next_week": compile_all(nxt_week, r"следующая неделя"),
            "next_month": compile_all(r"(?:в )?следующем месяце", r"следующий месяц"),
            "in_n": compile_all(rf"через (?:{num} )?{unit}"),
            "day_words": [],
        }
    if lang == "fr":
        nxt_week = r"(?:de )?la semaine prochaine"
        return {
            "day_month": compile_all(rf"(?:le )?{day}(?:er|e|eme)? {months}(?: {year})?"),
            "weekday_next": compile_all(rf"(?:le )?{wd}(?: prochain)?", rf"(?:le )?prochain {wd}"),
            "weekday_this": compile_all(rf"ce {wd}(?: ci)?"),
            "weekday_next_week": compile_all(rf"(?:le )?{wd} {nxt_week}"),
            "next_week": compile_all(r"(?:la )?semaine prochaine", r"(?:la )?prochaine semaine"),
            "next_month": compile_all(r"(?:le )?mois prochain", r"(?:le )?prochain mois"),
            "in_n": compile_all(rf"dans (?:{num} )?{unit}"),
            "day_words": [(re.compile(r"apres demain"), 2)],   # dateparser reads "apres demain" as demain
        }
    if lang == "es":
        nxt_week = r"(?:la )?(?:proxima semana|semana (?:que viene|proxima|siguiente))"
        return {
            "day_month": compile_all(rf"(?:el )?{day}(?:o)?(?: de)? {months}(?: (?:de |del )?{year})?",
                                     rf"{months} {day}(?: (?:de |del )?{year})?"),
            "weekday_next": compile_all(rf"(?:el )?(?:proximo )?{wd}", rf"(?:el )?{wd} (?:proximo|que viene)"),
            "weekday_this": compile_all(rf"este {wd}"),
            "weekday_next_week": compile_all(rf"(?:el )?{wd} de {nxt_week}"),
            "next_week": compile_all(nxt_week),
            "next_month": compile_all(r"(?:el )?(?:proximo mes|mes (?:que viene|proximo|siguiente))"),
            "in_n": compile_all(rf"(?:en|dentro de) (?:{num} )?{unit}"),
            "day_words": [(re.compile(r"pasado manana"), 2)],
        }
    # ar
    coming = _alt("القادم", "القادمة", "المقبل", "المقبلة", "الجاي", "الجاية")
    week = _alt("الأسبوع")
    return {
        "day_month": compile_all(rf"(?:يوم |في )?{day} {months}(?: {year}(?: ?م)?)?"),
        "weekday_next": compile_all(rf"(?:يوم )?{wd}(?: {coming})?"),
        "weekday_this": compile_all(rf"(?:هذا|هذه) (?:يوم )?{wd}", rf"(?:يوم )?{wd} (?:هذا|هذه)"),
        "weekday_next_week": compile_all(rf"(?:يوم )?{wd} (?:من |في )?{week} {coming}"),
        "next_week": compile_all(rf"(?:في )?{week} {coming}"),
        "next_month": compile_all(rf"(?:في )?{_alt('الشهر')} {coming}"),
        "in_n": compile_all(rf"بعد (?:{num} )?{unit}"),
        "day_words": [(re.compile(_alt("بعد غد", "بعد الغد", "بعد بكرة")), 2), (re.compile(_alt("بكرة")), 1)],
    }


_PATTERNS = {lang: _patterns(lang) for lang in LANGUAGES}
_MONTH_KEYS = {lang: {_key(w): m for m, names in table.items() for w in names} for lang, table in _MONTHS.items()}
_WEEKDAY_KEYS = {lang: {_key(w): d for d, names in table.items() for w in names} for lang, table in _WEEKDAYS.items()}


def _weekday(match: re.Match[str], lang: str) -> int:
    return _ZH_WEEKDAY_DIGIT[match["wd"]] if lang == "zh" else _WEEKDAY_KEYS[lang][match["wd"]]


def _rules(key: str, lang: str, today: datetime.date) -> datetime.date | None:
    """Our own forms for one language, or None when none of them matches."""
    table = _PATTERNS[lang]

    def found(kind: str) -> re.Match[str] | None:
        return next((m for pattern in table.get(kind, ()) if (m := pattern.fullmatch(key))), None)

    if lang != "zh" and (m := found("day_month")):
        return _day_month(today, int(m["d"]), _MONTH_KEYS[lang][m["m"]], int(m["y"]) if m["y"] else None)
    if m := found("weekday_next_week"):
        weeks = len(m["nx"]) if lang == "zh" else 1
        return _week_monday(today, weeks) + datetime.timedelta(days=_weekday(m, lang))
    if lang == "zh" and (m := found("weekday_this_week")):
        return _week_monday(today, 0) + datetime.timedelta(days=_weekday(m, lang))
    if lang != "zh" and (m := found("weekday_this")):
        return _weekday_after(today, _weekday(m, lang), include_today=True)
    if m := found("weekday_next"):
        return _weekday_after(today, _weekday(m, lang), include_today=False)
    if found("next_week"):
        return _week_monday(today, 1)
    if found("next_month"):
        return _add_months(today, 1)
    if m := found("in_n"):
        if lang == "zh":
            unit = _ZH_UNITS[m["u"]]
            if unit == "month" and not m["ge"]:
                return None   # 3月后 is "after March", not "in 3 months"
            n = _zh_number(m["n"])
        else:
            unit, implied = _UNIT_KEYS[lang][m["u"]]
            n = implied if implied is not None and m["n"] is None else _number(m["n"], lang)
        if n is None:
            return None
        return _add(today, n, unit)
    for pattern, days in table["day_words"]:
        if pattern.fullmatch(key):
            return today + datetime.timedelta(days=days)
    return None


# --------------------------------------------------------------------------- dateparser

_DATEPARSER_PERIODS = {"day", "time"}   # "March" (month) or "2027" (year) alone is not a visit date


@lru_cache(maxsize=32)
def _parser(lang: str, today: datetime.date) -> Any:
    from dateparser.date import DateDataParser

    return DateDataParser(languages=[lang], settings={
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": datetime.datetime.combine(today, datetime.time()),
        "DATE_ORDER": "DMY",
    })


def _dateparser(clean: str, lang: str, today: datetime.date) -> datetime.date | None:
    if len(clean) < 2:   # dateparser reads a lone "a" as the 1st of the month
        return None
    try:
        data = _parser(lang, today).get_date_data(clean)
    except Exception:   # a third-party parser on arbitrary text: any failure means "not understood"
        return None
    if data is None or data.date_obj is None or data.period not in _DATEPARSER_PERIODS:
        return None
    return data.date_obj.date()


# --------------------------------------------------------------------------- the entry point


def read_date(text: str, locale: str, today: datetime.date) -> tuple[datetime.date | None, str]:
    """The date and which step read it ("numeric", "rules:<lang>", "dateparser:<lang>", "none")."""
    if not isinstance(text, str) or len(text.strip()) > MAX_LENGTH:
        return None, "none"
    lang = language_of(locale)
    clean, key = _clean(text), _key(text)
    if not key:
        return None, "none"
    try:
        if (date := _numeric(key, lang, today)) is not None:
            return date, "numeric"
        for language in dict.fromkeys((lang, "en")):
            if (date := _rules(key, language, today)) is not None:
                return date, f"rules:{language}"
            if (date := _dateparser(clean, language, today)) is not None:
                return date, f"dateparser:{language}"
    except (_Impossible, OverflowError, ValueError):
        return None, "none"
    return None, "none"


def understand_date(text: str, locale: str, today: datetime.date) -> DateAnswer:
    """A patient's answer as a date, with "past", "too_far" or "unknown" when it needs asking again."""
    date, _ = read_date(text, locale, today)
    if date is None:
        return DateAnswer(None, "unknown")
    if date < today:
        return DateAnswer(date, "past")
    if date > today + datetime.timedelta(days=HORIZON_DAYS):
        return DateAnswer(date, "too_far")
    return DateAnswer(date, None)
