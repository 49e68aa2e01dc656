"""Dates typed by patients: every form in every shipped locale, on a Monday and on a Friday."""
from __future__ import annotations

import datetime
import random
import time

import pytest

from dialogs.dates import (
    MAX_LENGTH,
    DateAnswer,
    format_date_for,
    language_of,
    read_date,
    understand_date,
)

MON = datetime.date(2026, 11, 23)   # a Monday
FRI = datetime.date(2026, 11, 27)   # the Friday of the same week

LOCALES = ["en", "zh_Hans", "ru", "ar", "es", "fr"]


def d(iso: str) -> datetime.date:
    return datetime.date.fromisoformat(iso)


MAR15 = "2027-03-15"   # a Monday, never ambiguous with the todays above

# Dates that do not depend on which of the two todays it is.
ABSOLUTE = {
    "en": ["2027-03-15", "15/03/2027", "15.03.2027", "15-03-27", "15/03", "03/15/2027", "15 March",
           "March 15", "15 March 2027", "March 15, 2027", "March 15th", "the 15th of March", "Mar 15",
           "15 mar", "on 15 March"],
    "ru": ["2027-03-15", "15.03.2027", "15/03/2027", "15 марта", "15 марта 2027", "15 марта 2027 г.",
           "15-го марта", "15 март"],
    "zh_Hans": ["2027-03-15", "2027/03/15", "15/03/2027", "3/15", "3月15日", "3月15号", "2027年3月15日",
                "2027 年 3 月 15 日", "三月十五日", "二〇二七年三月十五日", "３月１５日", "2027年3月15号"],
    "fr": ["2027-03-15", "15/03/2027", "15.03.2027", "15 mars", "15 mars 2027", "le 15 mars",
           "15 Mars 2027"],
    "es": ["2027-03-15", "15/03/2027", "15-03-2027", "15 de marzo", "15 de marzo de 2027", "el 15 de marzo",
           "15 marzo", "marzo 15", "15 de marzo del 2027"],
    "ar": ["2027-03-15", "15/03/2027", "15 مارس", "15 مارس 2027", "١٥ مارس", "١٥/٠٣/٢٠٢٧", "15 آذار",
           "15 آذار 2027"],
}


@pytest.mark.parametrize("today", [MON, FRI], ids=["mon", "fri"])
@pytest.mark.parametrize("locale,text", [(loc, t) for loc, texts in ABSOLUTE.items() for t in texts])
def test_day_and_month(locale: str, text: str, today: datetime.date) -> None:
    assert understand_date(text, locale, today) == DateAnswer(d(MAR15), None)


