"""`retail-etl` (`python -m retail_etl.local`): the local environment and the daily batch."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime

from retail_etl.errors import ArgumentError, EtlError, one_line
from retail_etl.local.postgres import LocalPostgres
from retail_etl.params import (
    MAX_LOOKBACK_DAYS,
    DayRange,
    parse_day_range,
    parse_extract_date,
    parse_lookback,
)
from retail_etl.settings import LocalEnvironment

DEFAULT_DATE = "2015-01-05"


def _day(value: str) -> date:
    try:
        return parse_extract_date(value)
    except ArgumentError as err:
        raise argparse.ArgumentTypeError(str(err).replace("--EXTRACT_DATE ", "")) from None


def _moment(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Seoul local time YYYY-MM-DDTHH:MM"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retail-etl",
        description=(
            "Run the hist-retail nightly batch locally: a throwaway PostgreSQL source under "
            ".local/, a folder as the lake, Spark's Hive catalog as the Glue Data Catalog. "
            "Settings come from RETAIL_ETL_HOME, RETAIL_PG_PORT, RETAIL_LAKE_ROOT (see README)."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = sub.add_parser("info", help="print the local stack's connection facts")
    info.add_argument("--json", action="store_true", help="as one JSON object")

    pg = sub.add_parser("pg", help="start, stop or check the local PostgreSQL source")
    pg.add_argument("action", choices=["start", "stop", "status"])

    seed = sub.add_parser("seed", help="(re)generate the deterministic sample source data")
    seed.add_argument("--start", type=_day, default=date(2015, 1, 1), help="first day (2015-01-01)")
    seed.add_argument("--days", type=int, default=31, help="number of days (31)")
    seed.add_argument("--sales-per-day", type=int, default=3_000, help="sales lines a day (3000)")
    seed.add_argument("--balju-per-day", type=int, default=400, help="purchase orders a day (400)")
    seed.add_argument("--stores", type=int, default=20, help="stores (20)")
    seed.add_argument("--items", type=int, default=300, help="items (300)")
    seed.add_argument("--suppliers", type=int, default=12, help="suppliers (12)")
    seed.add_argument("--seed", type=int, default=42, help="random seed (42)")
    seed.add_argument(
        "--if-empty", action="store_true", help="do nothing when the source already has sales"
    )
    seed.add_argument(
        "--as-of",
        type=_moment,
        metavar="YYYY-MM-DDTHH:MM",
        help=(
            "the source as it stood at this moment, Seoul time: later orders absent, later "
            "confirmations and cancellations not yet made, late till uploads not yet arrived, "
            "rows deleted by then gone (default: the final state)"
        ),
    )

    run = sub.add_parser(
        "run",
        help="run the batch (both branches) for one date, or a range in one Spark session",
        description=(
            "Run both branches (d2s, then s2s) for one day, or for an inclusive range of at most "
            "366 days in one pass per step: one JDBC read, one write and one publish per table."
        ),
    )
    run.add_argument("--date", help=f"one EXTRACT_DATE (default {DEFAULT_DATE})")
    run.add_argument("--from", dest="first", metavar="DATE", help="first day of a range")
    run.add_argument("--to", dest="last", metavar="DATE", help="last day of a range (inclusive)")
    run.add_argument(
        "--lookback",
        default="0",
        metavar="N",
        help=(
            "days before the first day to re-check, restating those the source changed since "
            f"they were published (0 to {MAX_LOOKBACK_DAYS}; default 0; the schedule uses 3)"
        ),
    )

    history = sub.add_parser(
        "history", help="list the recent job runs (of a day): status, rows, gates, seconds"
    )
    history.add_argument("--date", type=_day, help="only the runs that wrote this day")
    history.add_argument("--limit", type=int, default=20, help="runs to show (20)")
    history.add_argument("--json", action="store_true", help="the records themselves, as JSON")

    sub.add_parser(
        "crawl",
        help="register in-place day folders (written with --CATALOG crawlers) in the catalog",
    )

    catalog = sub.add_parser(
        "catalog",
        help="catalog upkeep: `catalog restore` rebuilds every table's days from the run records",
    )
    catalog_sub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    restore = catalog_sub.add_parser(
        "restore",
        help="point every table's days at the folders the run records say were published",
        description=(
            "Rebuild a lost or emptied catalog from the lake alone: for every table and day, the "
            "newest run that published it (from _audit/runs/), unless its folder is gone since; "
            "forward only (a day published by a newer run is left alone), batched. Locally the "
            "Hive catalog of RETAIL_ETL_HOME; with --glue the Glue Data Catalog's hist-retail "
            "(its tables as the stack declares them), the lake at --lake-root s3://BUCKET read "
            "through S3A with the environment's AWS credentials."
        ),
    )
    restore.add_argument(
        "--glue", action="store_true", help="the Glue Data Catalog, not the local one"
    )
    restore.add_argument(
        "--lake-root", help="the lake root (default: the local lake; s3://... with --glue)"
    )

    sql = sub.add_parser("sql", help="run Spark SQL against the local catalog and print the result")
    sql.add_argument("query", help="e.g. 'select * from hist_retail.silver_dailysales_store'")
    sql.add_argument("--limit", type=int, default=50, help="rows to show (50)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None:  # as a command: `retail-etl history | head` ends quietly when head does
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        stack = LocalEnvironment.from_environ(os.environ)
        return COMMANDS[args.command](stack, args)
    except ArgumentError as err:
        print(f"retail-etl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except EtlError as err:
        print(f"retail-etl {args.command}: error: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        print(f"retail-etl {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 1


def _postgres(stack: LocalEnvironment) -> LocalPostgres:
    source = stack.source
    return LocalPostgres(stack.pg_data, source.port, source.user, source.database, source.host)


def cmd_info(stack: LocalEnvironment, args: argparse.Namespace) -> int:
    facts = stack.facts()
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        for key, value in facts.items():
            print(f"{key:<20} {value}")
    return 0


def cmd_pg(stack: LocalEnvironment, args: argparse.Namespace) -> int:
    pg = _postgres(stack)
    if args.action == "start":
        started = pg.start()
        print(f"PostgreSQL {'started' if started else 'already running'} on {stack.source.where}")
    elif args.action == "stop":
        print("PostgreSQL stopped" if pg.stop() else "PostgreSQL was not running")
    else:
        running = pg.running()
        print(f"PostgreSQL {'running' if running else 'not running'} ({stack.pg_data})")
        return 0 if running else 3
    return 0


def cmd_seed(stack: LocalEnvironment, args: argparse.Namespace) -> int:
    from retail_etl.local import sample

    pg = _postgres(stack)
    pg.start()
    spec = sample.SampleSpec(
        start=args.start,
        days=args.days,
        sales_per_day=args.sales_per_day,
        balju_per_day=args.balju_per_day,
        stores=args.stores,
        items=args.items,
        suppliers=args.suppliers,
        seed=args.seed,
        as_of=args.as_of,
    )
    with pg.connect() as conn:
        if args.if_empty and sample.is_seeded(conn):
            print("sample source already seeded; leaving it as it is")
            return 0
        started = time.monotonic()
        counts = sample.seed(conn, spec, progress=lambda line: print(line, flush=True))
    as_of = f" as of {spec.as_of:%Y-%m-%dT%H:%M} Seoul" if spec.as_of else ""
    print(
        f"seeded {spec.days} day(s) from {spec.start}{as_of} in "
        f"{time.monotonic() - started:.1f} s: "
        + ", ".join(f"{table} {rows:,}" for table, rows in counts.items())
    )
    return 0


def cmd_run(stack: LocalEnvironment, args: argparse.Namespace) -> int:
    from retail_etl.lake import Lake
    from retail_etl.local.runner import DailyBatch, format_summary
    from retail_etl.runtime import local_spark

    days = (
        DayRange.one(parse_extract_date(DEFAULT_DATE))
        if args.date is None and args.first is None and args.last is None
        else parse_day_range(args.date, args.first, args.last, ("date", "from", "to"))
    )
    lookback = parse_lookback(args.lookback, "LOOKBACK")
    if not _postgres(stack).running():
        raise EtlError(
            f"the local PostgreSQL is not running on {stack.source.where}; `make pg` starts it"
        )
    started = time.monotonic()
    spark = local_spark(stack, "hist-retail-dailybatch")
    lake = Lake(spark, stack.lake_root)
    lake.check_writable()
    batch = DailyBatch(
        spark,
        stack.source,
        lake,
        stack.catalog_database,
        lookback=lookback,
        progress=lambda r: print(
            f"  done {r.step:<34} {r.rows_out:>10,} {r.seconds:6.1f} s", flush=True
        ),
    )
    what = "daily batch" if len(days) == 1 else f"batch of {len(days)} days"
    if lookback:
        what += f" with a look-back of {lookback} days"
    print(f"{what} {days}: lake {stack.lake_root}, source {stack.source.jdbc_url}", flush=True)
    results = batch.run(days)
    print()
    print(format_summary(results, days, time.monotonic() - started))
    print(
        "\nQuery the results:\n"
        f'  make sql Q="select * from {stack.catalog_database}.silver_dailysales_store '
        f"where extract_date = '{days.first}' order by store_id\"\n"
        "Connect to the sample source:\n"
        f"  psql -h {stack.source.host} -p {stack.source.port} -U {stack.source.user} "
        f"{stack.source.database}"
    )
    spark.stop()
    return 0


def cmd_crawl(stack: LocalEnvironment, args: argparse.Namespace) -> int:
    from retail_etl.lake import ALL_TABLES, Lake
    from retail_etl.local import crawler
    from retail_etl.runtime import local_spark

    spark = local_spark(stack, "hist-retail-crawl")
    lake = Lake(spark, stack.lake_root)
    for table in ALL_TABLES:
        found = crawler.crawl(spark, lake, table, stack.catalog_database)
        print(f"{stack.catalog_database}.{table.name}: {found.partitions} partition(s)")
    spark.stop()
    return 0


def cmd_history(stack: LocalEnvironment, args: argparse.Namespace) -> int:
    from retail_etl.audit import LocalFiles, format_history, history

    records = history(LocalFiles(stack.lake_root), args.date, args.limit)
    if args.json:
        print(json.dumps(records, indent=2))
    elif not records:
        when = f" of {args.date}" if args.date else ""
        print(f"no runs{when} recorded under {stack.lake_root}/_audit/runs")
    else:
        print(format_history(records))
    return 0


def cmd_catalog(stack: LocalEnvironment, args: argparse.Namespace) -> int:
    from retail_etl import restore
    from retail_etl.catalogs import Catalog, GlueCatalog, HiveCatalog
    from retail_etl.lake import ALL_TABLES, Lake
    from retail_etl.runtime import glue_like_spark, local_spark
    from retail_etl.settings import CATALOG_DATABASE_GLUE

    lake_root = args.lake_root or stack.lake_root
    catalog: Catalog
    if args.glue:
        if not lake_root.startswith("s3://"):
            raise ArgumentError(f"--glue needs --lake-root s3://BUCKET, not {lake_root!r}")
        import boto3

        spark = glue_like_spark(stack, "retail-etl-catalog-restore")
        catalog = GlueCatalog(boto3.client("glue"), CATALOG_DATABASE_GLUE)
    else:
        spark = local_spark(stack, "retail-etl-catalog-restore")
        catalog = HiveCatalog(spark, stack.catalog_database)
    done = restore.restore(Lake(spark, lake_root), catalog, ALL_TABLES)
    print(done.summary())
    return 0


def cmd_sql(stack: LocalEnvironment, args: argparse.Namespace) -> int:
    from retail_etl.runtime import local_spark

    spark = local_spark(stack, "hist-retail-sql")
    spark.sql(args.query).show(args.limit, truncate=False)
    spark.stop()
    return 0


COMMANDS = {
    "info": cmd_info,
    "pg": cmd_pg,
    "seed": cmd_seed,
    "run": cmd_run,
    "history": cmd_history,
    "crawl": cmd_crawl,
    "catalog": cmd_catalog,
    "sql": cmd_sql,
}
