"""Every way a check can fail, as typed values.

A check raises `CheckFailed(Kind.X, ...)`; the kit's tests compare kinds, never message text
(the catalogue's `starter_fails_with` and each wrong answer's `expect` name one). Failures the
traffic saw keep the name the traffic gave them ("500 IntegrityError", "404 static asset",
"timeout (>2s)" → "timeout"): see `traffic_kind`.
"""
from __future__ import annotations

import re
from enum import StrEnum


class Kind(StrEnum):
    # the learner's files
    SYNTAX_ERROR = "syntax error"
    IMPORT_ERROR = "import"
    MIGRATION_CONFLICT = "migration conflict"
    MISSING_FILE = "missing file"
    PLAN_ERROR = "plan error"
    RELEASE_BROKEN = "release broken"
    STEP_FAILED = "step failed"
    LOCK_TIMEOUT = "lock timeout"
    # the traffic (requests that failed; the HTTP ones are "NNN Something", see traffic_kind)
    STATIC_404 = "404 static asset"
    TIMEOUT = "timeout"
    TRAFFIC_GAP = "traffic gap"           # a release served no writes between two steps: the check can't judge
    JOURNEY_BROKEN = "journey broken"     # a page lost its form or links, so users couldn't do their task
    MIXED_RELEASE_PAGE = "mixed release page"   # a page links static files its release doesn't have (a cached fragment)
    MISSING_VALUE = "missing value"       # a page's template names a variable that doesn't exist (renders as nothing)
    # schema = state = history
    MIGRATIONS_OUT_OF_DATE = "migrations out of date"   # models vs migration files
    HISTORY_MISMATCH = "history mismatch"               # django_migrations vs migration files
    SCHEMA_DRIFT = "schema drift"                       # the real tables vs Django's state
    MIGRATIONS_BROKEN = "migrations broken"
    # the task's end state
    NOT_DEPLOYED = "not deployed"
    NOT_ROLLED_BACK = "not rolled back"
    NO_IDLE_COLOUR = "no idle colour"     # blue/green: no colour left idle on the old release to switch back to
    COLUMN_MISSING = "column missing"
    TYPE_UNCHANGED = "type unchanged"     # the column doesn't end with the type the task asks for
    COLUMN_KEPT = "column kept"
    NULLABLE = "nullable"
    NOT_NULLABLE = "not nullable"
    NO_DB_DEFAULT = "no db default"
    NULLS = "nulls"
    NOT_RENAMED = "not renamed"
    NAME_GAP = "name gap"               # a commit left a release that still serves without a table name it uses
    OLD_NAME_LEFT = "old name left"     # a renamed table's old name still exists (a view, a copy) once no release uses it
    WRITE_NOT_SEEN = "write not seen"   # what one release saved is missing from another serving release's page right after
    IDENTITY_LOST = "identity lost"     # a renamed model's content type or permissions no longer reach it (stale rows)
    STILL_SHOWN = "score still shown"
    RESTYLE_MISSING = "restyle missing"
    NOT_IN_BUCKET = "not in bucket"       # static files: a release's hashed file is missing from the bucket
    DATA_LOST = "data lost"
    WRONG_DATA = "wrong data"
    WRONG_REGION = "wrong region"
    NOT_BACKFILLED = "not backfilled"
    NO_BACKFILL_STEP = "no backfill step"
    NOT_BATCHED = "not batched"
    NOT_IDEMPOTENT = "not idempotent"
    NOT_RESUMABLE = "not resumable"       # a second run skips work that is still to do
    IRREVERSIBLE = "irreversible"
    REVERSE_BROKEN = "reverse broken"
    NOT_APPLIED = "not applied"
    INDEX_MISSING = "index missing"
    INVALID_INDEX = "invalid index"
    WRONG_INDEX = "wrong index"
    CONSTRAINT_MISSING = "constraint missing"
    CONSTRAINT_NOT_VALIDATED = "constraint not validated"   # added NOT VALID and never validated
    # locks
    LONG_LOCK = "long lock"
    TABLE_REWRITE = "table rewrite"       # a table the traffic uses got a new file (every row copied under ACCESS EXCLUSIVE)
    WRITE_STALL = "write stall"
    NO_LOCK_TIMEOUT = "no lock timeout"
    # guardrails
    LINTER = "linter"
    LINTER_IGNORED = "linter ignored"
    SQUAWK = "squawk"
    GUARDRAIL_DODGED = "guardrail dodged"
    GUARDRAIL_LOOSE = "guardrail too loose"   # a lock_timeout so long that requests queue behind it anyway
    GUARDRAIL_TIGHT = "guardrail too tight"   # a statement_timeout that production's table would cancel a concurrent build at
    # migration tests (exercise 14): the learner's test, run on releases the check keeps
    BUG_NOT_CAUGHT = "bug not caught"              # the test passes on the broken migration it is for
    REVERSE_NOT_TESTED = "reverse not tested"      # ... on one that can't be migrated back
    OLD_CODE_NOT_TESTED = "old code not tested"    # ... on one that breaks the old release's INSERTs
    FALSE_ALARM = "false alarm"                    # the test fails on a migration that is right
    # a cache both releases share (exercise 11)
    SHARED_CACHE_KEY = "shared cache key"   # two releases read and write the same cache entry
    CACHE_UNUSED = "cache unused"           # the release no longer caches what it cached
    # many migrations (exercise 16): a squash every environment must be able to use
    ENVIRONMENT_BEHIND = "environment left behind"   # a database at an older point of the history can't reach the release's state
    # replicas that start at once (exercise 17): each runs the release's start-up command
    REPLICA_CRASHED = "replica crashed"   # a replica's start-up command failed: it never came up
    REPLICA_STUCK = "replica stuck"       # ... or was still running at the start-up deadline
    MIGRATED_TWICE = "migrated twice"     # a migration ran (or was recorded) more than once
    UP_BEFORE_MIGRATED = "up before migrated"   # a replica came up (ready to serve) before its release's migrations were
    # the harness itself could not judge (never a pass)
    CHECK_ERROR = "check error"
    PORT_IN_USE = "port in use"           # the lab's port was taken by another program (a LabError's kind)


_HTTP_KIND = re.compile(r"^[1-5]\d\d( \S.*)?$")


def traffic_kind(error: str) -> str:
    """The kind of a failed request as the traffic named it: '500 IntegrityError' stays itself,
    'timeout (>2s)' becomes 'timeout'."""
    if error.startswith("timeout"):
        return Kind.TIMEOUT
    if error == "traffic crashed":
        return Kind.CHECK_ERROR
    return error


def is_kind(value: str) -> bool:
    """A known kind: a Kind member, or a failed request's HTTP kind ('500 IntegrityError')."""
    return value in Kind._value2member_map_ or bool(_HTTP_KIND.match(value)) or value.startswith("connection")


class CheckFailed(AssertionError):
    """A check's verdict, in plain words: what broke, where, and what to look at next.

    `reason` is a Kind (or a failed request's HTTP kind, '500 IntegrityError') so the kit's own
    tests can assert that the starter and every wrong answer fail for their INTENDED reason.
    """

    def __init__(self, reason: str, message: str, look_at: str | None = None):
        if not is_kind(reason):
            raise ValueError(f"unknown failure kind {reason!r}: add it to lab/kinds.py:Kind")
        self.reason = Kind(reason) if reason in Kind._value2member_map_ else reason
        self.message, self.look_at = message, look_at
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"✗ {self.message}"
        if self.look_at:
            text += f"\n  → {self.look_at}"
        return text
