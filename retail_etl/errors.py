"""Errors the jobs and the runner report as one line and a non-zero exit."""

import re

# A Java exception line of a Py4J/Spark trace: `Caused by: org.x.FooException: message`.
_JAVA_EXCEPTION = re.compile(
    r"^(?:Caused by: |: )?((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)):?\s*(.*)$"
)


class EtlError(Exception):
    """A failure a user can act on; its message is the one line they see."""


class ArgumentError(EtlError):
    """A job argument is missing or malformed; nothing has been connected to or written."""


class SourceUnavailableError(EtlError):
    """The source database could not be reached."""


class StepFailedError(EtlError):
    """One step of the daily batch failed; the message names the step."""

    def __init__(self, step: str, cause: BaseException) -> None:
        super().__init__(f"step {step} failed: {one_line(cause)}")
        self.step = step


def java_reason(text: str) -> str | None:
    """The sentence a person needs from a Java trace: PostgreSQL's driver's own words when it
    speaks, else the deepest cause with a message. None when the text holds no Java exception."""
    found = []
    for line in text.splitlines():
        matched = _JAVA_EXCEPTION.match(line.strip())
        if matched:
            found.append((matched.group(1), matched.group(2).strip()))
    for name, message in reversed(found):
        if name.startswith("org.postgresql.") and message:
            return message
    for name, message in reversed(found):
        if message:
            return f"{name.rsplit('.', 1)[-1]}: {message}"
    return found[-1][0].rsplit(".", 1)[-1] if found else None


def one_line(error: BaseException) -> str:
    """The first line of an error's message, prefixed by its type when that adds information.

    A Py4J error's first line ("An error occurred while calling o95.parquet") says nothing: its
    Java cause is said instead.
    """
    text = str(error).strip()
    if type(error).__name__ == "Py4JJavaError" or text.startswith("An error occurred while"):
        reason = java_reason(text) or str(getattr(error, "java_exception", "") or "")
        if reason:
            return reason.splitlines()[0]
    first = text.splitlines()[0] if text else type(error).__name__
    if isinstance(error, EtlError):
        return first
    return f"{type(error).__name__}: {first}"
