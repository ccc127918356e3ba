"""The learner's loop: bad input gets one clear message naming the file; nothing is lost."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.exercises import CheckFailed, Scenario, get
from lab.learner import solution_diff

KIT = Path(__file__).resolve().parent.parent


@pytest.fixture
def work(tmp_path):
    """A copy of exercise 02's starter, as a learner's folder to break."""
    d = tmp_path / "02_add_field"
    shutil.copytree(get("02").folder, d)
    return d


def test_syntax_error_in_learners_models_names_file_and_line(work):
    models = work / "app" / "sightings" / "models.py"
    source = models.read_text()
    line = source.splitlines().index("class Sighting(models.Model):") + 1
    models.write_text(source.replace("class Sighting(models.Model):", "class Sighting(models.Model)"))
    with pytest.raises(CheckFailed) as e:
        Scenario(work).__enter__()
    assert e.value.reason == "syntax error"
    assert f"app/sightings/models.py, line {line}" in e.value.message, e.value.message
    assert "Traceback" not in str(e.value)


def test_migration_conflict_names_both_migrations(work):
    mig = work / "app" / "sightings" / "migrations"
    (mig / "0002_sighting_rating.py").write_text((mig / "0002_sighting_flagged.py").read_text())
    with pytest.raises(CheckFailed) as e:
        Scenario(work).__enter__()
    assert e.value.reason == "migration conflict"
    assert "0002_sighting_flagged and 0002_sighting_rating" in e.value.message
    assert "makemigrations --merge" in (e.value.look_at or "")


def test_missing_plan_file_is_named(work):
    (work / "plan.toml").unlink()
    with pytest.raises(CheckFailed) as e:
        Scenario(work)
    assert e.value.reason == "missing file" and "plan.toml is missing" in e.value.message


def test_missing_overlay_folder_is_named(work):
    shutil.rmtree(work / "app")
    with pytest.raises(CheckFailed) as e:
        Scenario(work)
    assert e.value.reason == "missing file" and "'app'" in e.value.message


def test_solution_diff_shows_the_fix():
    diff = solution_diff(get("02"))
    assert "-            field=models.BooleanField(default=False)," in diff
    assert "+            field=models.BooleanField(db_default=False)," in diff


def test_reset_restores_the_starter_and_backs_up_the_learners_edits(tmp_path):
    kit = tmp_path / "kit"
    subprocess.run(["git", "clone", "-q", str(KIT), str(kit)], check=True)
    models = kit / "exercises" / "02_add_field" / "app" / "sightings" / "models.py"
    original = models.read_text()
    models.write_text(original + "\n# my half-finished idea\n")
    (models.parent / "notes.txt").write_text("try db_default")
    r = subprocess.run([sys.executable, "-m", "lab", "--home", str(tmp_path / "home"), "reset", "02"],
                       cwd=kit, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert models.read_text() == original
    assert not (models.parent / "notes.txt").exists()
    backups = list((tmp_path / "home" / "backups").glob("02_add_field-*"))
    assert len(backups) == 1
    assert "my half-finished idea" in (backups[0] / "app" / "sightings" / "models.py").read_text()
    assert (backups[0] / "app" / "sightings" / "notes.txt").read_text() == "try db_default"


def test_cli_check_reports_in_words_and_exit_code(tmp_path):
    r = subprocess.run([sys.executable, "-m", "lab", "--home", str(tmp_path / "home"), "check", "02"],
                       cwd=KIT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 1
    # Either the random traffic or the check's visitor meets it first (which one depends on the
    # machine's load): both name the request, the error and the column in words.
    assert all(w in r.stdout for w in ("POST /sightings/new/", "500", "IntegrityError", '"flagged"')), r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "lab", "--home", str(tmp_path / "home"), "exercises"],
                       cwd=KIT, capture_output=True, text=True, timeout=60)
    assert "✗ 02" in r.stdout


def test_a_check_that_fails_before_its_plan_leaves_no_lab_running(work, monkeypatch):
    import tempfile
    import psutil
    # the check's lab goes to a temp folder of this test's own: other checks running on the same
    # machine can't be mistaken for its leftovers
    private = Path(tempfile.mkdtemp(prefix="bigfoot-leftovers-"))
    private.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    models = work / "app" / "sightings" / "models.py"
    models.write_text(models.read_text() + "\ndef broken(:\n")
    with pytest.raises(CheckFailed):
        Scenario(work).__enter__()
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(private) in " ".join(p.info["cmdline"] or [])]
    assert not leftovers, leftovers
    assert not list(private.glob("bigfoot-check-*")), "the check's folder was left behind"
    shutil.rmtree(private, ignore_errors=True)


def lab_cli(home, *args, cwd=KIT, timeout=180):
    return subprocess.run([sys.executable, "-m", "lab", "--home", str(home), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_solved_stays_solved_when_a_later_run_fails(tmp_path):
    import json
    home = tmp_path / "home"
    home.mkdir()
    (home / "progress.json").write_text(json.dumps({"02": {"status": "solved", "hints_shown": 0}}))
    r = lab_cli(home, "check", "02")            # the starter fails: an experiment after solving it
    assert r.returncode == 1 and "you solved it before" in r.stdout, r.stdout[-1500:]
    r = lab_cli(home, "exercises")
    line = next(l for l in r.stdout.splitlines() if " 02 " in l)
    assert line.lstrip().startswith("✓") and "(solved; last run failed)" in line, line
    assert "1/10 solved" in r.stdout or "1/" in r.stdout


def test_hint_follows_the_last_failure_and_defaults_to_the_current_exercise(tmp_path):
    import json
    home = tmp_path / "home"
    home.mkdir()
    # the learner is past the starter's error: their last check failed with "no db default"
    (home / "progress.json").write_text(json.dumps(
        {"01": {"status": "solved", "hints_shown": 0},
         "02": {"status": "failed", "hints_shown": 0, "last_failure": "no db default"}}))
    r = lab_cli(home, "hint")                    # no number: 02, the one `lab check` would run
    assert r.returncode == 0, r.stderr
    assert "for 02" in r.stdout or "of 02" in r.stdout, r.stdout
    assert "no db default" in r.stdout and "What can fill it" in r.stdout, r.stdout
    r = lab_cli(home, "hint")                    # then the graduated hints, from the first
    assert "hint 1 of" in r.stdout and "02" in r.stdout, r.stdout


def test_reset_asks_before_clearing_progress(tmp_path):
    import json
    kit = tmp_path / "kit"
    subprocess.run(["git", "clone", "-q", str(KIT), str(kit)], check=True)
    home = tmp_path / "home"
    home.mkdir()
    (home / "progress.json").write_text(json.dumps({"02": {"status": "solved", "hints_shown": 2}}))
    r = lab_cli(home, "reset", "02", cwd=kit, timeout=60)
    assert r.returncode == 1 and "--yes" in r.stderr and "solved" in r.stderr, r.stderr
    assert json.loads((home / "progress.json").read_text())["02"]["status"] == "solved"
    assert not (home / "backups").exists()       # nothing happened
    r = lab_cli(home, "reset", "02", "--yes", cwd=kit, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads((home / "progress.json").read_text())["02"] == {"status": "todo", "hints_shown": 0}


def test_check_json_is_one_result_and_the_progress_keeps_it(tmp_path):
    """`lab check --json`: one line a board or a script can read (lab.results.CheckResult)."""
    import json
    home = tmp_path / "home"
    r = lab_cli(home, "check", "02", "--json")
    assert r.returncode == 1, r.stdout[-1500:] + r.stderr[-1500:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout[-1500:]
    result = json.loads(lines[0])
    assert result["exercise"] == "02" and result["status"] == "fail" and result["kind"] == "500 IntegrityError"
    assert result["message"] and result["look_at"] and result["log"]
    assert result["timings"]["wall_s"] > 0 and result["timings"]["cpu_s"] > 0
    kept = json.loads((home / "progress.json").read_text())["02"]["last_result"]
    assert kept["status"] == "fail" and kept["kind"] == "500 IntegrityError" and "log" not in kept


def test_a_crash_of_the_kit_is_an_error_result_not_a_traceback_or_a_fail():
    from lab.results import run

    def crashing_check(folder, log=None):
        log("→ a step")
        return {}["no such key"]

    result = run("02", crashing_check, Path("."))
    assert result.status == "error" and result.kind == "check error" and not result.passed
    assert "KeyError" in result.message and "Traceback" in result.log[-1]


def test_a_passing_result_whose_scenario_holds_locks_still_serialises():
    """A passing check returns its scenario (in the Docker topology it holds threads and locks):
    the result written to the progress file must not try to copy it (CI failed on exactly this:
    "cannot pickle '_thread.lock' object" after the workbench's check had passed)."""
    import json
    import threading
    from lab.results import run

    result = run("02", lambda folder, log=None: {"lock": threading.Lock()}, Path("."))
    assert result.passed
    assert json.loads(result.to_json())["status"] == "pass"
    assert "scenario" not in result.to_dict(with_log=False)


def test_a_failing_check_names_the_chapters_its_exercise_builds_on(tmp_path, monkeypatch):
    """Exercise 13 uses chapter 03's expand/contract without explaining it again: its README says so
    first, and every failing `lab check 13` says so too (the check itself is not run here)."""
    from lab import learner, results
    from lab.exercises import catalogue
    by_id = {e.id: e for e in catalogue()}
    assert get("13").builds_on == ["03"]
    for ex in by_id.values():
        for i in ex.builds_on:
            assert i in by_id and by_id[i].notebook.exists(), f"{ex.id} builds on a chapter that isn't there: {i}"
            assert f"chapter {i}" in (ex.folder / "README.md").read_text(), f"{ex.id}'s README doesn't name chapter {i}"
    failed = results.CheckResult("13", "fail", "500 ProgrammingError", "GET /sightings/ → 500 ProgrammingError",
                                 timings={"wall_s": 1.0})
    monkeypatch.setattr(results, "run", lambda *a, **k: failed)
    said = []
    assert learner.run_check(tmp_path, "13", out=said.append) is False
    text = "\n".join(said)
    assert "builds on chapter 03" in text and "notebooks/03_remove_field.ipynb" in text, text
    said.clear()
    learner.run_check(tmp_path, "02", out=said.append)
    assert "builds on" not in "\n".join(said), "an exercise that builds on nothing says nothing"
