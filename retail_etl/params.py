"""Job arguments, validated once at the entrypoint and passed down as frozen dataclasses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from retail_etl.errors import ArgumentError

TARGETS = ("balju", "sales")
CATALOG_MODES = ("tables", "crawlers")
DEFAULT_LAKE_ROOT = "s3://hist-retail"

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A business day D covers [D, D + 1 day): the last day a date can follow.
LAST_DAY = date(9999, 12, 30)
# The longest range one run takes: a leap year.
MAX_RANGE_DAYS = 366
# Parallel JDBC reads of the source, at most (each is a connection to the operational database).
DEFAULT_SOURCE_MAX_CONNECTIONS = 4
SOURCE_MAX_CONNECTIONS_LIMIT = 32
# Days before the first asked day that a run re-checks (and restates when the source changed):
# two months at most, so a window's fingerprint query stays one small grouped scan.
MAX_LOOKBACK_DAYS = 62


def parse_extract_date(value: str, name: str = "EXTRACT_DATE") -> date:
    """Parse `--EXTRACT_DATE` (or another date argument): a real day written as YYYY-MM-DD."""
    if not _ISO_DAY.fullmatch(value):
        raise ArgumentError(f"--{name} {value!r} is not a date in YYYY-MM-DD form")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ArgumentError(f"--{name} {value!r} is not a real calendar date") from None
    if day > LAST_DAY:
        raise ArgumentError(
            f"--{name} {value!r} is out of range: the last business day is {LAST_DAY}"
        )
    return day


@dataclass(frozen=True)
class DayRange:
    """The business days of one run: `first` to `last`, both included (one day: first == last)."""

    first: date
    last: date

    @classmethod
    def one(cls, day: date) -> DayRange:
        return cls(day, day)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def __len__(self) -> int:
        return (self.last - self.first).days + 1

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


def parse_day_range(
    day: str | None, first: str | None, last: str | None, names: tuple[str, str, str] = (
        "EXTRACT_DATE", "EXTRACT_DATE_FROM", "EXTRACT_DATE_TO",
    )
) -> DayRange:  # fmt: skip
    """Parse `--EXTRACT_DATE D`, or `--EXTRACT_DATE_FROM A --EXTRACT_DATE_TO B` (inclusive,
    A <= B, at most MAX_RANGE_DAYS days): exactly one of the two forms."""
    one, start, end = names
    if day is not None and (first is not None or last is not None):
        given = f"--{start}" if first is not None else f"--{end}"
        raise ArgumentError(f"--{one} {day!r} is given with {given}: give one day or a range")
    if day is not None:
        return DayRange.one(parse_extract_date(day, one))
    if first is None and last is None:
        raise ArgumentError(f"give --{one} YYYY-MM-DD, or --{start} and --{end}")
    if first is None or last is None:
        given, missing = (start, end) if last is None else (end, start)
        value = first if last is None else last
        raise ArgumentError(f"--{given} {value!r} is given without --{missing}")
    days = DayRange(parse_extract_date(first, start), parse_extract_date(last, end))
    if days.last < days.first:
        raise ArgumentError(f"--{start} {first!r} is after --{end} {last!r}")
    if len(days) > MAX_RANGE_DAYS:
        raise ArgumentError(
            f"--{start} {first!r} --{end} {last!r} is {len(days)} days: "
            f"a run takes at most {MAX_RANGE_DAYS}"
        )
    return days


def parse_max_connections(value: str | None) -> int:
    """Parse `--SOURCE_MAX_CONNECTIONS`: how many JDBC reads may run against the source at once."""
    if value is None:
        return DEFAULT_SOURCE_MAX_CONNECTIONS
    if not value.isdigit() or not 1 <= int(value) <= SOURCE_MAX_CONNECTIONS_LIMIT:
        raise ArgumentError(
            f"--SOURCE_MAX_CONNECTIONS {value!r} is not a whole number from 1 to "
            f"{SOURCE_MAX_CONNECTIONS_LIMIT}"
        )
    return int(value)


def parse_lookback(value: object, name: str = "--LOOKBACK_DAYS") -> int:
    """Parse a look-back: a whole number of days from 0 to MAX_LOOKBACK_DAYS (text or int;
    never a bool, a float or a signed number)."""
    text = (
        str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    )
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_LOOKBACK_DAYS:
        raise ArgumentError(
            f"{name} {value!r} is not a whole number of days from 0 to {MAX_LOOKBACK_DAYS}"
        )
    return int(text)


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


DAY_OPTIONS = ["EXTRACT_DATE", "EXTRACT_DATE_FROM", "EXTRACT_DATE_TO", "LOOKBACK_DAYS"]


def _days(args: dict[str, str]) -> DayRange:
    return parse_day_range(
        args.get("EXTRACT_DATE"), args.get("EXTRACT_DATE_FROM"), args.get("EXTRACT_DATE_TO")
    )


@dataclass(frozen=True)
class JobParams:
    """What every job needs: its business days, where the lake is, and Glue's own arguments."""

    days: DayRange
    lake_root: str | None
    glue_args: dict[str, str]
    catalog_mode: str
    lookback_days: int  # days before `days` re-checked, and restated when they changed

    @property
    def day(self) -> str:
        """The days as one label: `2015-01-05`, or `2015-01-01..2015-01-31`."""
        return str(self.days)

    @property
    def window(self) -> list[date]:
        """The look-back window: the `lookback_days` days before the first asked day."""
        return [self.days.first - timedelta(days=n) for n in range(self.lookback_days, 0, -1)]


@dataclass(frozen=True)
class D2sParams(JobParams):
    """Arguments of `jb_retail_factdata_d2s`."""

    target: str
    source_secret_id: str | None
    source_max_connections: int = DEFAULT_SOURCE_MAX_CONNECTIONS

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> D2sParams:
        args = resolve_options(
            argv,
            ["TARGET_DATA"],
            [
                *DAY_OPTIONS,
                "LAKE_ROOT",
                "SOURCE_SECRET_ID",
                "SOURCE_MAX_CONNECTIONS",
                "CATALOG",
                "JOB_NAME",
            ],
        )
        return cls(
            days=_days(args),
            lake_root=args.get("LAKE_ROOT"),
            glue_args=args,
            catalog_mode=parse_catalog_mode(args.get("CATALOG")),
            lookback_days=parse_lookback(args.get("LOOKBACK_DAYS", "0")),
            target=parse_target(args["TARGET_DATA"]),
            source_secret_id=args.get("SOURCE_SECRET_ID"),
            source_max_connections=parse_max_connections(args.get("SOURCE_MAX_CONNECTIONS")),
        )


@dataclass(frozen=True)
class S2sParams(JobParams):
    """Arguments of the two silver jobs."""

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> S2sParams:
        args = resolve_options(argv, [], [*DAY_OPTIONS, "LAKE_ROOT", "CATALOG", "JOB_NAME"])
        return cls(
            days=_days(args),
            lake_root=args.get("LAKE_ROOT"),
            glue_args=args,
            catalog_mode=parse_catalog_mode(args.get("CATALOG")),
            lookback_days=parse_lookback(args.get("LOOKBACK_DAYS", "0")),
        )
