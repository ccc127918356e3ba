"""Faults and bad input: the lab reports them in one line, heals with `lab up`, loses nothing."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab import LabError
from lab.exercises import free_port_base
from lab.procs import wait_for

KIT = Path(__file__).resolve().parent.parent


def cli(home, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "lab", "--home", str(home), *args], cwd=KIT,
                          capture_output=True, text=True, timeout=timeout)


def nginx_fail_timeout() -> float:
    """How long nginx leaves a failed server alone before trying it again (from the one template)."""
    import re
    text = (KIT / "lab" / "templates" / "nginx.conf.j2").read_text()
    return float(re.search(r"fail_timeout=(\d+)s", text).group(1))


def test_kill_9_one_slot_proxy_keeps_serving_and_up_heals_it(lab):
    lab.set_static_mode("shared")
    green = lab.slots.pid("green")
    # Watch well past nginx's fail_timeout: after it, nginx tries the dead server again, and each
    # such try must still end as an answer from blue, not as an error.
    watch = 2 * nginx_fail_timeout() + 1
    with lab.traffic_in_background() as t:
        time.sleep(0.5)
        os.killpg(green, signal.SIGKILL)
        t.mark("green killed")
        time.sleep(watch)
        st = lab.status()
    green_status = next(s for s in st["slots"] if s["slot"] == "green")
    assert not green_status["running"] and not green_status["healthy"]
    # after the kill every request is answered by blue (nginx skips the refused connection)
    killed_at = t.result.marks[0][0]
    after = [r for r in t.result.records if r.t > killed_at + 0.2]
    assert after and not [r for r in after if r.error], t.result.report()
    assert max(r.t for r in after) - killed_at >= 2 * nginx_fail_timeout(), "the traffic stopped too early to prove it"
    assert {r.slot for r in after if r.slot not in (None, "nginx")} == {"blue"}
    lab.up()
    healed = next(s for s in lab.status()["slots"] if s["slot"] == "green")
    assert healed["healthy"] and healed["release"] == "v1"
    assert not lab.traffic(duration=1).errors


def test_kill_postgres_status_says_so_and_up_restarts_it_without_data_loss(lab):
    before = lab.sql("select count(*) from sightings_sighting")[0][0]
    lab.sql("insert into sightings_sighting (title, description, location, sighted_at, reporter, score, created_at)"
            " values ('Survives a crash', '', 'Lab', now(), 'test', 0, now())")
    os.kill(lab.db.pid(), signal.SIGKILL)
    assert wait_for(lambda: not lab.db.running(), 5), "PostgreSQL survived kill -9"
    assert lab.status()["database"]["running"] is False
    r = cli(lab.cfg.home, "status")
    assert "postgres" in r.stdout and "down" in r.stdout
    lab.up()
    assert lab.status()["database"]["running"]
    assert lab.sql("select count(*) from sightings_sighting")[0][0] == before + 1
    assert lab.sql("select count(*) from sightings_sighting where title = 'Survives a crash'")[0][0] == 1
    assert not lab.traffic(duration=1).errors
    lab.down()
    assert lab.processes() == []


def test_state_folder_deleted_mid_run_gives_one_clear_line_and_down_cleans_up(lab):
    home = lab.cfg.home
    shutil.rmtree(home)
    r = cli(home, "status")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "was deleted while the lab was running" in r.stderr.splitlines()[0]
    r = cli(home, "up")
    assert r.returncode == 1 and "lab down" in r.stderr
    r = cli(home, "down")
    assert r.returncode == 0, r.stderr
    assert lab.processes() == []


def test_two_lab_up_at_once_one_waits_out_with_a_clear_message(tmp_path):
    home = tmp_path / "lab"
    base = free_port_base()
    procs = [subprocess.Popen([sys.executable, "-m", "lab", "--home", str(home), "up", "--port-base", str(base)],
                              cwd=KIT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    codes = sorted(p.returncode for p in procs)
    try:
        assert codes == [0, 1], outs
        loser = next(err for p, (out, err) in zip(procs, outs) if p.returncode == 1)
        assert "already running on this lab" in loser and "Traceback" not in loser
        st = cli(home, "status", "--json")
        assert '"healthy": true' in st.stdout and '"healthy": false' not in st.stdout
    finally:
        cli(home, "down")


def test_broken_release_is_refused_or_rolled_back_and_lab_keeps_serving(lab, tmp_path):
    lab.set_static_mode("shared")
    # an import error: the slot can't start it, so the deploy puts the slot back on v1
    bad = tmp_path / "import_error" / "sightings"
    bad.mkdir(parents=True)
    views = (KIT / "bigfoot_app" / "sightings" / "views.py").read_text()
    (bad / "views.py").write_text("from .reports import weekly_summary  # does not exist yet\n" + views)
    lab.build_release("broken", [bad.parent])
    with pytest.raises(LabError) as e:
        lab.deploy("broken", slot="green")
    assert "could not start release broken" in e.value.message
    assert "No module named 'sightings.reports' (sightings/views.py, line 1)" in e.value.message
    assert "back on v1" in e.value.message
    assert all(s["healthy"] and s["release"] == "v1" for s in lab.status()["slots"])
    # a migration that raises: the deploy stops before any slot changes
    mig = tmp_path / "bad_migration" / "sightings" / "migrations"
    mig.mkdir(parents=True)
    (mig / "0002_boom.py").write_text(
        "from django.db import migrations\n\n"
        "def boom(apps, schema_editor):\n    raise ValueError('backfill found a sighting without a location')\n\n"
        "class Migration(migrations.Migration):\n    dependencies = [('sightings', '0001_initial')]\n"
        "    operations = [migrations.RunPython(boom)]\n")
    lab.build_release("badmig", [mig.parent.parent])
    with pytest.raises(LabError) as e:
        lab.deploy("badmig")
    assert "migrate failed" in e.value.message and "ValueError: backfill found a sighting" in e.value.message
    assert all(s["healthy"] and s["release"] == "v1" for s in lab.status()["slots"])
    assert not lab.traffic(duration=1).errors
    # a syntax error never becomes a release at all
    syn = tmp_path / "syntax" / "sightings"
    syn.mkdir(parents=True)
    (syn / "models.py").write_text("class Sighting(models.Model)\n    pass\n")
    with pytest.raises(LabError) as e:
        lab.build_release("syntax", [syn.parent])
    assert "syntax error in" in e.value.message and "sightings/models.py, line 1" in e.value.message
    lab.reset()
    assert all(s["healthy"] and s["release"] == "v1" for s in lab.status()["slots"])
