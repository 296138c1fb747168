"""Ids that are the start of a hash: an imported surface's (``<name>-<sha256[:8]>``), a job's surface
(``<model>-<dataset>-<key[:10]>``), a checkpoint's (``sha256[:16]``). Two different files or requests whose
hashes start alike must not share one: the second used to replace the first imported surface, write
into the first job's surface and retitle it, and be answered the first checkpoint as if it were itself."""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import torch
from serverkit import TOKEN, ThreadServer, job_request, make_settings

from server import uploads
from server.catalog import write_meta
from server.jobspec import build_spec, request_key, surface_ids_for
from server.schemas import JobRequest
from server.uploads import CheckpointStore
from workers.checkpoints import load_model
from workers.h5io import Surface, write_surface
from workers.jobloop import Worker
from workers.jobqueue import JobQueue


def _starting_alike(tmp_path: Path) -> tuple[bytes, bytes]:
    """Two surface files that differ only in a 16-digit attribute, whose sha256 start with the same 8 hex
    digits: a birthday search (about 80,000 hashes; deterministic)."""
    placeholder = b"0" * 16
    xs = np.linspace(-1, 1, 3)
    attrs = {"variant": placeholder.decode()}
    write_surface(tmp_path / "v.h5", Surface(xs, None, {"train_loss": xs**2}, np.ones(3, dtype=bool), {}, attrs))
    data = (tmp_path / "v.h5").read_bytes()
    at = data.index(placeholder)
    assert data.count(placeholder) == 1
    head, tail = hashlib.sha256(data[:at]), data[at + 16 :]
    seen: dict[bytes, int] = {}
    for i in range(2**20):
        h = head.copy()
        h.update(b"%016d" % i)
        h.update(tail)
        start = h.digest()[:4]
        if start in seen:
            return tuple(data[:at] + b"%016d" % n + tail for n in (seen[start], i))
        seen[start] = i
    raise AssertionError("no two hashes started alike")


def test_an_imported_file_whose_id_is_another_files_gets_a_longer_one(tmp_path: Path, tiny_npz: Path):
    first, second = _starting_alike(tmp_path)
    sha = [hashlib.sha256(f).hexdigest() for f in (first, second)]
    assert sha[0][:8] == sha[1][:8] and sha[0] != sha[1]
    with ThreadServer(make_settings(tmp_path / "data", tiny_npz, token=TOKEN)) as server, server.client(TOKEN) as c:
        a = c.post("/api/surfaces/import", files={"file": ("same name.h5", first)})
        b = c.post("/api/surfaces/import", files={"file": ("same name.h5", second)})
        assert (a.status_code, a.json()["id"]) == (201, f"same-name-{sha[0][:8]}")
        assert (b.status_code, b.json()["id"]) == (201, f"same-name-{sha[1][:16]}")
        assert c.get(f"/api/surfaces/{a.json()['id']}/file").content == first  # not replaced
        assert c.get(f"/api/surfaces/{b.json()['id']}/file").content == second
        again = c.post("/api/surfaces/import", files={"file": ("other name.h5", second)})
        assert (again.status_code, again.json()) == (200, b.json())  # the same file: that surface
        listed = [s["id"] for s in c.get("/api/surfaces").json()["surfaces"] if s["source"] == "user"]
        assert sorted(listed) == sorted([a.json()["id"], b.json()["id"]])


def test_a_job_whose_surface_id_is_another_requests_gets_a_longer_one(tmp_path: Path, tiny_npz: Path):
    """The other request's key is forged to start as this one's (two real keys do so once in 2^40 pairs):
    its job is queued first, with its title; this request's job gets a surface of its own."""
    settings = make_settings(tmp_path / "data", tiny_npz)
    small = {"samples": 10, "x": "-1:1:2", "y": None}
    mine = job_request(name="mine", **small)
    theirs = JobRequest(**job_request(sample_seed=7, name="theirs", **small))
    spec, _, _ = build_spec(theirs, settings, CheckpointStore(settings.checkpoints_dir))
    key = request_key(JobRequest(**mine), None)
    forged = key[:10] + ("0" if key[10] != "0" else "1") + key[11:]
    taken = surface_ids_for(JobRequest(**mine), key)[0]
    path = settings.surfaces_dir / f"{taken}.h5"
    settings.surfaces_dir.mkdir(parents=True)
    queue = JobQueue(settings.data_dir)
    other, _ = queue.submit(
        forged,
        theirs.model_dump(mode="json"),
        spec.model_dump(mode="json"),
        taken,
        path.relative_to(settings.data_dir).as_posix(),
        spec.num_points,
        10,
        on_queued=lambda: write_meta(path, "theirs", "tiny"),
    )
    with ThreadServer(settings) as server, server.client() as c:
        job = c.post("/api/jobs", json=mine).json()
        assert job["surface_id"] == f"tinycnn-tiny-{key[:20]}" != other.surface_id
        assert c.post("/api/jobs", json=mine).json()["surface_id"] == job["surface_id"]  # asked again: the same
        Worker(queue, "w-ids").run(once=True)
        states = {j["id"]: (j["state"], j["error"]) for j in c.get("/api/jobs").json()["jobs"]}
        assert states == {other.id: ("done", None), job["id"]: ("done", None)}
        titles = {s["id"]: s["name"] for s in c.get("/api/surfaces").json()["surfaces"]}
        assert titles == {other.surface_id: "theirs", job["surface_id"]: "mine"}


