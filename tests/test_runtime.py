"""The runtime's guards, on the suite's real JVM."""

from __future__ import annotations

import os

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


def test_the_local_heap_is_a_share_of_the_machine_or_the_setting() -> None:
    from retail_etl.errors import ArgumentError
    from retail_etl.settings import LocalEnvironment

    # the default: a quarter of the machine's memory, in whole gigabytes from 1 to 4
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    expected = min(4, max(1, memory // 4 // 2**30))
    assert LocalEnvironment.from_environ({}).driver_memory == f"{expected}g"
    chosen = LocalEnvironment.from_environ({"RETAIL_SPARK_DRIVER_MEMORY": "1500M"})
    assert chosen.driver_memory == "1500m"
    for bad in ("lots", "0g", "2 g", "-1g", "2gb"):
        with pytest.raises(ArgumentError, match=f"RETAIL_SPARK_DRIVER_MEMORY='{bad}'"):
            LocalEnvironment.from_environ({"RETAIL_SPARK_DRIVER_MEMORY": bad})


def test_a_local_jvm_runs_with_a_short_runs_jit_unless_told_otherwise(spark) -> None:  # type: ignore[no-untyped-def]
    from retail_etl.errors import ArgumentError
    from retail_etl.settings import SHORT_RUN_JIT, LocalEnvironment

    # the suite's own JVM was started by local_spark (an option the JVM did not know would
    # have stopped it): every option is among its arguments
    arguments = list(
        spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
    )
    assert "-XX:Tier4InvocationThreshold=15000" in arguments
    assert set(SHORT_RUN_JIT) <= set(arguments)
    assert LocalEnvironment.from_environ({"RETAIL_SPARK_JIT": "short-run"}).jit_options == (
        LocalEnvironment.from_environ({}).jit_options
    )
    assert LocalEnvironment.from_environ({"RETAIL_SPARK_JIT": "jvm"}).jit_options == ()
    for bad in ("fast", "JVM", "off"):
        with pytest.raises(ArgumentError, match=f"RETAIL_SPARK_JIT='{bad}' is not one of"):
            LocalEnvironment.from_environ({"RETAIL_SPARK_JIT": bad})


def test_local_aggregations_go_straight_to_their_hash_map(spark) -> None:  # type: ignore[no-untyped-def]
    # local_spark turns off the generated first-level map (runtime.py says why); the
    # generated code of a grouped sum shows which maps it probes
    def generated() -> str:
        df = spark.range(100).selectExpr("id % 7 AS k", "id").groupBy("k").sum("id")
        df.collect()  # with AQE, the plan that ran is there once it has run
        plan = df._jdf.queryExecution().executedPlan()
        if plan.nodeName() == "AdaptiveSparkPlan":
            plan = plan.executedPlan()
        code = spark._jvm.org.apache.spark.sql.execution.debug.package.codegenStringSeq(plan)
        return "".join(str(code.apply(n)._2()) for n in range(code.size()))

    assert "FastHashMap" not in generated()
    setting = "spark.sql.codegen.aggregate.map.twolevel.enabled"
    spark.conf.set(setting, "true")  # Spark's default: the probe sees the map
    try:
        assert "FastHashMap" in generated()
    finally:
        spark.conf.set(setting, "false")
