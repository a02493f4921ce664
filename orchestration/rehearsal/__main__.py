"""`make rehearse DATE=D`: the first night, rehearsed against moto (see the package docstring)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from orchestration.rehearsal.night import rehearse, report
from retail_etl.errors import ArgumentError
from retail_etl.params import parse_extract_date
from retail_etl.settings import LocalEnvironment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make rehearse",
        description="Deploy the stack into moto's server on 127.0.0.1, trigger one night as "
        "the trigger role, run the state machine's Glue jobs for real as the Glue role (S3 "
        "through S3A, the Glue Data Catalog), and check every AWS call against the policy of "
        "the role that made it. Reads the local sample source (make seed).",
    )
    parser.add_argument("--date", required=True, help="the business day, YYYY-MM-DD")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (job logs)")
    args = parser.parse_args(argv)
    try:
        day = parse_extract_date(args.date)
    except ArgumentError as err:
        print(f"make rehearse: error: {err}", file=sys.stderr)
        return 2
    env = LocalEnvironment.from_environ(os.environ)
    work = Path(tempfile.mkdtemp(prefix="retail-etl-rehearsal-"))
    night = rehearse(work, env.source, day)
    print(report(night))
    if not night.ok:
        for job, log in night.logs.items():
            tail = "\n".join(log.splitlines()[-15:])
            print(f"\n--- the end of {job}'s log ---\n{tail}", file=sys.stderr)
    if args.keep or not night.ok:
        print(f"\nwork folder (job logs): {work}")
    else:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0 if night.ok else 1


if __name__ == "__main__":
    sys.exit(main())
