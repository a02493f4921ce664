"""Job arguments, validated once at the entrypoint and passed down as frozen dataclasses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from retail_etl.errors import ArgumentError

TARGETS = ("balju", "sales")
CATALOG_MODES = ("tables", "crawlers")
DEFAULT_LAKE_ROOT = "s3://hist-retail"

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A business day D covers [D, D + 1 day): the last day a date can follow.
LAST_DAY = date(9999, 12, 30)


def parse_extract_date(value: str) -> date:
    """Parse `--EXTRACT_DATE`: a real calendar day written exactly as YYYY-MM-DD."""
    if not _ISO_DAY.fullmatch(value):
        raise ArgumentError(f"--EXTRACT_DATE {value!r} is not a date in YYYY-MM-DD form")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ArgumentError(f"--EXTRACT_DATE {value!r} is not a real calendar date") from None
    if day > LAST_DAY:
        raise ArgumentError(
            f"--EXTRACT_DATE {value!r} is out of range: the last business day is {LAST_DAY}"
        )
    return day


def parse_catalog_mode(value: str | None) -> str:
    """Parse `--CATALOG`: publish through the declared tables (default), or write in place for
    the crawlers of the seed's flow."""
    if value is None:
        return "tables"
    if value not in CATALOG_MODES:
        raise ArgumentError(f"--CATALOG {value!r} is not one of: {', '.join(CATALOG_MODES)}")
    return value


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

    check_forms(argv, [*required, *optional])
    present = [name for name in optional if f"--{name}" in argv]
    try:
        return dict(getResolvedOptions(["job", *argv], [*required, *present]))
    except GlueArgumentError as err:
        raise ArgumentError(str(err)) from None


def check_forms(argv: Sequence[str], names: Sequence[str]) -> None:
    """Refuse every form of an argument that awsglue's parser would silently ignore.

    `--LAKE_ROOT=/x`, `--LAKE-ROOT /x` and `--lake_root /x` are not `--LAKE_ROOT /x` to it, so
    the job would run on the default lake; an empty value or a name given twice is as unclear.
    On Glue (`--JOB_RUN_ID` present) other names are Glue's own arguments and pass; elsewhere an
    unknown name is a mistake.
    """
    on_glue = "--JOB_RUN_ID" in argv
    seen: set[str] = set()
    for position, token in enumerate(argv):
        if not token.startswith("--"):
            continue
        name, equals, _ = token[2:].partition("=")
        canonical = name.upper().replace("-", "_")
        if canonical in names and (equals or name != canonical):
            raise ArgumentError(f"{token!r} is not read: write --{canonical} VALUE")
        if name in names:
            if name in seen:
                raise ArgumentError(f"--{name} is given twice")
            seen.add(name)
            value = argv[position + 1] if position + 1 < len(argv) else None
            if value is not None and not value.strip():
                raise ArgumentError(f"--{name} is empty")
        elif not on_glue:
            raise ArgumentError(
                f"{token!r} is not an argument of this job (it takes "
                + ", ".join(f"--{n}" for n in names if n != "JOB_NAME")
                + ")"
            )


@dataclass(frozen=True)
class JobParams:
    """What every job needs: the business day, where the lake is, and Glue's own arguments."""

    extract_date: date
    lake_root: str | None
    glue_args: dict[str, str]
    catalog_mode: str

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
            argv,
            ["TARGET_DATA", "EXTRACT_DATE"],
            ["LAKE_ROOT", "SOURCE_SECRET_ID", "CATALOG", "JOB_NAME"],
        )
        return cls(
            extract_date=parse_extract_date(args["EXTRACT_DATE"]),
            lake_root=args.get("LAKE_ROOT"),
            glue_args=args,
            catalog_mode=parse_catalog_mode(args.get("CATALOG")),
            target=parse_target(args["TARGET_DATA"]),
            source_secret_id=args.get("SOURCE_SECRET_ID"),
        )


@dataclass(frozen=True)
class S2sParams(JobParams):
    """Arguments of the two silver jobs."""

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> S2sParams:
        args = resolve_options(argv, ["EXTRACT_DATE"], ["LAKE_ROOT", "CATALOG", "JOB_NAME"])
        return cls(
            extract_date=parse_extract_date(args["EXTRACT_DATE"]),
            lake_root=args.get("LAKE_ROOT"),
            glue_args=args,
            catalog_mode=parse_catalog_mode(args.get("CATALOG")),
        )
