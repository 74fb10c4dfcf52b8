"""Date, time and date-time values as instants for Range Matching (PS3.4 C.2.2.2.5).

Every value is turned into the closed interval of microseconds it denotes at its precision
(PS3.5 6.2: DA ``YYYYMMDD``; TM ``HH[MM[SS[.F{1,6}]]]``; DT
``YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX]``). A value matches a range when its interval
overlaps the range, which makes reduced-precision values behave as the standard's
examples do (e.g. TM ``-1030`` includes 10:30:59).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND

Interval = tuple[int, int]

_DA = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DA_LEGACY = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})")  # ACR-NEMA form, PS3.5 6.2 note
_TM = re.compile(r"(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?")
_TM_LEGACY = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?")
_DT = re.compile(
    r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?"
    r"([+-](?:0\d|1[0-4])[0-5]\d)?"  # &ZZXX, -1200 .. +1400
)


def _day_start(year: int, month: int, day: int) -> int:
    return date(year, month, day).toordinal() * US_PER_DAY


def date_interval(text: str) -> Interval:
    """PS3.5 DA: the day as an interval; raises ValueError when not a valid date."""
    found = _DA.fullmatch(text) or _DA_LEGACY.fullmatch(text)
    if found is None:
        raise ValueError(f"not a DA value: {text!r}")
    start = _day_start(int(found[1]), int(found[2]), int(found[3]))
    return start, start + US_PER_DAY - 1


def _time_fields(
    hours: str, minutes: str | None, seconds: str | None, fraction: str | None
) -> Interval:
    hour = int(hours)
    minute = int(minutes) if minutes else 0
    second = int(seconds) if seconds else 0
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError("time field out of range")
    start = ((hour * 60 + minute) * 60 + second) * US_PER_SECOND
    if fraction:
        start += int(fraction.ljust(6, "0"))
        width = 10 ** (6 - len(fraction))
    elif seconds:
        width = US_PER_SECOND
    elif minutes:
        width = 60 * US_PER_SECOND
    else:
        width = 3600 * US_PER_SECOND
    return start, start + width - 1


def time_interval(text: str) -> Interval:
    """PS3.5 TM: microseconds since midnight; raises ValueError when not a valid time."""
    found = _TM.fullmatch(text) or _TM_LEGACY.fullmatch(text)
    if found is None:
        raise ValueError(f"not a TM value: {text!r}")
    try:
        return _time_fields(found[1], found[2], found[3], found[4])
    except ValueError as exc:
        raise ValueError(f"not a TM value: {text!r}") from exc


def _offset_us(offset: str) -> int:
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    return sign * (hours * 3600 + minutes * 60) * US_PER_SECOND


def parse_offset(text: str) -> int | None:
    """Timezone Offset From UTC (0008,0201) ``&ZZXX`` in microseconds, or None."""
    text = text.strip()
    if not re.fullmatch(r"[+-]\d{4}", text):
        return None
    return _offset_us(text)


def datetime_interval(text: str, assumed_offset: int = 0) -> Interval:
    """PS3.5 DT as an interval in UTC microseconds (PS3.4 C.2.2.2.5.3 d).

    A value without an offset is taken to be in ``assumed_offset`` (the query's Timezone
    Offset From UTC, else UTC), so naive values compare as written.
    """
    found = _DT.fullmatch(text)
    if found is None:
        raise ValueError(f"not a DT value: {text!r}")
    year, month, day = int(found[1]), found[2], found[3]
    try:
        start = _day_start(year, int(month or 1), int(day or 1))
        if found[4]:
            t_start, t_end = _time_fields(found[4], found[5], found[6], found[7])
            start, end = start + t_start, start + t_end
        elif day:
            end = start + US_PER_DAY - 1
        elif month:
            end = _month_end(year, int(month))
        else:
            end = _day_start(year + 1, 1, 1) - 1 if year < 9999 else _day_start(year, 12, 31)
    except ValueError as exc:
        raise ValueError(f"not a DT value: {text!r}") from exc
    shift = _offset_us(found[8]) if found[8] else assumed_offset
    return start - shift, end - shift


def _month_end(year: int, month: int) -> int:
    if month == 12:
        return _day_start(year + 1, 1, 1) - 1
    return _day_start(year, month + 1, 1) - 1


@dataclass(frozen=True, slots=True)
class RangeKey:
    """A parsed range key: inclusive bounds, None = open (PS3.4 C.2.2.2.5)."""

    low: int | None
    high: int | None
    form: str  # "a-b", "-b", "a-" or "single"

    def overlaps(self, interval: Interval) -> bool:
        """True when a stored value's interval intersects the range."""
        if self.low is not None and interval[1] < self.low:
            return False
        return not (self.high is not None and interval[0] > self.high)


