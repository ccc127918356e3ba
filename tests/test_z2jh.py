"""The room on Kubernetes (hub/z2jh/, docs/hosting.md#many-servers-kubernetes), without a cluster:
what `helm upgrade --install` gets from hub/z2jh/deploy.py (the chart's defaults, hub/z2jh/values.yaml,
the secrets file, the image, the kit's files) validates against the chart's OWN values schema
(Zero to JupyterHub 4.4.0, vendored in hub/z2jh/chart-4.4.0/: nothing is downloaded), and says
what the single-server hub says: the kit's image and command, its limits, culling, the same
sign-in class (loaded from hub/jupyterhub_config.py, run here on a stand-in JupyterHub), the
instructor as admin, the learner's folders on a volume of their own (and the init container that
fills a new one, run here with sh), the room board as a hub service; pre-pull and placeholders on;
and the sizing table in docs/hosting.md follows from the guarantees."""
from __future__ import annotations

import ast
import copy
import importlib.util
import json
import math
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import jsonschema
import pytest
import yaml
from traitlets.config import Config

KIT = Path(__file__).resolve().parent.parent
Z2JH = KIT / "hub" / "z2jh"
CHART_DIR = Z2JH / "chart-4.4.0"
SINGLE_SERVER_CONFIG = KIT / "hub" / "jupyterhub_config.py"
IMAGE = "registry.example.org/room/bigfoot-hub-singleuser:2026-12-07"


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


deploy = _module("bigfoot_z2jh_deploy", Z2JH / "deploy.py")
hub = _module("bigfoot_hub_for_z2jh", KIT / "hub" / "hub.py")
SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
CHART_DEFAULTS = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
VALUES = yaml.safe_load((Z2JH / "values.yaml").read_text())
SINGLE = ast.parse(SINGLE_SERVER_CONFIG.read_text())


