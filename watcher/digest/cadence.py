"""When a subscriber's digest is due: cadence slots and quiet hours, in the subscriber's own time zone.

Pure functions of (subscriber settings, now). A *slot* is the moment a daily or weekly
digest becomes due (07:00 local each day, or Monday 07:00); a digest is due when the
latest slot is later than the last one served. Wall-clock arithmetic happens in local
time so a 07:00 digest stays at 07:00 across daylight-saving changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from watcher.settings import WEEKDAYS, Subscriber


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def latest_slot(sub: Subscriber, now: datetime) -> datetime | None:
    """The most recent daily/weekly slot at or before ``now`` (UTC); None for instant delivery."""
    if sub.cadence == "instant":
        return None
    tz = ZoneInfo(sub.timezone)
    local = now.astimezone(tz)
    at = _clock(sub.at)
    day = local.date()
    if sub.cadence == "daily":
        if local.time() < at:
            day -= timedelta(days=1)
    else:
        back = (local.weekday() - WEEKDAYS.index(sub.day)) % 7
        day -= timedelta(days=back)
        if back == 0 and local.time() < at:
            day -= timedelta(days=7)
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def next_slot(sub: Subscriber, now: datetime) -> datetime | None:
    """The next slot after ``now`` (for ``status``); None for instant delivery."""
    last = latest_slot(sub, now)
    if last is None:
        return None
    step = timedelta(days=1 if sub.cadence == "daily" else 7)
    tz = ZoneInfo(sub.timezone)
    local = last.astimezone(tz)
    return datetime.combine(local.date() + step, _clock(sub.at), tzinfo=tz).astimezone(UTC)


def in_quiet_hours(sub: Subscriber, now: datetime) -> bool:
    """True while the subscriber asked for silence (a range may wrap midnight: 22:00-07:00)."""
    if not sub.quiet_hours:
        return False
    start_text, end_text = (p.strip() for p in sub.quiet_hours.split("-"))
    start, end = _clock(start_text), _clock(end_text)
    t = now.astimezone(ZoneInfo(sub.timezone)).time()
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end