# (locale, text, on Monday 2026-11-23, on Friday 2026-11-27)
RELATIVE = [
    # today, tomorrow, the day after tomorrow
    ("en", "today", "2026-11-23", "2026-11-27"),
    ("en", "tomorrow", "2026-11-24", "2026-11-28"),
    ("en", "day after tomorrow", "2026-11-25", "2026-11-29"),
    ("en", "the day after tomorrow", "2026-11-25", "2026-11-29"),
    ("ru", "сегодня", "2026-11-23", "2026-11-27"),
    ("ru", "завтра", "2026-11-24", "2026-11-28"),
    ("ru", "послезавтра", "2026-11-25", "2026-11-29"),
    ("zh_Hans", "今天", "2026-11-23", "2026-11-27"),
    ("zh_Hans", "明天", "2026-11-24", "2026-11-28"),
    ("zh_Hans", "后天", "2026-11-25", "2026-11-29"),
    ("fr", "aujourd'hui", "2026-11-23", "2026-11-27"),
    ("fr", "aujourd’hui", "2026-11-23", "2026-11-27"),
    ("fr", "demain", "2026-11-24", "2026-11-28"),
    ("fr", "après-demain", "2026-11-25", "2026-11-29"),
    ("fr", "apres demain", "2026-11-25", "2026-11-29"),   # dateparser alone reads this as "demain"
    ("es", "hoy", "2026-11-23", "2026-11-27"),
    ("es", "mañana", "2026-11-24", "2026-11-28"),
    ("es", "pasado mañana", "2026-11-25", "2026-11-29"),
    ("es", "pasado manana", "2026-11-25", "2026-11-29"),
    ("ar", "اليوم", "2026-11-23", "2026-11-27"),
    ("ar", "غدا", "2026-11-24", "2026-11-28"),
    ("ar", "غداً", "2026-11-24", "2026-11-28"),
    ("ar", "بكرة", "2026-11-24", "2026-11-28"),
    ("ar", "بعد غد", "2026-11-25", "2026-11-29"),
    ("ar", "بعد الغد", "2026-11-25", "2026-11-29"),
    # in N days / weeks / months
    ("en", "in 3 days", "2026-11-26", "2026-11-30"),
    ("en", "in three days", "2026-11-26", "2026-11-30"),
    ("en", "3 days from now", "2026-11-26", "2026-11-30"),
    ("en", "in two weeks", "2026-12-07", "2026-12-11"),
    ("en", "in 2 weeks", "2026-12-07", "2026-12-11"),
    ("en", "in a week", "2026-11-30", "2026-12-04"),
    ("en", "in a month", "2026-12-23", "2026-12-27"),
    ("ru", "через 3 дня", "2026-11-26", "2026-11-30"),
    ("ru", "через две недели", "2026-12-07", "2026-12-11"),
    ("ru", "через неделю", "2026-11-30", "2026-12-04"),
    ("ru", "через месяц", "2026-12-23", "2026-12-27"),
    ("zh_Hans", "3天后", "2026-11-26", "2026-11-30"),
    ("zh_Hans", "三天后", "2026-11-26", "2026-11-30"),
    ("zh_Hans", "3天以后", "2026-11-26", "2026-11-30"),
    ("zh_Hans", "两周后", "2026-12-07", "2026-12-11"),
    ("zh_Hans", "两个星期后", "2026-12-07", "2026-12-11"),
    ("zh_Hans", "2周后", "2026-12-07", "2026-12-11"),
    ("zh_Hans", "一个月后", "2026-12-23", "2026-12-27"),
    ("fr", "dans 3 jours", "2026-11-26", "2026-11-30"),
    ("fr", "dans deux semaines", "2026-12-07", "2026-12-11"),
    ("fr", "dans une semaine", "2026-11-30", "2026-12-04"),
    ("es", "en 3 días", "2026-11-26", "2026-11-30"),
    ("es", "en 3 dias", "2026-11-26", "2026-11-30"),
    ("es", "en dos semanas", "2026-12-07", "2026-12-11"),
    ("es", "dentro de una semana", "2026-11-30", "2026-12-04"),
    ("ar", "بعد 3 أيام", "2026-11-26", "2026-11-30"),
    ("ar", "بعد ٣ أيام", "2026-11-26", "2026-11-30"),
    ("ar", "بعد ثلاثة أيام", "2026-11-26", "2026-11-30"),
    ("ar", "بعد يومين", "2026-11-25", "2026-11-29"),
    ("ar", "بعد أسبوعين", "2026-12-07", "2026-12-11"),
    ("ar", "بعد أسبوع", "2026-11-30", "2026-12-04"),
    # bare weekday: the first one after today (typed on that weekday: a week later)
    ("en", "Tuesday", "2026-11-24", "2026-12-01"),
    ("en", "Friday", "2026-11-27", "2026-12-04"),
    ("en", "Monday", "2026-11-30", "2026-11-30"),
    ("en", "on Wednesday", "2026-11-25", "2026-12-02"),
    ("ru", "вторник", "2026-11-24", "2026-12-01"),
    ("ru", "во вторник", "2026-11-24", "2026-12-01"),
    ("ru", "в пятницу", "2026-11-27", "2026-12-04"),
    ("zh_Hans", "周三", "2026-11-25", "2026-12-02"),
    ("zh_Hans", "星期三", "2026-11-25", "2026-12-02"),
    ("zh_Hans", "礼拜三", "2026-11-25", "2026-12-02"),
    ("zh_Hans", "星期天", "2026-11-29", "2026-11-29"),
    ("zh_Hans", "周日", "2026-11-29", "2026-11-29"),
    ("fr", "mardi", "2026-11-24", "2026-12-01"),
    ("fr", "le mardi", "2026-11-24", "2026-12-01"),
    ("es", "martes", "2026-11-24", "2026-12-01"),
    ("es", "el martes", "2026-11-24", "2026-12-01"),
    ("es", "miércoles", "2026-11-25", "2026-12-02"),
    ("ar", "الثلاثاء", "2026-11-24", "2026-12-01"),
    ("ar", "يوم الثلاثاء", "2026-11-24", "2026-12-01"),
    ("ar", "الجمعة", "2026-11-27", "2026-12-04"),
    # "next <weekday>": the same as the bare weekday (next occurrence after today)
    ("en", "next Tuesday", "2026-11-24", "2026-12-01"),
    ("en", "next Friday", "2026-11-27", "2026-12-04"),
    ("ru", "в следующий вторник", "2026-11-24", "2026-12-01"),
    ("ru", "в следующую пятницу", "2026-11-27", "2026-12-04"),
    ("fr", "mardi prochain", "2026-11-24", "2026-12-01"),
    ("fr", "vendredi prochain", "2026-11-27", "2026-12-04"),
    ("es", "el próximo martes", "2026-11-24", "2026-12-01"),
    ("es", "el martes que viene", "2026-11-24", "2026-12-01"),
    ("es", "el próximo viernes", "2026-11-27", "2026-12-04"),
    ("ar", "الثلاثاء القادم", "2026-11-24", "2026-12-01"),
    ("ar", "الجمعة القادمة", "2026-11-27", "2026-12-04"),
    ("ar", "الجمعة المقبلة", "2026-11-27", "2026-12-04"),
    # "this <weekday>": the first one on or after today
    ("en", "this Friday", "2026-11-27", "2026-11-27"),
    ("en", "this Tuesday", "2026-11-24", "2026-12-01"),
    ("ru", "в эту пятницу", "2026-11-27", "2026-11-27"),
    ("ru", "в этот вторник", "2026-11-24", "2026-12-01"),
    ("fr", "ce vendredi", "2026-11-27", "2026-11-27"),
    ("es", "este viernes", "2026-11-27", "2026-11-27"),
    ("ar", "هذا الجمعة", "2026-11-27", "2026-11-27"),
    ("ar", "هذه الجمعة", "2026-11-27", "2026-11-27"),
    ("ru", "в ближайшую пятницу", "2026-11-27", "2026-11-27"),
    ("en", "this coming Tuesday", "2026-11-24", "2026-12-01"),
    # Chinese 这周/本周: the weekday of the current Monday-to-Sunday week (may be past)
    ("zh_Hans", "这周五", "2026-11-27", "2026-11-27"),
    ("zh_Hans", "本周五", "2026-11-27", "2026-11-27"),
    # weekday of next week: that weekday in the next Monday-to-Sunday week
    ("zh_Hans", "下周三", "2026-12-02", "2026-12-02"),
    ("zh_Hans", "下周一", "2026-11-30", "2026-11-30"),
    ("zh_Hans", "下星期三", "2026-12-02", "2026-12-02"),
    ("zh_Hans", "下个星期三", "2026-12-02", "2026-12-02"),
    ("zh_Hans", "下礼拜三", "2026-12-02", "2026-12-02"),
    ("zh_Hans", "下周日", "2026-12-06", "2026-12-06"),
    ("zh_Hans", "下下周三", "2026-12-09", "2026-12-09"),
    ("en", "Tuesday next week", "2026-12-01", "2026-12-01"),
    ("en", "next week on Friday", "2026-12-04", "2026-12-04"),
    ("ru", "во вторник на следующей неделе", "2026-12-01", "2026-12-01"),
    ("fr", "mardi de la semaine prochaine", "2026-12-01", "2026-12-01"),
    ("es", "el martes de la semana que viene", "2026-12-01", "2026-12-01"),
    ("ar", "الثلاثاء من الأسبوع القادم", "2026-12-01", "2026-12-01"),
    # next week: its Monday
    ("en", "next week", "2026-11-30", "2026-11-30"),
    ("ru", "на следующей неделе", "2026-11-30", "2026-11-30"),
    ("zh_Hans", "下周", "2026-11-30", "2026-11-30"),
    ("zh_Hans", "下个星期", "2026-11-30", "2026-11-30"),
    ("fr", "la semaine prochaine", "2026-11-30", "2026-11-30"),
    ("es", "la próxima semana", "2026-11-30", "2026-11-30"),
    ("es", "la semana que viene", "2026-11-30", "2026-11-30"),
    ("ar", "الأسبوع القادم", "2026-11-30", "2026-11-30"),
    ("ar", "الأسبوع المقبل", "2026-11-30", "2026-11-30"),
    # next month: the same day a month later
    ("en", "next month", "2026-12-23", "2026-12-27"),
    ("ru", "в следующем месяце", "2026-12-23", "2026-12-27"),
    ("zh_Hans", "下个月", "2026-12-23", "2026-12-27"),
    ("zh_Hans", "下月", "2026-12-23", "2026-12-27"),
    ("fr", "le mois prochain", "2026-12-23", "2026-12-27"),
    ("es", "el próximo mes", "2026-12-23", "2026-12-27"),
    ("es", "el mes que viene", "2026-12-23", "2026-12-27"),
    ("ar", "الشهر القادم", "2026-12-23", "2026-12-27"),
    # a bare day of the month: the next such day on or after today
    ("en", "15", "2026-12-15", "2026-12-15"),
    ("en", "25", "2026-11-25", "2026-12-25"),
    ("zh_Hans", "15号", "2026-12-15", "2026-12-15"),
]


