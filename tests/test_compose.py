"""docker-compose.yml, the Dockerfile and .dockerignore, checked without a Docker daemon: the compose file
against the Compose specification's JSON schema (and ``docker compose config`` where it exists), and
what the stack promises: a Ray head, scalable Ray workers, a GPU variant, healthchecks, one data volume,
an image that installs the viewer's three.js. tests/server/test_ray_jobs.py runs its commands."""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shutil
import subprocess
from importlib import resources

import pytest
from support import REPO

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")


def load_compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def compose_schema() -> dict:
    """The Compose specification's schema as vendored by check-jsonschema (a test dependency)."""
    pytest.importorskip("check_jsonschema")
    return json.loads((resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json").read_text())


def test_compose_file_follows_the_compose_schema():
    schema, compose = compose_schema(), load_compose()
    jsonschema.validate(compose, schema)
    broken = copy.deepcopy(compose)  # the schema does catch a misspelled key
    broken["services"]["server"]["healthchek"] = broken["services"]["server"].pop("healthcheck")
    with pytest.raises(jsonschema.ValidationError, match="healthchek"):
        jsonschema.validate(broken, schema)


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="no docker compose here",
)
def test_docker_compose_config_accepts_the_file():
    env = {"RAY_AUTH_TOKEN": "0123456789abcdef", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    proc = subprocess.run(
        ["docker", "compose", "--profile", "gpu", "config", "--quiet"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_stack_is_a_ray_head_scalable_workers_a_gpu_variant_and_the_server():
    services = load_compose()["services"]
    assert set(services) == {"ray-head", "ray-worker", "ray-worker-gpu", "server"}
    head = services["ray-head"]["command"]
    port = head[head.index("--port") + 1]
    assert head[:3] == ["ray", "start", "--head"] and head[head.index("--num-cpus") + 1] == "0"
    for name in ("ray-worker", "ray-worker-gpu"):
        worker = services[name]
        assert worker["command"][:4] == ["ray", "start", "--address", f"ray-head:{port}"]
        assert worker["depends_on"]["ray-head"]["condition"] == "service_healthy"
    assert services["ray-worker"]["deploy"]["replicas"] == "${RAY_WORKERS:-2}"
    gpu = services["ray-worker-gpu"]
    assert gpu["profiles"] == ["gpu"] and "whl/cu" in gpu["build"]["args"]["TORCH_INDEX"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    server = services["server"]
    assert server["environment"]["LOSSATLAS_RAY_ADDRESS"] == f"ray-head:{port}"
    assert f"ray start --address ray-head:{port} --num-cpus 0 && exec lossatlas serve" in server["command"][-1]
    assert "data:/data" in server["volumes"] and "data" in load_compose()["volumes"]
    for name, service in services.items():  # every node shares the cluster's secret and reports its health
        assert service["environment"]["RAY_AUTH_MODE"] == "token", name
        assert service["environment"]["RAY_AUTH_TOKEN"].startswith("${RAY_AUTH_TOKEN:?"), name
        assert service["healthcheck"]["test"][0] == "CMD", name


def _dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions ``(KEYWORD, arguments)`` per stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), args.strip()))
    return stages


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)


def test_image_installs_three_js_and_copies_only_what_exists_and_is_not_ignored():
    viewer, app = _dockerfile_stages()
    assert viewer[0][1].startswith("node:") and viewer[0][1].endswith(" AS viewer")
    assert ("RUN", "npm ci --no-audit --no-fund --ignore-scripts") in viewer  # the lock file's versions, no scripts
    assert ("COPY", "--from=viewer /viewer/node_modules ./frontend/node_modules") in app
    index = (REPO / "frontend" / "index.html").read_text()
    assert "node_modules/three/build/three.module.js" in index  # what the page loads is what npm ci installs
    assert any(k == "RUN" and "pip install" in a and "'.[ray]'" in a for k, a in app)
    ignore = [p for p in (REPO / ".dockerignore").read_text().splitlines() if p and not p.startswith("#")]
    for p in ("frontend/node_modules", ".venv", ".git", "tests"):
        assert _ignored(p, ignore), p
    for keyword, args in viewer + app:
        if keyword != "COPY" or args.startswith("--from"):
            continue
        *sources, _ = args.split()
        for source in sources:
            assert (REPO / source).exists(), f"the Dockerfile copies {source}, which the repository lacks"
            assert not _ignored(source, ignore), f"the Dockerfile copies {source}, which .dockerignore leaves out"


def _pins(lines: list[str]) -> dict[str, str]:
    """``name==version`` lines as {normalized name: version}."""
    pins = {}
    for line in lines:
        name, sep, version = line.strip().partition("==")
        if sep and not line.lstrip().startswith("#"):
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_image_pins_what_constraints_txt_pins_less_the_cuda_build_and_its_cuda_matches_the_gpu_index():
    """The image installs with constraints.txt filtered by the Dockerfile's own grep: every runtime package
    (pyproject's dependencies and the ray extra) stays pinned, every CUDA library goes (the CPU or CUDA index
    brings its own), and the GPU index named in docker-compose.yml is the CUDA of the pinned torch build."""
    tomllib = pytest.importorskip("tomllib")
    _, app = _dockerfile_stages()
    run = next(a for k, a in app if k == "RUN" and "constraints.txt" in a)
    pattern = re.search(r"grep -vE '([^']+)' constraints\.txt", run).group(1)
    lines = (REPO / "constraints.txt").read_text().splitlines()
    kept = _pins([line for line in lines if not re.search(pattern, line)])
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["ray"]
    for requirement in wanted:
        name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()
        assert name in kept, f"the image would install {name} unpinned: constraints.txt lacks it or the grep drops it"
    assert not [n for n in kept if n.startswith(("nvidia-", "cuda-")) or n == "triton"], kept
    cuda = _pins(lines)["nvidia-cuda-runtime"].split(".")  # the CUDA the pinned torch build was made for
    gpu_index = load_compose()["services"]["ray-worker-gpu"]["build"]["args"]["TORCH_INDEX"]
    assert gpu_index.endswith(f"/whl/cu{cuda[0]}{cuda[1]}"), (gpu_index, cuda)
    assert f"/whl/cu{cuda[0]}{cuda[1]}" in (REPO / "Dockerfile").read_text()  # the build comment says the same
