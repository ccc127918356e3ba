"""Security defaults of the lab, asserted on the running processes."""
import json
import re
import subprocess
import sys
import time
import http.client
from pathlib import Path
from urllib.parse import urlencode

import psutil
import pytest

from lab.exercises import fresh_lab

KIT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lab_with_jupyter():
    with fresh_lab() as lab:
        lab.up(jupyter=True)
        yield lab


def listening(lab):
    addrs = []
    for p in lab.processes():
        try:
            addrs += [(p.name(), c.laddr.ip, c.laddr.port) for c in p.net_connections("inet")
                      if c.status == psutil.CONN_LISTEN]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return addrs


def test_everything_listens_on_loopback_only(lab_with_jupyter):
    lab = lab_with_jupyter
    addrs = listening(lab)
    ports = {port for _, _, port in addrs}
    expected = {lab.cfg.proxy_port, lab.cfg.db_port, lab.cfg.jupyter_port} | {s.port for s in lab.cfg.slots}
    assert expected <= ports, addrs
    assert {ip for _, ip, _ in addrs} == {"127.0.0.1"}, addrs


def get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    return r.status, r.read().decode(errors="replace")


def test_jupyterlab_needs_its_token(lab_with_jupyter):
    lab = lab_with_jupyter
    token = json.loads(lab.cfg.secrets_file.read_text())["jupyter_token"]
    assert len(token) >= 32
    assert get(lab.cfg.jupyter_port, "/api/contents")[0] == 403
    assert get(lab.cfg.jupyter_port, "/api/contents?token=wrong")[0] == 403
    assert get(lab.cfg.jupyter_port, f"/api/contents?token={token}")[0] == 200


def test_slots_run_with_debug_off(lab):
    status, body = get(lab.cfg.proxy_port, "/no-such-page/")
    assert status == 404
    assert "URLconf" not in body and "Traceback" not in body   # Django's debug 404 page would show these
    for s in lab.cfg.slots:
        env = psutil.Process(lab.slots.pid(s.name)).environ()
        assert env["DEBUG"] == "0" and env["ALLOWED_HOSTS"] == "127.0.0.1,localhost"


def test_secret_key_is_random_per_lab_and_kept_out_of_git(lab, tmp_path):
    stored = json.loads(lab.cfg.secrets_file.read_text())
    assert oct(lab.cfg.secrets_file.stat().st_mode & 0o777) == "0o600"
    key = psutil.Process(lab.slots.pid("blue")).environ()["SECRET_KEY"]
    assert key == stored["secret_key"] and len(key) >= 50
    from lab.config import lab_secrets, load_config
    s1, s2 = lab_secrets(load_config(tmp_path / "one")), lab_secrets(load_config(tmp_path / "two"))
    assert s1["secret_key"] != s2["secret_key"] and s1["admin_password"] != s2["admin_password"]
    ignored = subprocess.run(["git", "check-ignore", "-q", ".lab/secrets.json"], cwd=KIT)
    assert ignored.returncode == 0, ".lab/ must be git-ignored"


# spelled so that this file doesn't match itself
BEGIN, PRIVATE_KEY = "-" * 5 + "BEGIN", "PRIVATE" + " KEY"


def test_no_secret_in_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=KIT, capture_output=True, text=True).stdout.split()
    leaks = []
    for f in files:
        p = KIT / f
        if not p.is_file() or p.suffix in (".png", ".ipynb"):
            continue
        text = p.read_text(errors="ignore")
        if BEGIN in text and PRIVATE_KEY in text:
            leaks.append(f"{f}: a private key")
        for m in re.finditer(r"(?i)(secret_key|password|token)\s*[=:]\s*['\"]([^'\"]{16,})['\"]", text):
            if "insecure" not in m.group(2) and "not-secret" not in m.group(2) and "{" not in m.group(2):
                leaks.append(f"{f}: {m.group(0)[:60]}")
    assert not leaks, leaks


def test_admin_password_is_printed_once_and_works(tmp_path):
    from lab import Lab
    from lab.exercises import free_port_base
    lines = []
    lab = Lab(home=tmp_path / "lab", port_base=free_port_base(), log=lines.append)
    try:
        lab.up()
        password = json.loads(lab.cfg.secrets_file.read_text())["admin_password"]
        assert sum(password in l for l in lines) == 1
        lines.clear()
        lab.down()
        lab.up()
        assert not any(password in l for l in lines), "the admin password must be shown only once"
        # and it logs in to the Django admin through nginx
        c = http.client.HTTPConnection("127.0.0.1", lab.cfg.proxy_port, timeout=10)
        c.request("GET", "/admin/login/")
        r = c.getresponse()
        html = r.read().decode()
        cookie = r.getheader("Set-Cookie").split(";")[0]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        c.request("POST", "/admin/login/?next=/admin/", body=urlencode(
            {"csrfmiddlewaretoken": token, "username": "admin", "password": password, "next": "/admin/"}),
            headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded",
                     "Referer": lab.url + "/admin/login/"})
        r = c.getresponse()
        r.read()
        assert r.status == 302 and r.getheader("Location") == "/admin/"
    finally:
        lab.down()


def test_docker_topology_publishes_on_loopback_only():
    compose = (KIT / "docker-compose.yml").read_text()
    published = re.findall(r'^\s*-\s*"?([^"\s]+:\d+(?::\d+)?)"?\s*$', compose, re.M)
    ports = [p for p in published if re.match(r"^[\d.]*:?\$?\{?[\w:-]*\}?:?\d+", p) and p.count(":") >= 1]
    assert ports, "docker-compose.yml publishes no port?"
    assert all(p.startswith("127.0.0.1:") for p in ports), ports
