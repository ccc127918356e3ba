"""The one kind of error the lab shows a person: one readable line saying what and where."""
from .kinds import Kind


class LabError(Exception):
    """A failure the learner can act on. The CLI prints `lab: <message>` and exits 1, no traceback.

    `hint` is an optional second sentence telling the learner what to try next; `kind` (a
    lab.kinds.Kind) names the failure for checks, so nothing parses the message text back.
    """

    def __init__(self, message: str, hint: str | None = None, kind: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        # a lab.kinds.Kind when the failure has a name a check can report; typed here, so a kind
        # that isn't one fails where it is raised, not later inside a check's verdict
        self.kind = Kind(kind) if kind is not None else None

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class Interrupted(BaseException):
    """SIGTERM or SIGHUP (Ctrl-C is KeyboardInterrupt), or the reader of our output went away (a
    closed pipe: `lab check 10 -v | head`). A BaseException, like KeyboardInterrupt, so `except
    Exception` never swallows it and every `finally` (stopping a check's lab) still runs."""

    def __init__(self, why: str, code: int):
        super().__init__(why)
        self.why, self.code = why, code