@pytest.mark.parametrize("locale,text,on_monday,on_friday", RELATIVE)
def test_relative_forms(locale: str, text: str, on_monday: str, on_friday: str) -> None:
    assert understand_date(text, locale, MON) == DateAnswer(d(on_monday), None)
    assert understand_date(text, locale, FRI) == DateAnswer(d(on_friday), None)


@pytest.mark.parametrize("locale,text,on_monday,on_friday", RELATIVE[::3] + [
    ("en", "next Friday", "2026-11-27", "2026-12-04"),
    ("ru", "в следующий вторник", "2026-11-24", "2026-12-01"),
    ("zh_Hans", "下周三", "2026-12-02", "2026-12-02"),
    ("en", "15 March", MAR15, MAR15),
])
@pytest.mark.parametrize("dress", [
    str.upper, str.title, lambda t: f"  {t}  ", lambda t: t.replace(" ", "   "),
    lambda t: t + "!", lambda t: t + ".", lambda t: t + "?", lambda t: t + "。", lambda t: t + "！",
    lambda t: t + "؟", lambda t: f"«{t}»",
], ids=["upper", "title", "padded", "wide", "bang", "dot", "question", "zh-dot", "zh-bang", "ar-question",
        "quoted"])
def test_spacing_case_and_punctuation_do_not_matter(locale, text, on_monday, on_friday, dress) -> None:
    dressed = dress(text)
    assert understand_date(dressed, locale, MON).date == d(on_monday), dressed
    assert understand_date(dressed, locale, FRI).date == d(on_friday), dressed


