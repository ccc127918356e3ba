"""The one kind of error the lab shows a person: one readable line saying what and where."""


class LabError(Exception):
    """A failure the learner can act on. The CLI prints `lab: <message>` and exits 1, no traceback.

    `hint` is an optional second sentence telling the learner what to try next.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