def test_a_checkpoint_whose_id_is_another_files_is_refused(tmp_path: Path, tiny_npz: Path):
    """A record of another file under this file's id (its sha256 starting alike: 1 in 2^64) stands for the
    coincidence: the upload is refused, not answered as that other checkpoint."""
    torch.save(load_model("tinycnn", None).state_dict(), tmp_path / "w.pt")
    data = (tmp_path / "w.pt").read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    other = sha[:16] + "0" * 48
    settings = make_settings(tmp_path / "data", tiny_npz)
    settings.checkpoints_dir.mkdir(parents=True)
    (settings.checkpoints_dir / f"{sha[:16]}.pt").write_bytes(b"the other file")
    record = settings.checkpoints_dir / f"{sha[:16]}.json"
    record.write_text(json.dumps({"sha256": other, "model": "tinycnn", "name": "other.pt"}))
    with ThreadServer(settings) as server, server.client() as c:
        r = c.post("/api/checkpoints", files={"file": ("w.pt", data)}, data={"model": "tinycnn"})
        assert (r.status_code, r.json()) == (
            409,
            {
                "detail": f"checkpoint id {sha[:16]} (the start of a file's sha256) is another file's already "
                f"(sha256 {other}, this one's {sha}): a 1 in 2^64 coincidence; this file cannot be uploaded"
            },
        )
    assert json.loads(record.read_text())["sha256"] == other
    assert (settings.checkpoints_dir / f"{sha[:16]}.pt").read_bytes() == b"the other file"


def _tinycnn_checkpoints(tmp_path: Path, seeds: tuple[int, ...]) -> list[bytes]:
    files = []
    for seed in seeds:
        torch.manual_seed(seed)
        torch.save(load_model("tinycnn", None).state_dict(), tmp_path / f"w{seed}.pt")
        files.append((tmp_path / f"w{seed}.pt").read_bytes())
    return files


def _uploaded_at_once(monkeypatch, server: ThreadServer, files: list[bytes], rounds: int):
    """Each round, ``files`` (two) uploaded at the same moment under one id, ``0..0<round>``: the ids collide
    (forced: 1 in 2^64 for real) and both uploads look at the id before either takes it. Yields each round's
    id and answers (in the order of ``files``)."""
    round_id = [""]
    both_looked, looked = threading.Barrier(2, timeout=60), threading.local()
    real_get = CheckpointStore.get

    def get_then_wait(store: CheckpointStore, cid: str):  # each upload's first look: both find the id free
        found = real_get(store, cid)
        if cid == round_id[0] and getattr(looked, "at", None) != cid:
            looked.at = cid
            both_looked.wait()
        return found

    monkeypatch.setattr(uploads, "checkpoint_id", lambda sha256: round_id[0])
    monkeypatch.setattr(CheckpointStore, "get", get_then_wait)
    with server.client() as c:

        def upload(i: int) -> httpx.Response:
            return c.post("/api/checkpoints", files={"file": (f"w{i}.pt", files[i])}, data={"model": "tinycnn"})

        for n in range(rounds):  # the two uploads' timing after their look varies
            round_id[0] = f"{n:016x}"
            with ThreadPoolExecutor(2) as pool:
                yield round_id[0], list(pool.map(upload, (0, 1)))


def test_two_files_uploaded_at_once_under_one_id_keep_their_own_bytes(tmp_path: Path, tiny_npz: Path, monkeypatch):
    """Two different files whose ids collide, uploaded at the same moment: both found the id free, both
    moved their file in, and the first record named whichever file came last; the other upload was answered
    that checkpoint as if it were itself. Now the first to claim the id holds it with its own bytes, and
    the other is refused (409)."""
    files = _tinycnn_checkpoints(tmp_path, (1, 2))
    sha = {hashlib.sha256(f).hexdigest(): f for f in files}
    settings = make_settings(tmp_path / "data", tiny_npz)
    with ThreadServer(settings) as server:
        for cid, answers in _uploaded_at_once(monkeypatch, server, files, rounds=4):
            assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
            won, lost = sorted(answers, key=lambda r: r.status_code)
            held = (settings.checkpoints_dir / f"{cid}.pt").read_bytes()
            record = json.loads((settings.checkpoints_dir / f"{cid}.json").read_text())
            assert hashlib.sha256(held).hexdigest() == record["sha256"] == won.json()["sha256"]
            assert sha[record["sha256"]] == held
            other = next(s for s in sha if s != record["sha256"])
            assert lost.json() == {
                "detail": f"checkpoint id {cid} (the start of a file's sha256) is another file's already "
                f"(sha256 {record['sha256']}, this one's {other}): a 1 in 2^64 coincidence; this file cannot be uploaded"
            }
    assert list(settings.uploads_dir.iterdir()) == []


def test_one_file_uploaded_twice_at_once_is_one_checkpoint(tmp_path: Path, tiny_npz: Path, monkeypatch):
    """The same file uploaded twice at the same moment: the second finds the id's file holding the same bytes;
    both are answered the one checkpoint, recorded by the first to finish (201, then 200)."""
    (data,) = _tinycnn_checkpoints(tmp_path, (1,))
    settings = make_settings(tmp_path / "data", tiny_npz)
    with ThreadServer(settings) as server:
        for cid, answers in _uploaded_at_once(monkeypatch, server, [data, data], rounds=2):
            assert sorted(r.status_code for r in answers) == [200, 201], [r.text for r in answers]
            assert answers[0].json() == answers[1].json()
            assert answers[0].json()["sha256"] == hashlib.sha256(data).hexdigest()
            assert (settings.checkpoints_dir / f"{cid}.pt").read_bytes() == data
            assert answers[0].json()["name"] in ("w0.pt", "w1.pt")
    assert list(settings.uploads_dir.iterdir()) == []