def test_a_date_without_a_year_is_the_next_occurrence_on_or_after_today() -> None:
    assert understand_date("15 March", "en", d("2027-03-15")).date == d("2027-03-15")   # today itself
    assert understand_date("15 March", "en", d("2027-03-16")).date == d("2028-03-15")
    assert understand_date("15/03", "en", d("2027-03-16")).date == d("2028-03-15")
    assert understand_date("3月15日", "zh_Hans", d("2027-03-16")).date == d("2028-03-15")
    assert understand_date("15 марта", "ru", d("2026-11-23")).date == d("2027-03-15")  # typed in November
    assert understand_date("1 December", "en", MON).date == d("2026-12-01")             # later this year
    assert understand_date("29 February", "en", MON).date == d("2028-02-29")            # the next leap year
    assert understand_date("29 février", "fr", MON).problem == "too_far"


def test_numeric_order() -> None:
    # day-first everywhere; month-first only in en and zh, and only when day-first is impossible
    assert understand_date("05/03/2027", "en", MON).date == d("2027-03-05")
    assert understand_date("03/15/2027", "en", MON).date == d("2027-03-15")
    assert understand_date("3/15", "zh_Hans", MON).date == d("2027-03-15")
    for locale in ("ru", "fr", "es", "ar"):
        assert understand_date("03/15/2027", locale, MON) == DateAnswer(None, "unknown"), locale
    assert understand_date("15-03-27", "ru", MON).date == d("2027-03-15")   # two-digit year: 20xx
    assert understand_date("13/13/2027", "en", MON) == DateAnswer(None, "unknown")
    assert understand_date("31/04/2027", "en", MON) == DateAnswer(None, "unknown")
    assert understand_date("2027-02-30", "en", MON) == DateAnswer(None, "unknown")


