"""Errors the jobs and the runner report as one line and a non-zero exit."""


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


def one_line(error: BaseException) -> str:
    """The first line of an error's message, prefixed by its type when that adds information."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, EtlError):
        return text
    return f"{type(error).__name__}: {text}"
