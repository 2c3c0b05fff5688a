"""CloudWatch metrics, as the operator commands read them: one statistic's datapoints, in order."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .aws_calls import calling


def datapoints(
    cloudwatch: Any,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, str],
    *,
    start: datetime,
    end: datetime,
    period_seconds: int,
    statistic: str,
) -> list[tuple[datetime, float]]:
    """(period start, value) of ``metric`` between ``start`` and ``end``, oldest first; periods
    without data are absent. Callers end one period past now, so that the period still filling
    (and a datapoint stamped just now) is in."""
    where = f"{namespace} {metric} of " + ", ".join(f"{k}={v}" for k, v in dimensions.items())
    with calling("cannot read CloudWatch metric", where):
        response = cloudwatch.get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            StartTime=start,
            EndTime=end,
            Period=period_seconds,
            Statistics=[statistic],
        )
    points = [(p["Timestamp"], float(p[statistic])) for p in response.get("Datapoints", [])]
    return sorted(points)