def single_server(target: str):
    """The literal value hub/jupyterhub_config.py assigns to `target` (e.g. "c.DockerSpawner.cmd")."""
    for node in SINGLE.body:
        if isinstance(node, ast.Assign) and any(ast.unparse(t) == target for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{target} is not assigned in {SINGLE_SERVER_CONFIG}")


def helm_merge(base: dict, over: dict) -> dict:
    """Helm's coalescing of values: maps merge, anything else replaces, null deletes."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = helm_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def set_path(values: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        values = values.setdefault(p, {})
    values[last] = value


@pytest.fixture
def helm(tmp_path, monkeypatch, capsys):
    """deploy.py's helm command (--print: nothing runs) and the values helm would validate: the
    chart's defaults, then each --values file, --set-string and --set-file, in that order."""
    monkeypatch.setenv("HUB_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("HUB_CODE", "cedar-4821")
    assert deploy.main(["--image", IMAGE, "--print"]) == 0
    argv = shlex.split(capsys.readouterr().out)
    values, files = CHART_DEFAULTS, {}
    for flag, arg in zip(argv, argv[1:]):
        if flag == "--values":
            values = helm_merge(values, yaml.safe_load(Path(arg).read_text()))
    values = copy.deepcopy(values)
    for flag, arg in zip(argv, argv[1:]):
        if flag == "--set-string":
            set_path(values, *arg.split("=", 1))
        elif flag == "--set-file":
            key, path = arg.split("=", 1)
            files[key] = Path(path)
            set_path(values, key, Path(path).read_text())
    return types.SimpleNamespace(argv=argv, values=values, files=files, state=tmp_path / "state")


def schema_errors(values: dict) -> list[str]:
    validator = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(values)]


# ---- the chart's own schema ------------------------------------------------------------------------
def test_the_vendored_schema_is_chart_4_4_0s_and_its_own_defaults_pass_it():
    readme = (Z2JH / "README.md").read_text()
    assert "4.4.0" in readme and "5c5f5df751588a68a7781ead01d0f62e88e2e72f" in readme
    assert "BSD 3-Clause" in (CHART_DIR / "LICENSE").read_text()
    assert deploy.CHART_VERSION == "4.4.0"
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema_errors(CHART_DEFAULTS) == []


def test_what_helm_gets_passes_the_charts_values_schema(helm):
    assert schema_errors(helm.values) == []
    # `helm upgrade --install` of that chart version, with this values file
    argv = helm.argv
    assert argv[:3] == ["helm", "upgrade", "--install"]
    assert argv[argv.index("--version") + 1] == "4.4.0" and argv[argv.index("--repo") + 1] == deploy.CHART_REPO
    assert str(Z2JH / "values.yaml") in argv


def test_the_schema_is_enforced_on_these_values(helm):
    """Not a vacuous pass: the same values with a mistake, or without the kit's files (--set-file),
    fail the chart's schema."""
    wrong = copy.deepcopy(helm.values)
    wrong["singleuser"]["cpu"]["limit"] = "one core"
    assert any("singleuser.cpu.limit" in e for e in schema_errors(wrong))
    wrong = copy.deepcopy(helm.values)
    wrong["cull"]["timout"] = 3600
    assert any("timout" in e for e in schema_errors(wrong))
    without_files = helm_merge(CHART_DEFAULTS, VALUES)
    assert any(e.startswith("hub.extraFiles.bigfoot_board") for e in schema_errors(without_files))


# ---- the kit's room, as on one server -------------------------------------------------------------
def test_the_learners_pod_is_the_kits_image_and_command(helm):
    image = helm.values["singleuser"]["image"]
    assert VALUES["singleuser"]["image"]["name"].endswith("/" + hub.settings()["image"].split(":")[0])
    assert f"{image['name']}:{image['tag']}" == IMAGE
    assert helm.values["singleuser"]["cmd"] == single_server("c.DockerSpawner.cmd")
    assert helm.values["singleuser"]["uid"] == 10001 == helm.values["singleuser"]["fsGid"]
    csc = helm.values["hub"]["config"]["KubeSpawner"]["container_security_context"]
    assert csc["capabilities"] == {"drop": ["ALL"]} and csc["allowPrivilegeEscalation"] is False
    for bad in ("bigfoot-hub-singleuser:local", "registry.example.org/other:1", "registry.example.org/bigfoot-hub-singleuser"):
        with pytest.raises(SystemExit):
            deploy.split_image(bad)


def test_limits_are_the_single_servers_and_guarantees_cover_the_measured_peak(helm, monkeypatch):
    for var in ("HUB_MEM_LIMIT", "HUB_CPU_LIMIT", "HUB_CULL_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    s, su = hub.settings(), helm.values["singleuser"]
    assert su["memory"]["limit"] == s["mem_limit"] == "2G"
    assert su["cpu"]["limit"] == s["cpu_limit"] == 1.0
    assert 0 < su["cpu"]["guarantee"] <= su["cpu"]["limit"]
    gib = {"G": 1024, "M": 1}
    guarantee_mib = int(su["memory"]["guarantee"][:-1]) * gib[su["memory"]["guarantee"][-1]]
    assert peak_mib() <= guarantee_mib <= 2 * 1024


def test_idle_servers_are_culled_as_on_one_server(helm, monkeypatch):
    monkeypatch.delenv("HUB_CULL_TIMEOUT", raising=False)
    cull, timeout = helm.values["cull"], hub.settings()["cull_timeout"]
    assert cull["enabled"] is True and cull["timeout"] == timeout
    assert cull["every"] == max(60, min(600, timeout // 4))      # hub/jupyterhub_config.py's formula
    assert cull["users"] is False


def test_images_are_pre_pulled_and_placeholders_keep_seats_warm(helm):
    v = helm.values
    assert v["prePuller"]["hook"]["enabled"] and v["prePuller"]["continuous"]["enabled"]
    sched = v["scheduling"]
    assert sched["userPlaceholder"]["enabled"] and sched["userPlaceholder"]["replicas"] > 0
    assert sched["podPriority"]["enabled"], "placeholders are only preempted with pod priority on"
    assert sched["userScheduler"]["enabled"]


def learner_mounts(values: dict) -> dict:
    """The learner pod's volume mounts as the chart's jupyterhub_config.py builds them (dynamic
    storage, then extraVolumeMounts as a list)."""
    st = values["singleuser"]["storage"]
    name = st["dynamic"]["volumeNameTemplate"]
    mounts = {name: {"mountPath": st["homeMountPath"], "name": name, "subPath": st["dynamic"]["subPath"]}}
    for i, m in enumerate(st.get("extraVolumeMounts") or []):
        mounts[f"{i}-{m['name']}"] = m
    return mounts


def test_each_learner_keeps_the_single_servers_folders_on_a_volume_of_their_own(helm):
    st = helm.values["singleuser"]["storage"]
    assert st["type"] == "dynamic" and st["capacity"]
    volume = st["dynamic"]["volumeNameTemplate"]
    assert "{user_server}" in volume or "{username}" in volume          # one per learner
    on_volume = {m["mountPath"]: m["subPath"] for m in learner_mounts(helm.values).values() if m["name"] == volume}
    assert set(on_volume) == set(single_server("VOLUMES").values())     # exercises, notebooks, .lab
    assert len(set(on_volume.values())) == len(on_volume)               # each folder its own subPath
    # kept when the instructor deletes the user (a learner signing in again from another browser)
    assert helm.values["hub"]["config"]["KubeSpawner"]["delete_pvc"] is False


def chart_config(values: dict):
    """A stand-in for the chart's jupyterhub_config.py up to hub.extraConfig: `c` with what these
    values give KubeSpawner and the hub.config sections, and get_config."""
    c = Config()
    c.KubeSpawner.image = f"{values['singleuser']['image']['name']}:{values['singleuser']['image']['tag']}"
    c.KubeSpawner.volume_mounts = learner_mounts(values)
    c.KubeSpawner.init_containers = []
    for section, cfg in copy.deepcopy(values["hub"]["config"]).items():
        c[section].update(cfg)

    def get_config(key, default=None):
        v = values
        for part in key.split("."):
            if not isinstance(v, dict) or part not in v:
                return default
            v = v[part]
        return v
    return c, get_config


def run_extra_config(values: dict, key: str, paths: dict[str, str] | None = None):
    c, get_config = chart_config(values)
    code = values["hub"]["extraConfig"][key]
    for pod_path, here in (paths or {}).items():
        code = code.replace(pod_path, here)
    exec(compile(code, f"hub.extraConfig.{key}", "exec"), {"c": c, "get_config": get_config})
    return c


def test_sign_in_is_the_single_servers_authenticator_loaded_from_its_file(helm, monkeypatch):
    """hub.extraConfig takes WorkshopCodeAuthenticator from the file --set-file mounts (the kit's
    hub/jupyterhub_config.py), on a stand-in jupyterhub.authenticators.shared (the kit's venv has
    no JupyterHub): the class and the names it uses, nothing else of that file."""
    key = next(k for k, p in helm.files.items() if p == SINGLE_SERVER_CONFIG)
    mount = helm.values["hub"]["extraFiles"][key.split(".")[2]]["mountPath"]

    class SharedPasswordAuthenticator:
        pass
    for name in ("jupyterhub", "jupyterhub.authenticators"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    shared = types.ModuleType("jupyterhub.authenticators.shared")
    shared.SharedPasswordAuthenticator = SharedPasswordAuthenticator
    monkeypatch.setitem(sys.modules, "jupyterhub.authenticators.shared", shared)
    assert mount in helm.values["hub"]["extraConfig"]["10-bigfoot-sign-in"]
    c = run_extra_config(helm.values, "10-bigfoot-sign-in", {mount: str(SINGLE_SERVER_CONFIG)})

    cls = c.JupyterHub.authenticator_class
    assert cls.__name__ == "WorkshopCodeAuthenticator" and issubclass(cls, SharedPasswordAuthenticator)
    code = cls.authenticate.__code__
    assert code.co_filename == str(SINGLE_SERVER_CONFIG)
    g = cls.authenticate.__globals__
    assert {"NAME", "CLAIM_COOKIE", "CLAIM_DAYS", "web", "re"} <= set(g)
    assert not {"S", "STATE", "SECRETS", "DockerSpawner", "BOARD"} & set(g), "ran more than the class"
    assert g["NAME"].fullmatch("alice") and not g["NAME"].fullmatch("Alice Smith")
    # the instructor is the admin; the code and the password are in the secrets file only
    config = helm.values["hub"]["config"]
    assert config["Authenticator"]["admin_users"] == [hub.ADMIN]
    assert "SharedPasswordAuthenticator" not in VALUES["hub"]["config"]
    keys = json.loads((helm.state / "secrets.json").read_text())
    assert config["SharedPasswordAuthenticator"] == {"user_password": "cedar-4821",
                                                     "admin_password": keys["admin_password"]}
    assert (helm.state / "secrets.values.yaml").stat().st_mode & 0o777 == 0o600
    assert config["JupyterHub"]["authenticator_class"] != "dummy"


def test_a_new_learner_volume_is_filled_from_the_image_once(helm, tmp_path):
    c = run_extra_config(helm.values, "20-bigfoot-learner-volume")
    (init,) = [i for i in c.KubeSpawner.init_containers if i["name"] == "bigfoot-seed-volume"]
    assert init["image"] == IMAGE
    assert init["securityContext"]["runAsUser"] == 10001
    assert init["volumeMounts"] == [{"name": "volume-{user_server}", "mountPath": "/volume"}]
    script = init["command"][2]
    assert "{" not in script and "}" not in script      # KubeSpawner formats it ({username} etc.)
    # run it with sh: the image's folders and the volume in a temporary folder
    image, volume = tmp_path / "image", tmp_path / "volume"
    for sub, name in (("app/exercises/02", "plan.toml"), ("app/notebooks", "02.ipynb"), ("app/.lab/home", ".keep")):
        (image / sub).mkdir(parents=True)
        (image / sub / name).write_text(sub)
    volume.mkdir()
    local = script.replace(" /app/", f" {image}/app/").replace("/volume", str(volume))
    subprocess.run(["sh", "-c", local], check=True, timeout=30)
    assert (volume / "exercises" / "02" / "plan.toml").read_text() == "app/exercises/02"
    assert (volume / "notebooks" / "02.ipynb").exists() and (volume / "lab" / "home" / ".keep").exists()
    (volume / "exercises" / "02" / "plan.toml").write_text("the learner's edit")
    subprocess.run(["sh", "-c", local], check=True, timeout=30)
    assert (volume / "exercises" / "02" / "plan.toml").read_text() == "the learner's edit"


def test_the_room_board_is_a_hub_service_reachable_by_the_proxy_and_the_learners(helm):
    v = helm.values
    board = v["hub"]["services"]["board"]
    mounts = {k: f["mountPath"] for k, f in v["hub"]["extraFiles"].items()}
    sources = {k.split(".")[2]: p for k, p in helm.files.items()}
    assert sources["bigfoot_board"] == KIT / "hub" / "board.py"
    assert sources["bigfoot_board_model"] == KIT / "hub" / "board_model.py"
    # board.py imports board_model from its own folder
    assert Path(mounts["bigfoot_board"]).parent == Path(mounts["bigfoot_board_model"]).parent
    assert mounts["bigfoot_board"] in " ".join(board["command"])
    assert board["environment"]["BOARD_HIDE"] == hub.ADMIN
    assert board["environment"]["BOARD_STATE"].startswith("/srv/jupyterhub/")   # the hub's volume
    assert v["hub"]["db"]["type"] == "sqlite-pvc"
    assert board["oauth_no_confirm"] is True
    single_role = next(r for r in single_server("c.JupyterHub.load_roles") if r["name"] == "board")
    assert v["hub"]["loadRoles"]["board"]["scopes"] == single_role["scopes"]
    # one port: the service's url, the hub's Service, what the learners post to, the network policies
    port = int(board["url"].rsplit(":", 1)[1])
    assert f"0.0.0.0:{port}" in " ".join(board["command"])
    assert port in [p["port"] for p in v["hub"]["service"]["extraPorts"]]
    assert v["singleuser"]["extraEnv"]["BIGFOOT_BOARD_URL"] == f"{board['url']}/services/board/"
    for rules in (v["hub"]["networkPolicy"]["ingress"], v["singleuser"]["networkPolicy"]["egress"],
                  v["proxy"]["chp"]["networkPolicy"]["egress"]):
        assert any(p["port"] == port for r in rules for p in r["ports"])


# ---- docs/hosting.md's sizing table ---------------------------------------------------------------
def peak_mib() -> int:
    """The measured peak of a learner's container (docs/hosting.md, Measured), the highest figure."""
    row = next(l for l in (KIT / "docs" / "hosting.md").read_text().splitlines() if l.startswith("| its peak during"))
    return max(int(n) for n in re.findall(r"\d+", row.split("|")[2]))


def test_the_sizing_table_follows_from_the_guarantees(helm):
    """Learners per node = the lesser of (cores - 1) / CPU guarantee and (memory - 4 GiB) / memory
    guarantee (the headroom docs/hosting.md states), nodes for 100 learners plus the placeholders."""
    text = (KIT / "docs" / "hosting.md").read_text()
    su, placeholders = helm.values["singleuser"], helm.values["scheduling"]["userPlaceholder"]["replicas"]
    cpu_g, mem_g = su["cpu"]["guarantee"], int(su["memory"]["guarantee"].rstrip("G"))
    rows = re.findall(r"^\| (\d+) cores, (\d+) GiB \| (\d+) \| (\d+) \| \*\*(\d+)\*\* \| (\d+) \|$", text, re.M)
    assert [r[0] for r in rows] == ["8", "16", "32"], rows
    for cores, gib, by_cpu, by_mem, per_node, nodes in (map(int, r) for r in rows):
        assert by_cpu == math.floor((cores - 1) / cpu_g) and by_mem == math.floor((gib - 4) / mem_g)
        assert per_node == min(by_cpu, by_mem)
        assert nodes == math.ceil((100 + placeholders) / per_node)
