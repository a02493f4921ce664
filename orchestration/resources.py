"""Names and settings of every cloud resource, in one place for the ASL, the template and deploy.

Glue job, crawler and database names are the seed names of DESIGN.md, kept as they are; the
prefix names only what a person deploys alongside others (stack, state machine, Lambda, roles).
"""

from __future__ import annotations

import re
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
    # Sized for a chunk: one day, or at most a calendar month of a backfill (trigger.chunks); a
    # month of the sample source takes about a minute locally (README "History loads").
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
# Besides the seed's `_temporary`: the staging folders Spark's dynamic partition overwrite leaves
# behind when a job is killed, and the `_$folder$` marker keys S3 filesystems write.
CRAWLER_EXCLUSIONS = ("**/_temporary/**", "**/.spark-staging*/**", "**_$folder$")

# Timing of the state machine (seconds).
CRAWLER_POLL_SECONDS = 30
CRAWLER_MAX_POLLS = 120  # 1 hour of polling, then the run fails instead of waiting forever
GLUE_JOB_TASK_TIMEOUT = 3 * 3600
SDK_TASK_TIMEOUT = 60

# The daily schedule: 01:00 in Seoul (UTC+9, no daylight saving) is 16:00 UTC the day before.
DEFAULT_SCHEDULE = "cron(0 16 * * ? *)"
# Days each scheduled night re-checks: the sample's orders change up to 56 hours after their day
# begins and late tills upload up to 3 days after their day ends, so 3 catches both.
DEFAULT_LOOKBACK_DAYS = 3
SOURCE_TIME_ZONE = "Asia/Seoul"


# The prefix: lower-case words joined by single hyphens, at most 20 characters. It starts the
# artifacts bucket's name, so it must not start as S3 refuses (`xn--` cannot match at all).
PREFIX_MAX_LENGTH = 20
PREFIX_PATTERN = r"^(?!sthree-|amzn-s3-demo-)[a-z][a-z0-9]*(-[a-z0-9]+)*$"


class InvalidName(ValueError):
    """A name that AWS would refuse; the message says which and why."""


def state_machine_name(prefix: str) -> str:
    return f"{prefix}_hist_retail_dailybatch"


def lambda_name(prefix: str) -> str:
    return f"{prefix}-hist-retail-dailybatch"


def stack_name(prefix: str) -> str:
    return f"{prefix}-hist-retail"


def role_name(prefix: str, kind: str) -> str:
    """The IAM role of `kind` (glue, statemachine, trigger)."""
    return f"{prefix}-hist-retail-{kind}"


def artifacts_bucket_name(prefix: str, account: str, region: str) -> str:
    """The default artifacts bucket: short enough for S3's 63 characters with any valid prefix
    (20) and any region code AWS has (at most 15 characters)."""
    return f"{prefix}-hr-artifacts-{account}-{region}"


def name_limits(prefix: str) -> dict[str, tuple[str, int]]:
    """Every name derived from the prefix, with AWS's length limit for it (API references)."""
    return {
        "stack": (stack_name(prefix), 128),
        "state machine": (state_machine_name(prefix), 80),
        "Lambda function": (lambda_name(prefix), 64),
        **{
            f"IAM role ({kind})": (role_name(prefix, kind), 64)
            for kind in ("glue", "statemachine", "trigger")
        },
    }


def check_prefix(prefix: str) -> str:
    """The prefix, or InvalidName saying why AWS (or the template) would refuse it."""
    if not (len(prefix) <= PREFIX_MAX_LENGTH and re.fullmatch(PREFIX_PATTERN, prefix) is not None):
        raise InvalidName(
            f"prefix {prefix!r} is not 1-{PREFIX_MAX_LENGTH} lower-case letters, digits and "
            "single hyphens starting with a letter (and not starting with sthree- or "
            "amzn-s3-demo-)"
        )
    for what, (name, limit) in name_limits(prefix).items():
        if len(name) > limit:
            raise InvalidName(f"{what} name {name!r} is over {limit} characters")
    return prefix


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def check_bucket_name(bucket: str) -> str:
    """The bucket name, or InvalidName naming the S3 naming rule it breaks."""
    if not _BUCKET.fullmatch(bucket):
        raise InvalidName(
            f"bucket name {bucket!r} is not 3-63 lower-case letters, digits, dots and hyphens "
            "starting and ending with a letter or digit"
        )
    if ".." in bucket or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket):
        raise InvalidName(f"bucket name {bucket!r} has adjacent dots or is an IP address")
    if bucket.startswith(("xn--", "sthree-", "amzn-s3-demo-")) or bucket.endswith(
        ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
    ):
        raise InvalidName(f"bucket name {bucket!r} uses a prefix or suffix S3 reserves")
    return bucket
