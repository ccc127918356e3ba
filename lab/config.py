"""Where the lab lives and how it is wired: the topology file plus this lab's own settings.

Everything the lab creates (database files, releases, logs, secrets) lives in ONE state folder,
`.lab/` beside the repository by default (git-ignored) or `$LAB_HOME`, so a test or an exercise
check can run its own lab on its own ports without touching the learner's.
"""
from __future__ import annotations

import json
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LabError

KIT_ROOT = Path(__file__).resolve().parent.parent
APP_SOURCE = KIT_ROOT / "bigfoot_app"
TOPOLOGY_FILE = Path(__file__).resolve().parent / "topology.toml"
DEFAULT_PORT_BASE = 8000
STATIC_MODES = ("proxy", "shared", "retry", "cache", "bucket")  # cache, bucket: chapter 12


def load_topology() -> dict:
    with TOPOLOGY_FILE.open("rb") as f:
        return tomllib.load(f)


@dataclass
class Slot:
    name: str
    port: int          # local backend port
    host: str          # compose service name
    container_port: int


@dataclass
class LabConfig:
    """The resolved configuration of one lab (one state folder)."""

    home: Path
    port_base: int
    static_mode: str
    database_url: str | None  # an external PostgreSQL instead of the embedded one
    topology: dict = field(repr=False)
    # A check's lab: templates print MISSING_VALUE_MARKER for a variable that doesn't exist (a
    # template naming a field its model lost), and the traffic fails any page that shows it.
    strict_templates: bool = False

    # ---- derived facts (never stored twice) ----
    @property
    def proxy_port(self) -> int:
        return self.port_base + self.topology["proxy"]["port_offset"]

    @property
    def jupyter_port(self) -> int:
        return self.port_base + self.topology["jupyter"]["port_offset"]

    @property
    def dashboard_port(self) -> int:
        return self.port_base + self.topology["dashboard"]["port_offset"]

    @property
    def db_port(self) -> int:
        return self.port_base + self.topology["database"]["port_offset"]

    @property
    def slots(self) -> list[Slot]:
        return [
            Slot(s["name"], self.port_base + s["port_offset"], s["host"], s["container_port"])
            for s in self.topology["slots"]
        ]

    def slot(self, name: str) -> Slot:
        for s in self.slots:
            if s.name == name:
                return s
        raise LabError(f"unknown slot {name!r}", f"slots are {', '.join(s.name for s in self.slots)}")

    @property
    def app(self) -> dict:
        return self.topology["app"]

    @property
    def db_name(self) -> str:
        return self.topology["database"]["name"]

    @property
    def db_user(self) -> str:
        return self.topology["database"]["user"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    # ---- folders ----
    @property
    def releases_dir(self) -> Path:
        return self.home / "releases"

    @property
    def shared_static_dir(self) -> Path:
        return self.home / "static-shared"

    @property
    def pg_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def nginx_dir(self) -> Path:
        return self.home / "nginx"

    def slot_dir(self, name: str) -> Path:
        return self.home / "slots" / name

    @property
    def settings_file(self) -> Path:
        return self.home / "settings.json"

    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.json"

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    @property
    def events_file(self) -> Path:
        """The lab's steps as they happen (Lab.step appends; the dashboard draws them)."""
        return self.home / "events.jsonl"

    def save(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        data = {"port_base": self.port_base, "static_mode": self.static_mode, "database_url": self.database_url}
        write_json(self.settings_file, data)


def cache_dir() -> Path:
    """Caches shared by every lab of this kit (check templates, collectstatic outputs):
    $LAB_CACHE, else .lab/cache in the kit, else (a kit folder this user can't write, such as
    /app in the image, where `lab release build` runs as uid 10001) a per-user temp folder."""
    if os.environ.get("LAB_CACHE"):
        return Path(os.environ["LAB_CACHE"])
    default = KIT_ROOT / ".lab" / "cache"
    try:
        default.mkdir(parents=True, exist_ok=True)
        if os.access(default, os.W_OK | os.X_OK):
            return default
    except OSError:
        pass
    import tempfile
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"bigfoot-lab-cache-{uid}"


def default_home() -> Path:
    return Path(os.environ.get("LAB_HOME") or KIT_ROOT / ".lab").resolve()


# What a check lab's templates print for a missing variable ("%s": its name); the traffic looks for it.
MISSING_VALUE_MARKER = "[missing value: %s]"


def load_config(home: Path | str | None = None, port_base: int | None = None,
                static_mode: str | None = None, database_url: str | None = None) -> LabConfig:
    """Resolve a lab's config: explicit arguments > environment > saved settings > topology defaults."""
    home = Path(home).resolve() if home else default_home()
    topology = load_topology()
    saved = read_json(home / "settings.json", {})
    env_base = os.environ.get("LAB_PORT_BASE")
    if port_base is None:
        port_base = int(env_base) if env_base else saved.get("port_base", DEFAULT_PORT_BASE)
    static_mode = static_mode or saved.get("static_mode") or topology["app"]["static_mode"]
    if static_mode not in STATIC_MODES:
        raise LabError(f"unknown static mode {static_mode!r}", f"choose one of {', '.join(STATIC_MODES)}")
    # "" forces the embedded server (throwaway check labs must never use the learner's database)
    if database_url is None:
        database_url = os.environ.get("DATABASE_URL") or saved.get("database_url")
    database_url = database_url or None
    return LabConfig(home=home, port_base=int(port_base), static_mode=static_mode,
                     database_url=database_url, topology=topology)


def read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except json.JSONDecodeError as e:
        raise LabError(f"{path} is not valid JSON ({e})", "delete it or run `lab down` and `lab up`")


def write_json(path: Path, data, mode: int | None = None) -> None:
    """Write atomically: a crash mid-write never leaves half a file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    if mode is not None:
        tmp.chmod(mode)
    tmp.replace(path)


def lab_secrets(cfg: LabConfig) -> dict:
    """Per-lab random secrets, created once, stored git-ignored with mode 0600. Never in the repo."""
    data = read_json(cfg.secrets_file, None)
    if data is None:
        data = {
            "secret_key": secrets.token_urlsafe(50),
            "db_password": secrets.token_urlsafe(18),
            "db_superuser_password": secrets.token_urlsafe(18),
            "admin_password": secrets.token_urlsafe(12),
            "jupyter_token": secrets.token_hex(24),
        }
        write_json(cfg.secrets_file, data, mode=0o600)
    if "jupyter_token" not in data:  # a lab created before JupyterLab joined
        data["jupyter_token"] = secrets.token_hex(24)
        write_json(cfg.secrets_file, data, mode=0o600)
    return data
