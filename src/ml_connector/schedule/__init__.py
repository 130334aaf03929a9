"""When pipelines run: cron in the company's time zone plus close-calendar rules.

``spec`` is the configuration model, ``planner`` computes fire times with their reasons,
``slots`` makes each fire time run once across processes and ``runs`` keeps runs of one
pipeline from overlapping.
"""

from ml_connector.schedule.planner import Fire, fires_between, next_fire_times
from ml_connector.schedule.spec import BusinessDayRule, CloseWindow, HolidayCalendar, ScheduleSpec

__all__ = [
    "BusinessDayRule",
    "CloseWindow",
    "Fire",
    "HolidayCalendar",
    "ScheduleSpec",
    "fires_between",
    "next_fire_times",
]