def test_next_month_clamps_to_the_end_of_the_month() -> None:
    jan31 = d("2027-01-31")
    for locale, text in [("en", "next month"), ("ru", "в следующем месяце"), ("zh_Hans", "下个月"),
                         ("fr", "le mois prochain"), ("es", "el mes que viene"), ("ar", "الشهر القادم"),
                         ("en", "in 1 month")]:
        assert understand_date(text, locale, jan31).date == d("2027-02-28"), text
    assert understand_date("next month", "en", d("2028-01-31")).date == d("2028-02-29")
    assert understand_date("next month", "en", d("2026-12-15")).date == d("2027-01-15")


def test_problems() -> None:
    assert understand_date("2026-11-22", "en", MON) == DateAnswer(d("2026-11-22"), "past")
    assert understand_date("yesterday", "en", MON) == DateAnswer(d("2026-11-22"), "past")
    assert understand_date("вчера", "ru", MON) == DateAnswer(d("2026-11-22"), "past")
    assert understand_date("昨天", "zh_Hans", MON) == DateAnswer(d("2026-11-22"), "past")
    assert understand_date("本周一", "zh_Hans", FRI) == DateAnswer(d("2026-11-23"), "past")
    assert understand_date("这周三", "zh_Hans", MON) == DateAnswer(d("2026-11-25"), None)
    assert understand_date("这周三", "zh_Hans", FRI) == DateAnswer(d("2026-11-25"), "past")
    assert understand_date("15 March 2026", "en", MON) == DateAnswer(d("2026-03-15"), "past")
    assert understand_date("2027-11-23", "en", MON) == DateAnswer(d("2027-11-23"), None)        # 365 days
    assert understand_date("2027-11-24", "en", MON) == DateAnswer(d("2027-11-24"), "too_far")   # 366 days
    assert understand_date("15/03/2028", "fr", MON) == DateAnswer(d("2028-03-15"), "too_far")
    assert understand_date("in 1000000 days", "en", MON).problem == "too_far"
    assert understand_date("today", "en", MON) == DateAnswer(MON, None)


UNKNOWN = ["", "   ", "?", "🙂", "😀😀😀", "a", "x", "-1", "0", "32", "hello", "I don't know", "не знаю",
           "不知道", "je ne sais pas", "no sé", "لا أعرف", "March", "2027", "31 April", "30 февраля",
           "13/13/2027", "99/99/9999", "0/0", "十三月", "maybe tomorrow", "tomorrow or friday", "\x00\x01",
           "in 99999999999 days", "<script>alert(1)</script>", "'; drop table cases; --", "٪٪٪"]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("text", UNKNOWN)
def test_nothing_understood_is_unknown(text: str, locale: str) -> None:
    assert understand_date(text, locale, MON) == DateAnswer(None, "unknown")


def test_long_input_is_not_read() -> None:
    assert understand_date("15 March " + " " * 200, "en", MON).date == d(MAR15)   # padding is stripped first
    long = "My first visit is planned for 15 March 2027, " + "please " * 20
    assert len(long) > MAX_LENGTH
    assert understand_date(long, "en", MON) == DateAnswer(None, "unknown")
    assert understand_date("1" * 100_000, "en", MON) == DateAnswer(None, "unknown")


