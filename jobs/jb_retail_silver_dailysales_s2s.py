"""Glue job `jb_retail_silver_dailysales_s2s`: the raw sales -> the three dailysales tables.

Reads the published raw days through the catalog, writes into this run's own folder, checks the
silver totals against the raw day's (exit 1 on a failed gate), then publishes.

Arguments: --EXTRACT_DATE YYYY-MM-DD, or --EXTRACT_DATE_FROM YYYY-MM-DD --EXTRACT_DATE_TO YYYY-MM-DD
             (an inclusive range of at most 366 days, built in one pass)
           [--LOOKBACK_DAYS n] (0 to 62, default 0: also rebuild each of the n days before the
             first whose raw day was republished since its silver was built)
           [--LAKE_ROOT s3://bucket] [--CATALOG tables|crawlers]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from retail_etl.flow import SALES_S2S
from retail_etl.jobrun import run_glue_job

JOB_NAME = SALES_S2S.name


def main(argv: Sequence[str] | None = None) -> int:
    return run_glue_job(SALES_S2S, sys.argv[1:] if argv is None else argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