def split_range(vr: str, text: str) -> tuple[str, str] | None:
    """Split ``a-b`` / ``-b`` / ``a-`` into its two (stripped) sides; None if no range.

    For DT the ``-`` of a negative UTC offset is not a range separator (PS3.5 DT).
    """
    if "-" not in text:
        return None
    if vr == "DT":
        return _split_datetime_range(text)
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"malformed {vr} range {text!r}")
    return parts[0].strip(), parts[1].strip()


def _split_datetime_range(text: str) -> tuple[str, str] | None:
    """Find the range "-" of a DT key; a "-" may also start a UTC offset (PS3.5 DT)."""
    unordered = False
    for index, char in enumerate(text):
        if char != "-":
            continue
        first, second = text[:index].strip(), text[index + 1 :].strip()
        if not (first or second):
            continue
        try:
            low = datetime_interval(first)[0] if first else None
            high = datetime_interval(second)[1] if second else None
        except ValueError:
            continue
        if low is None or high is None or low <= high:
            return first, second
        unordered = True
    if _DT.fullmatch(text):
        return None
    raise ValueError(
        f"DT range start is after its end in {text!r}"
        if unordered
        else f"malformed DT range {text!r}"
    )


def parse_interval(vr: str, text: str, assumed_offset: int = 0) -> Interval:
    """The interval of one DA, TM or DT value."""
    if vr == "DA":
        return date_interval(text)
    if vr == "TM":
        return time_interval(text)
    return datetime_interval(text, assumed_offset)


def parse_range_key(
    vr: str, text: str, assumed_offset: int = 0, *, allow_inverted: bool = False
) -> RangeKey:
    """Parse a DA/TM/DT key value into a :class:`RangeKey` (PS3.4 C.2.2.2.5.1-3).

    A single value is the degenerate range of its own interval (PS3.4 C.2.2.2.1 b).
    Raises ValueError for malformed values or a range whose start is after its end
    (Range Matching crossing midnight is not supported, PS3.4 C.2.2.2.5.2) unless
    ``allow_inverted``: then form is ``"inverted"`` (a TM key that is only valid as part of
    a combined date-time range, C.2.2.2.5.4).
    """
    sides = split_range(vr, text)
    if sides is None:
        start, end = parse_interval(vr, text, assumed_offset)
        return RangeKey(start, end, "single")
    first, second = sides
    if not first and not second:
        raise ValueError(f"empty {vr} range {text!r}")
    low = parse_interval(vr, first, assumed_offset)[0] if first else None
    high = parse_interval(vr, second, assumed_offset)[1] if second else None
    if low is not None and high is not None and low > high:
        if allow_inverted:
            return RangeKey(low, high, "inverted")
        raise ValueError(f"{vr} range start is after its end in {text!r}")
    form = "a-b" if first and second else ("-b" if second else "a-")
    return RangeKey(low, high, form)


def combined_range_key(date_text: str, time_text: str) -> RangeKey | None:
    """PS3.4 C.2.2.2.5.4: a DA range and a TM range of the same form, as one DT range.

    Returns None when the two keys do not have the same range form (then each is matched
    on its own). Raises ValueError for malformed values.
    """
    date_sides = split_range("DA", date_text)
    time_sides = split_range("TM", time_text)
    if date_sides is None or time_sides is None:
        return None
    if (bool(date_sides[0]), bool(date_sides[1])) != (bool(time_sides[0]), bool(time_sides[1])):
        return None
    low = high = None
    if date_sides[0]:
        low = date_interval(date_sides[0])[0] + time_interval(time_sides[0])[0]
    if date_sides[1]:
        high = date_interval(date_sides[1])[0] + time_interval(time_sides[1])[1]
    if low is not None and high is not None and low > high:
        raise ValueError(f"combined range start is after its end: {date_text} {time_text}")
    form = "a-b" if low is not None and high is not None else ("-b" if low is None else "a-")
    return RangeKey(low, high, form)


def stored_datetime_interval(date_text: str, time_text: str | None) -> Interval | None:
    """A stored DA (+ optional TM) pair as one interval; None when the date is unusable."""
    try:
        day_start, day_end = date_interval(date_text)
    except ValueError:
        return None
    if not time_text:
        return day_start, day_end
    try:
        t_start, t_end = time_interval(time_text)
    except ValueError:
        return day_start, day_end
    return day_start + t_start, day_start + t_end