def test_garbage_never_raises() -> None:
    rng = random.Random(20261123)
    alphabet = ("0123456789/.-年月日号周下个后 abcdefghijklmnopqrstuvwxyzéñ"
                "абвгдежзийклмнопрстуфхцчшщъыьэюяё" "ابتثجحخدذرزسشصضطظعغفقكلمنهويءأإآةى" "٠١٢٣٤٥٦٧٨٩"
                "\u064b\u0640\u200f\u200b\ufeff🙂🇨🇳\x00\n\t,!?。")
    words = [w for texts in ABSOLUTE.values() for w in texts] + [r[1] for r in RELATIVE]
    for _ in range(600):
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        else:   # real answers, cut and glued
            a, b = rng.choice(words), rng.choice(words)
            text = a[: rng.randint(0, len(a))] + rng.choice(["", " ", "/", "-"]) + b[rng.randint(0, len(b)):]
        for locale in ("en", "zh_Hans", "ru", "ar", "es", "fr", "xx", ""):
            answer = understand_date(text, locale, MON)
            assert answer.problem in (None, "unknown", "past", "too_far")
            assert (answer.date is None) == (answer.problem == "unknown")


def test_other_locales_fall_back_to_english() -> None:
    assert understand_date("next friday", "ru", MON).date == d("2026-11-27")
    assert understand_date("15 March", "ar", MON).date == d(MAR15)
    assert understand_date("tomorrow", "zh_Hans", MON).date == d("2026-11-24")


def test_language_of() -> None:
    assert [language_of(loc) for loc in LOCALES] == ["en", "zh", "ru", "ar", "es", "fr"]
    assert language_of("zh-Hans-CN") == "zh"
    assert language_of("de") == "en"
    assert language_of("") == "en"


def test_how_each_form_is_read() -> None:
    """Which step reads what: a dateparser upgrade that changes its answers shows up here."""
    assert read_date("tomorrow", "en", MON) == (d("2026-11-24"), "dateparser:en")
    assert read_date("послезавтра", "ru", MON) == (d("2026-11-25"), "dateparser:ru")
    assert read_date("后天", "zh_Hans", MON) == (d("2026-11-25"), "dateparser:zh")
    assert read_date("غدا", "ar", MON) == (d("2026-11-24"), "dateparser:ar")
    assert read_date("下周三", "zh_Hans", MON) == (d("2026-12-02"), "rules:zh")
    assert read_date("15 March", "en", MON) == (d(MAR15), "rules:en")
    assert read_date("15/03/2027", "en", MON) == (d(MAR15), "numeric")


FORMATTED = {
    "en": "Monday, March 15, 2027",
    "zh_Hans": "2027年3月15日星期一",
    "ru": "понедельник, 15 марта 2027\u202fг.",   # babel/CLDR: narrow no-break space before "г."
    "ar": "الاثنين، 15 مارس 2027",
    "es": "lunes, 15 de marzo de 2027",
    "fr": "lundi 15 mars 2027",
}


@pytest.mark.parametrize("locale", LOCALES)
def test_format_date_for(locale: str) -> None:
    assert format_date_for(locale, d(MAR15)) == FORMATTED[locale]


def test_format_date_for_an_unknown_locale_is_english() -> None:
    assert format_date_for("not a locale", d(MAR15)) == FORMATTED["en"]


def test_fast_after_the_first_call() -> None:
    for locale in LOCALES:
        understand_date("tomorrow", locale, MON)   # dateparser loads its language data once
    texts = [(loc, t) for loc, t, _, _ in RELATIVE] + [("en", u) for u in UNKNOWN]
    started = time.perf_counter()
    for locale, text in texts * 3:
        understand_date(text, locale, MON)
    per_call = (time.perf_counter() - started) / (len(texts) * 3)
    assert per_call < 0.02, f"{per_call * 1000:.1f} ms per call"
