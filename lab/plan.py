"""plan.toml: what the learner decides about a deploy, and nothing else.

A plan names the releases (overlay folders on bigfoot_app/) and the steps, in order, that take them
to production while traffic flows. The obstacle a check puts in the way (how big the table is, how
long the slow report runs, how impatient the users are) belongs to the check, not to the plan.

The schema below is the one source for the validation and for docs/reference/plan.md: an unknown
key, a wrong type or an unknown action is one clear error naming the file, the step and the keys
that are allowed. Nothing is silently ignored.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .config import STATIC_MODES
from .deploy import MIGRATE_WHEN, STRATEGIES
from .kinds import CheckFailed, Kind
from .releases import display_path

SLOTS = ("blue", "green")


@dataclass(frozen=True)
class Key:
    type: str                 # "release", "str", "choice", "int", "number", "command"
    help: str
    required: bool = False
    choices: tuple = ()
    low: float | None = None
    high: float | None = None
    default: object = None


RETRY_KEYS = {
    "retries": Key("int", "try the step again this many times if it fails (e.g. after a lock_timeout)",
                   low=0, high=20, default=0),
    "retry_delay": Key("number", "seconds to wait between tries", low=0, high=10, default=1),
}

ACTIONS: dict[str, tuple[str, dict[str, Key]]] = {
    "deploy": ("put a release on one or both slots (one at a time), running its migrations when `migrate` says", {
        "release": Key("release", "the release to deploy (a name from [releases], or v1)", required=True),
        "slot": Key("choice", "only this slot; without it, both, one after the other", choices=SLOTS),
        "strategy": Key("choice", "how the slots change", choices=STRATEGIES, default="rolling"),
        "migrate": Key("choice", "when the release's migrations run: before the code, after it, or not at all",
                       choices=MIGRATE_WHEN, default="before"),
        "on_start": Key("command", "a management command every replica of the release runs as it starts, before it "
                        "serves, as a container's entrypoint does (`[\"migrate\", \"--noinput\"]`): the replicas "
                        "(one per slot deployed, or as many as the check starts) run it at the same moment, on the "
                        "one database, after `migrate = \"before\"` and before any slot changes; one that fails, or "
                        "runs past 120 s, never comes up and the deploy stops"),
        **RETRY_KEYS,
    }),
    "migrate": ("run a release's migrations, without changing the code that serves", {
        "release": Key("release", "whose migration files to run (a name from [releases], or v1)", required=True),
        "target": Key("str", "migrate to this migration (e.g. \"0001\"): forward or backward; default: the latest"),
        **RETRY_KEYS,
    }),
    "manage": ("run one of a release's management commands on the database (e.g. a backfill)", {
        "release": Key("release", "whose code runs the command", required=True),
        "command": Key("command", "the command and its arguments: [\"backfill_region\", \"--batch-size\", \"500\"] "
                       "or one string", required=True),
        **RETRY_KEYS,
    }),
    "static_mode": ("change how nginx serves /static/ from now on", {
        "mode": Key("choice", "proxy, shared, retry, cache or bucket (lab/templates/nginx.conf.j2)", required=True,
                    choices=STATIC_MODES),
    }),
    "wait": ("let traffic flow for a while (a canary watched, a release serving for an hour)", {
        "seconds": Key("number", "how long", low=0, high=10, default=1),
    }),
}

TOP_KEYS = {
    "static_mode": Key("choice", "how nginx serves /static/ while the plan runs", choices=STATIC_MODES,
                       default="proxy"),
    "releases": Key("releases", "name = [overlay folders]: each release is bigfoot_app/ plus these folders, in order"),
    "steps": Key("steps", "[[steps]] tables, carried out in order while traffic flows"),
}
# Keys older plans had, with why they are gone (a clear message instead of "unknown key").
RETIRED = {
    "seed_sightings": "the table size is the check's own obstacle, not a plan setting; the check seeds it",
}
BASELINE = "v1"


@dataclass
class Plan:
    releases: dict[str, list[str]]      # name -> overlay folders, relative to the work folder
    steps: list[dict]
    static_mode: str = "proxy"
    path: Path | None = None

    @classmethod
    def load(cls, work_dir: Path) -> "Plan":
        path = work_dir / "plan.toml"
        if not path.exists():
            raise CheckFailed(Kind.MISSING_FILE, f"{display_path(path)} is missing",
                              "restore the starter with `lab reset NN` (your edits are backed up)")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise CheckFailed(Kind.PLAN_ERROR, f"{display_path(path)} is not valid TOML: {e}",
                              "TOML: `key = \"value\"`, tables `[releases]`, steps `[[steps]]`") from None
        return cls.from_dict(data, path, work_dir)

    @classmethod
    def from_dict(cls, data: dict, path: Path, work_dir: Path) -> "Plan":
        where = display_path(path)

        def fail(msg: str, look_at: str | None = None):
            raise CheckFailed(Kind.PLAN_ERROR, f"{where}: {msg}", look_at or "the keys of a plan: docs/reference/plan.md")

        for k in data:
            if k in RETIRED:
                fail(f"`{k}` is not a plan setting any more: {RETIRED[k]}", f"delete the line `{k} = …`")
            if k not in TOP_KEYS:
                fail(f"unknown key {k!r} at the top; allowed: {', '.join(TOP_KEYS)}")
        static_mode = data.get("static_mode", "proxy")
        _check_value(static_mode, TOP_KEYS["static_mode"], "static_mode", fail)

        releases = data.get("releases", {})
        if not isinstance(releases, dict):
            fail("[releases] must be a table: `v2 = [\"app\"]`")
        for name, overlays in releases.items():
            if name == BASELINE:
                fail(f"[releases] redefines {BASELINE}, the baseline release every lab starts on; pick another name")
            if not isinstance(overlays, list) or not overlays or not all(isinstance(o, str) for o in overlays):
                fail(f"release {name} must be a list of folder names, e.g. {name} = [\"app\"]")
            for o in overlays:
                if not (work_dir / o).is_dir():
                    raise CheckFailed(Kind.MISSING_FILE, f"{where}: release {name} uses the folder {o!r}, "
                                      f"which does not exist in {display_path(work_dir)}",
                                      "restore it with `lab reset NN` (your edits are backed up), or fix the name")

        steps = data.get("steps", [])
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            fail("steps must be [[steps]] tables")
        if not steps:
            fail("the plan has no [[steps]]: nothing would be deployed")
        for i, step in enumerate(steps, 1):
            action = step.get("action")
            if action not in ACTIONS:
                fail(f"step {i} has action {action!r}; use one of {', '.join(ACTIONS)}")
            keys = ACTIONS[action][1]
            for k, v in step.items():
                if k == "action":
                    continue
                if k not in keys:
                    fail(f"step {i} ({action}) has an unknown key {k!r}; allowed for {action}: {', '.join(keys)}")
                spec = keys[k]
                if spec.type == "release":
                    if v != BASELINE and v not in releases:
                        fail(f"step {i} ({action}) uses release {v!r}, which [releases] does not define "
                             f"(defined: {', '.join([BASELINE, *releases])})")
                else:
                    _check_value(v, spec, f"step {i} ({action}): `{k}`", fail)
            for k, spec in keys.items():
                if spec.required and k not in step:
                    fail(f"step {i} ({action}) needs `{k}`: {spec.help}")
        return cls(releases=releases, steps=steps, static_mode=static_mode, path=path)


def _check_value(v, spec: Key, what: str, fail) -> None:
    if spec.type == "choice":
        if v not in spec.choices:
            fail(f"{what} is {v!r}; use one of {', '.join(map(str, spec.choices))}")
    elif spec.type == "str":
        if not isinstance(v, str) or not v.strip():
            fail(f"{what} must be a non-empty string, not {v!r}")
    elif spec.type in ("int", "number"):
        ok = isinstance(v, int) if spec.type == "int" else isinstance(v, (int, float))
        if not ok or isinstance(v, bool):
            fail(f"{what} must be {'a whole number' if spec.type == 'int' else 'a number'}, not {v!r}")
        if (spec.low is not None and v < spec.low) or (spec.high is not None and v > spec.high):
            fail(f"{what} is {v}; it must be between {spec.low:g} and {spec.high:g}")
    elif spec.type == "command":
        if isinstance(v, str):
            ok = bool(v.split())
        else:
            ok = isinstance(v, list) and bool(v) and all(isinstance(c, (str, int, float)) for c in v)
        if not ok:
            fail(f"{what} must name a command: [\"backfill_region\", \"--batch-size\", \"500\"] or one string")


def reference_markdown() -> str:
    """docs/reference/plan.md, generated from the schema above."""
    out = ["# plan.toml reference", "",
           "Every exercise folder has a `plan.toml`: the releases you build and the steps, in order, that take "
           "them to production while the check's traffic flows. It says only what *you* decide; the obstacle "
           "(table size, slow report, users' patience) is the check's. An unknown key, a wrong type or an "
           "unknown action stops the check with one line naming the file, the step and the allowed keys.",
           "", "*Generated from `lab/plan.py`.*", "", "## Top level", "", "| key | what | default |", "|---|---|---|"]
    for k, spec in TOP_KEYS.items():
        out.append(f"| `{k}` | {spec.help}{_choices(spec)} | {_default(spec)} |")
    out += ["", "```toml", 'static_mode = "shared"', "", "[releases]", 'v2 = ["app_v2"]', 'v3 = ["app_v2", "app_v3"]',
            "", "[[steps]]", 'action = "deploy"', 'release = "v2"', "```", "",
            f"`{BASELINE}` is the baseline release every lab starts on; it needs no entry in `[releases]`.", ""]
    for action, (what, keys) in ACTIONS.items():
        out += [f"## `action = \"{action}\"`", "", what[0].upper() + what[1:] + ".", "",
                "| key | what | required | default |", "|---|---|---|---|"]
        for k, spec in keys.items():
            out.append(f"| `{k}` | {spec.help}{_choices(spec)}{_range(spec)} | {'yes' if spec.required else 'no'} "
                       f"| {_default(spec)} |")
        out.append("")
    out += ["## Keys that are gone", ""]
    out += [f"- `{k}`: {why}." for k, why in RETIRED.items()]
    return "\n".join(out) + "\n"


def _choices(spec: Key) -> str:
    return f" (one of {', '.join(f'`{c}`' for c in spec.choices)})" if spec.choices else ""


def _range(spec: Key) -> str:
    return f" ({spec.low:g} to {spec.high:g})" if spec.low is not None else ""


def _default(spec: Key) -> str:
    return "" if spec.default is None else f"`{spec.default}`"
