"""Glue job `jb_retail_factdata_d2s`: business days of a fact table, PostgreSQL -> raw Parquet.

Reads the days in one snapshot of the source (one JDBC query for a whole range), writes them
into this run's own folder, checks each day against the snapshot's count, control sums and key
(exit 1 on a failed gate), then publishes them through the catalog.

Arguments: --TARGET_DATA balju|sales
           --EXTRACT_DATE YYYY-MM-DD, or --EXTRACT_DATE_FROM YYYY-MM-DD --EXTRACT_DATE_TO YYYY-MM-DD
             (an inclusive range of at most 366 days)
           [--LOOKBACK_DAYS n] (0 to 62, default 0: also re-check the n days before the first,
             in the same snapshot, and extract in the same read each one the source changed
             since it was published)
           [--SOURCE_MAX_CONNECTIONS n] (parallel JDBC reads of the source, at most; default 4)
           [--SOURCE_SECRET_ID id] (on Glue: Secrets Manager secret with the source's credentials)
           [--LAKE_ROOT s3://bucket] (default s3://hist-retail on Glue, .local/lake locally)
           [--CATALOG tables|crawlers] (default tables; crawlers: write in place for crawlers)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from retail_etl.flow import D2S
from retail_etl.jobrun import run_glue_job

JOB_NAME = D2S.name


def main(argv: Sequence[str] | None = None) -> int:
    return run_glue_job(D2S, sys.argv[1:] if argv is None else argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
