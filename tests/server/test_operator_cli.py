"""``lossatlas serve`` and ``lossatlas worker`` as an operator starts them: a configuration they cannot
run with (device, setting, data dir, port) is refused at start, in one line naming the fix, before
anything is claimed or created; an embedded worker that dies while the server runs is started again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from serverkit import ThreadServer, job_request, make_settings
from support import REPO, wait_for

from server.cli import main
from workers.jobqueue import JobQueue
from workers.zoo import list_models

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """A command as a process; one that is still running after ``timeout`` (a server that started when
    it should have refused) is killed and fails the test."""
    try:
        return subprocess.run(
            [sys.executable, *args],
            cwd=REPO,
            env={**ENV, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} was still running after {timeout} s instead of refusing to start")


def queued_job(data: Path) -> str:
    job, _ = JobQueue(data).submit("k", {}, {"model": "tinycnn"}, "s1", "surfaces/s1.h5", 9, 20)
    return job.id


@pytest.mark.parametrize(
    ("command", "device", "fix"),
    [
        (("-m", "server.cli", "worker"), "gpu", "use --device cuda for a GPU"),
        (("-m", "server.cli", "worker"), "cuda:99", "use --device cpu"),  # no such GPU, with CUDA or without
        (("-m", "workers.jobloop"), "mps", "use --device cpu or --device cuda"),  # serve's embedded worker
    ],
)
def test_a_worker_refuses_a_device_it_cannot_use_before_claiming(tmp_path: Path, command, device, fix):
    data = tmp_path / "data"
    job = queued_job(data)
    before = sorted(p.name for p in data.iterdir())
    done = run(*command, "--data-dir", str(data), "--device", device, "--once", "--threads", "1")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"device {device!r}" in lines[0] and fix in lines[0], done.stderr
    claimed = JobQueue(data).get(job)
    assert (claimed.state, claimed.attempts, claimed.worker) == ("queued", 0, None)  # left for a worker that can
    assert sorted(p.name for p in data.iterdir()) == before


@pytest.mark.parametrize(
    ("flags", "env"), [(("--device", "cuda:99"), {}), ((), {"LOSSATLAS_DEVICE": "gpu"})], ids=["flag", "environment"]
)
def test_serve_refuses_a_device_its_worker_cannot_use(tmp_path: Path, flags, env):
    """The embedded worker would exit (or fail every job) and jobs would wait forever: serve does not start."""
    data = tmp_path / "data"
    done = run("-m", "server.cli", "serve", "--data-dir", str(data), "--port", "0", *flags, env=env)
    assert done.returncode == 2
    assert done.stderr.startswith("lossatlas serve: error: device ") and done.stderr.count("\n") == 1, done.stderr
    assert "use --device" in done.stderr
    assert not data.exists()


@pytest.mark.parametrize(
    ("command", "env", "message"),
    [
        (
            "serve",
            {"LOSSATLAS_TOKEN": "short"},
            "the token (--token or LOSSATLAS_TOKEN) must have at least 8 characters",
        ),
        *[
            (
                "serve",
                {"LOSSATLAS_TOKEN": token},
                "the token (--token or LOSSATLAS_TOKEN) must be printable ASCII (letters, digits, punctuation, spaces) "
                'with no space at either end, as clients can send it in a header; for example: --token "$(openssl '
                'rand -hex 16)"',
            )
            for token in ("pässwort-123", " padded-token ", "tab\ttoken-123")
        ],
        (
            "serve",
            {"LOSSATLAS_MAX_POINTS": "abc"},
            "--max-points or LOSSATLAS_MAX_POINTS: Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "serve",
            {"LOSSATLAS_DATASETS": "{bad"},
            "LOSSATLAS_DATASETS is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
            '(char 1)); it must be a JSON object of {"name": {"kind": ..., "root": ...}}, for example '
            '{"cifar10": {"kind": "cifar10-jpeg", "root": "/data/cifar10-jpeg.tar.xz"}}',
        ),
        (
            "serve",
            {"LOSSATLAS_DATASETS": '["tiny"]'},
            'LOSSATLAS_DATASETS: must be a JSON object of {"name": {"kind": ..., "root": ...}}, for example '
            '{"cifar10": {"kind": "cifar10-jpeg", "root": "/data/cifar10-jpeg.tar.xz"}}',
        ),
        *[
            (
                "serve",
                {"LOSSATLAS_MODELS": models},
                'LOSSATLAS_MODELS: must be a JSON list of zoo model names, for example ["tinycnn", "resnet56"]',
            )
            for models in ("tinycnn", "tinycnn,resnet20", '"tinycnn"', '{"tinycnn": 1}')
        ],
        (
            "worker",
            {"LOSSATLAS_MODELS": '["tinycnn", "nosuch"]'},
            f"LOSSATLAS_MODELS: the zoo has no model 'nosuch'; choose from: {', '.join(list_models())}",
        ),
        (
            "serve",
            {"LOSSATLAS_MODELS": '["tinycnnn", "resnet56", "nosuch"]'},
            "LOSSATLAS_MODELS: the zoo has no model 'tinycnnn' (did you mean tinycnn?), 'nosuch'; choose from: "
            + ", ".join(list_models()),
        ),
        ("worker", {"LOSSATLAS_LEASE_S": "-1"}, "LOSSATLAS_LEASE_S: Input should be greater than 0"),
    ],
)
def test_a_bad_setting_is_named_as_the_operator_gives_it(tmp_path: Path, monkeypatch, capsys, command, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as e:
        main([command, "--data-dir", str(tmp_path / "data")])
    assert e.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"lossatlas {command}: error: {message}"), lines
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_data_dir_that_cannot_be_created_is_refused_in_one_line(tmp_path: Path, capsys, command):
    (tmp_path / "file").write_text("in the way")
    data = tmp_path / "file" / "data"
    with pytest.raises(SystemExit) as e:
        main(
            [command, "--data-dir", str(data), *(["--no-worker", "--port", "0"] if command == "serve" else ["--once"])]
        )
    assert e.value.code == 2
    option = "--data-dir (or LOSSATLAS_DATA_DIR)" if command == "serve" else "--data-dir"
    assert capsys.readouterr().err.splitlines() == [
        f"lossatlas {command}: error: the data directory {data} cannot be created (Not a directory); choose another {option}"
    ]


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path, capsys):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as e:
            main(["serve", "--data-dir", str(tmp_path / "data"), "--port", str(port)])
    assert e.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"lossatlas serve: error: cannot listen on 127.0.0.1 port {port} (Address already in use); "
        "choose another --port (or LOSSATLAS_PORT) or --host"
    ]
    assert not any(tmp_path.iterdir())  # no data dir, no embedded worker


def embedded_workers(data: Path) -> list[int]:
    """Pids of the live worker processes this test process started on ``data`` (from /proc)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
            state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        ours = b"workers.jobloop" in args and str(data).encode() in args and str(os.getpid()).encode() in args
        if ours and state not in ("Z", "X"):
            pids.append(int(cmdline.parent.name))
    return pids


def test_serve_starts_its_worker_again_when_it_dies(tmp_path: Path, tiny_npz: Path):
    """A worker killed (for memory, say) while the server runs: jobs do not wait forever, another starts."""
    settings = make_settings(tmp_path / "data", tiny_npz, embedded_worker=True, worker_threads=1)
    with ThreadServer(settings) as server, server.client() as c:
        [first] = wait_for(lambda: embedded_workers(settings.data_dir), 20, 0.1, "the embedded worker")
        os.kill(first, signal.SIGKILL)
        job = c.post("/api/jobs", json=job_request(x="-1:1:3", y="-1:1:3")).json()
        wait_for(lambda: c.get(f"/api/jobs/{job['id']}").json()["state"] == "done", 90, 0.2, "the job to be done")
        assert len(embedded_workers(settings.data_dir)) == 1 and first not in embedded_workers(settings.data_dir)
    wait_for(lambda: not embedded_workers(settings.data_dir), 30, 0.2, "the worker to stop with the server")
