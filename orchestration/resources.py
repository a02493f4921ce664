"""Names and settings of every cloud resource, in one place for the ASL, the template and deploy.

Glue job, crawler and database names are the seed names of DESIGN.md, kept as they are; the
prefix names only what a person deploys alongside others (stack, state machine, Lambda, roles).
"""

from __future__ import annotations

from dataclasses import dataclass

from retail_etl import lake

GLUE_DATABASE = "hist-retail"
LAKE_BUCKET = "hist-retail"
GLUE_VERSION = "5.1"

D2S_JOB = "jb_retail_factdata_d2s"
BALJU_S2S_JOB = "jb_retail_silver_dailybalju_s2s"
SALES_S2S_JOB = "jb_retail_silver_dailysales_s2s"


@dataclass(frozen=True)
class GlueJob:
    name: str
    description: str
    worker_type: str = "G.1X"
    workers: int = 2
    timeout_minutes: int = 120
    # d2s runs for both branches at once, and a backfill may overlap a nightly run
    max_concurrent_runs: int = 4
    needs_source: bool = False

    @property
    def script(self) -> str:
        return f"jobs/{self.name}.py"


@dataclass(frozen=True)
class Crawler:
    name: str
    table: lake.LakeTable

    @property
    def table_prefix(self) -> str:
        """Glue names a crawled table after its folder; the prefix makes it the catalog name."""
        folder = self.table.path.rsplit("/", 1)[-1]
        return self.table.name[: -len(folder)]

    def s3_path(self, bucket: str = LAKE_BUCKET) -> str:
        return f"s3://{bucket}/{self.table.path}/"


JOBS = (
    GlueJob(
        D2S_JOB,
        "One business day of balju or sales from PostgreSQL to raw Parquet",
        needs_source=True,
    ),
    GlueJob(BALJU_S2S_JOB, "silver_dailybalju from the day's raw purchase orders"),
    GlueJob(SALES_S2S_JOB, "silver_dailysales_item/_store/_hourly from the day's raw sales"),
)

CRAWLERS = {
    "factdata_balju": Crawler("cr_retail_factdata_balju", lake.FACTDATA["balju"]),
    "factdata_sales": Crawler("cr_retail_factdata_sales", lake.FACTDATA["sales"]),
    "silver_dailybalju": Crawler("cr_retail_silver_dailybalju", lake.SILVER_DAILYBALJU),
    "silver_dailysales_item": Crawler(
        "cr_retail_silver_dailysales_item", lake.SILVER_DAILYSALES_ITEM
    ),
    "silver_dailysales_store": Crawler(
        "cr_retail_silver_dailysales_store", lake.SILVER_DAILYSALES_STORE
    ),
    "silver_dailysales_hourly": Crawler(
        "cr_retail_silver_dailysales_hourly", lake.SILVER_DAILYSALES_HOURLY
    ),
}

# Crawler settings from the original console set-up (DESIGN.md).
CRAWLER_RECRAWL_BEHAVIOR = "CRAWL_NEW_FOLDERS_ONLY"
CRAWLER_SCHEMA_CHANGE = {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
CRAWLER_EXCLUSIONS = ("**/_temporary/**",)

# Timing of the state machine (seconds).
CRAWLER_POLL_SECONDS = 30
CRAWLER_MAX_POLLS = 120  # 1 hour of polling, then the run fails instead of waiting forever
GLUE_JOB_TASK_TIMEOUT = 3 * 3600
SDK_TASK_TIMEOUT = 60

# The daily schedule: 01:00 in Seoul (UTC+9, no daylight saving) is 16:00 UTC the day before.
DEFAULT_SCHEDULE = "cron(0 16 * * ? *)"
SOURCE_TIME_ZONE = "Asia/Seoul"


def state_machine_name(prefix: str) -> str:
    return f"{prefix}_hist_retail_dailybatch"


def lambda_name(prefix: str) -> str:
    return f"{prefix}-hist-retail-dailybatch"


def stack_name(prefix: str) -> str:
    return f"{prefix}-hist-retail"
