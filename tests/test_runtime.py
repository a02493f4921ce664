"""The runtime's guards, on the suite's real JVM."""

from __future__ import annotations

import pytest

from retail_etl.errors import EtlError
from retail_etl.runtime import check_jvm_time_zone


@pytest.mark.parametrize("zone", ["Asia/Seoul", "America/New_York"])
def test_a_jvm_outside_utc_is_refused(spark, zone: str) -> None:  # type: ignore[no-untyped-def]
    # Source timestamps have no zone; a JVM in Seoul would shift them by its offset on the way
    # into Parquet. The JVM's default zone is switched for this test only.
    time_zone = spark.sparkContext._jvm.java.util.TimeZone
    before = time_zone.getDefault()
    time_zone.setDefault(time_zone.getTimeZone(zone))
    try:
        with pytest.raises(EtlError, match=f"the JVM time zone is {zone}; start Spark with"):
            check_jvm_time_zone(spark)
    finally:
        time_zone.setDefault(before)
    check_jvm_time_zone(spark)  # UTC again: accepted
