"""Job arguments, validated once at the entrypoint and passed down as frozen dataclasses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from retail_etl.errors import ArgumentError

TARGETS = ("balju", "sales")
DEFAULT_LAKE_ROOT = "s3://hist-retail"

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_extract_date(value: str) -> date:
    """Parse `--EXTRACT_DATE`: a real calendar day written exactly as YYYY-MM-DD."""
    if not _ISO_DAY.fullmatch(value):
        raise ArgumentError(f"--EXTRACT_DATE {value!r} is not a date in YYYY-MM-DD form")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ArgumentError(f"--EXTRACT_DATE {value!r} is not a real calendar date") from None


def parse_target(value: str) -> str:
    """Parse `--TARGET_DATA`: one of the fact tables d2s knows."""
    if value not in TARGETS:
        raise ArgumentError(f"--TARGET_DATA {value!r} is not one of: {', '.join(TARGETS)}")
    return value


def resolve_options(
    argv: Sequence[str], required: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, str]:
    """Read Glue-style `--NAME value` arguments with awsglue's own parser.

    Optional names are asked for only when present, the usual Glue idiom, because
    `getResolvedOptions` treats every name it is given as required.
    """
    from awsglue.utils import GlueArgumentError, getResolvedOptions

    present = [name for name in optional if f"--{name}" in argv]
    try:
        return dict(getResolvedOptions(["job", *argv], [*required, *present]))
    except GlueArgumentError as err:
        raise ArgumentError(str(err)) from None


@dataclass(frozen=True)
class JobParams:
    """What every job needs: the business day, where the lake is, and Glue's own arguments."""

    extract_date: date
    lake_root: str | None
    glue_args: dict[str, str]

    @property
    def day(self) -> str:
        return self.extract_date.isoformat()


@dataclass(frozen=True)
class D2sParams(JobParams):
    """Arguments of `jb_retail_factdata_d2s`."""

    target: str
    source_secret_id: str | None

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> D2sParams:
        args = resolve_options(
            argv, ["TARGET_DATA", "EXTRACT_DATE"], ["LAKE_ROOT", "SOURCE_SECRET_ID", "JOB_NAME"]
        )
        return cls(
            extract_date=parse_extract_date(args["EXTRACT_DATE"]),
            lake_root=args.get("LAKE_ROOT"),
            glue_args=args,
            target=parse_target(args["TARGET_DATA"]),
            source_secret_id=args.get("SOURCE_SECRET_ID"),
        )


@dataclass(frozen=True)
class S2sParams(JobParams):
    """Arguments of the two silver jobs."""

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> S2sParams:
        args = resolve_options(argv, ["EXTRACT_DATE"], ["LAKE_ROOT", "JOB_NAME"])
        return cls(
            extract_date=parse_extract_date(args["EXTRACT_DATE"]),
            lake_root=args.get("LAKE_ROOT"),
            glue_args=args,
        )
