"""The wheel is a real package (#16): built from this tree, installed into a fresh virtual environment,
it serves the viewer (with its three.js files) and the gallery, and lists the gallery from the CLI.

The fresh environment gets the dependencies (torch ...) from the running one through a ``.pth`` line
instead of a multi-gigabyte reinstall; lossatlas itself comes only from the wheel (checked).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import httpx
import pytest
from support import REPO, serving

THREE = REPO / "frontend" / "node_modules" / "three" / "build" / "three.module.js"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not THREE.exists(), reason="three.js is not installed (cd frontend && npm ci)"),
]


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding lossatlas from a wheel built here; returns its bin directory."""
    tmp = tmp_path_factory.mktemp("wheel")
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", REPO)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("lossatlas-*.whl")
    venv.EnvBuilder(with_pip=False).create(tmp / "venv")
    python = tmp / "venv" / "bin" / "python"
    done = run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel, env=clean_env())
    assert done.returncode == 0, done.stderr
    # then torch & co. from this environment (after the install: pip would take its lossatlas for installed)
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "outer_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return tmp / "venv" / "bin"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("LOSSATLAS_")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def test_the_installed_package_is_the_wheel_and_knows_its_version(installed, tmp_path):
    code = "import workers, server.cli; print(workers.__file__, server.cli.__file__); server.cli.main(['--version'])"
    where = run(installed / "python", "-c", code, cwd=tmp_path, env=clean_env())
    assert where.returncode == 0, where.stderr
    files, version = where.stdout.splitlines()
    assert all(p.startswith(str(installed.parent)) for p in files.split()), files
    assert version.startswith("lossatlas 0.1.0 ")


def test_the_installed_gallery_is_listed(installed, tmp_path):
    listed = run(installed / "lossatlas", "gallery", "list", cwd=tmp_path, env=clean_env())
    assert listed.returncode == 0, listed.stderr
    index = json.loads((REPO / "precomputed" / "index.json").read_text())
    states = dict(line.split()[::2] for line in listed.stdout.splitlines())
    assert {e["id"] for e in index["entries"]} <= set(states)
    assert all(states[e["id"]] == "complete" for e in index["entries"])


def test_the_installed_server_serves_the_viewer_its_three_js_and_the_gallery(installed, tmp_path):
    with serving([installed / "lossatlas"], tmp_path / "data", cwd=tmp_path, env=clean_env()) as (_, url):
        page = httpx.get(url + "/", timeout=5)
        assert page.status_code == 200 and "not installed" not in page.text
        assert '"three": "/static/node_modules/three/build/three.module.js"' in page.text
        # every module the page loads, and every three.js file those modules import
        scripts = {p.name for p in (REPO / "frontend").glob("*.js")}
        assert set(re.findall(r'src="/static/([^"]+\.js)"', page.text)) <= scripts
        addons = {
            f"node_modules/three/examples/jsm/{m}"
            for js in (REPO / "frontend").glob("*.js")
            for m in re.findall(r"from 'three/addons/([^']+)'", js.read_text())
        }
        core = {f"node_modules/three/build/{m}" for m in re.findall(r"from '\./(three\.[a-z.]+js)'", THREE.read_text())}
        for path in scripts | addons | core | {"node_modules/three/build/three.module.js", "style.css"}:
            r = httpx.get(f"{url}/static/{path}", timeout=5)
            assert r.status_code == 200 and r.content == (REPO / "frontend" / path).read_bytes(), path
        assert scripts and addons and core
        docs = httpx.get(url + "/docs", timeout=5).text  # Swagger UI from the wheel's files, not a CDN
        assets = re.findall(r"""(?:src|href)=['"]([^'"]+\.(?:js|css))['"]""", docs)
        assert len(assets) == 2 and not re.search(r"https?://", docs)
        for path in assets:
            r = httpx.get(url + path, timeout=5)
            assert (
                r.status_code == 200 and r.content == (REPO / "frontend" / path.removeprefix("/static/")).read_bytes()
            )
        share = installed.parent / "share" / "lossatlas" / "frontend"
        assert (share / "index.html").is_file() and not list(share.glob("eslint.config.*"))  # dev tooling stays out
        surfaces = httpx.get(url + "/api/surfaces", timeout=5).json()["surfaces"]
        gallery = [s for s in surfaces if s["source"] == "gallery"]
        index = json.loads((REPO / "precomputed" / "index.json").read_text())
        assert len(gallery) == len(index["entries"])
        mesh = httpx.get(f"{url}/api/surfaces/{gallery[0]['id']}", timeout=5)
        assert mesh.status_code == 200 and mesh.json()["complete"]
        # the gallery's weights and training paths are offered to new jobs, as from a checkout
        offered = httpx.get(url + "/api/checkpoints", timeout=5).json()
        kept = REPO / "precomputed"
        assert {p.stem for p in (kept / "checkpoints").glob("*.pt")} <= {c["id"] for c in offered["gallery"]}
        assert {d.name for d in (kept / "runs").iterdir()} == {r["id"] for r in offered["runs"]}
