"""``lossatlas``: the engine's subcommands (workers/cli.py) plus ``serve`` and ``worker``."""

from __future__ import annotations

import argparse
import sys

from workers import add_worker_arguments, run_worker
from workers import cli as engine_cli

from .settings import Settings

# flag -> Settings field; a flag left out keeps the environment's (LOSSATLAS_*) or the default value
_SERVE_FLAGS = {
    "host": "host",
    "port": "port",
    "data_dir": "data_dir",
    "token": "token",
    "max_points": "max_points",
    "max_samples": "max_samples",
    "max_queued_jobs": "max_queued_jobs",
    "max_upload_mb": "max_upload_mb",
    "threads": "worker_threads",
}


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def settings_from_args(args: argparse.Namespace) -> Settings:
    given = {
        field: getattr(args, flag) for flag, field in _SERVE_FLAGS.items() if getattr(args, flag, None) is not None
    }
    if getattr(args, "no_worker", False):
        given["embedded_worker"] = False
    return Settings(**given)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .serving import uvicorn_config

    settings = settings_from_args(args)
    where = "local only" if settings.host in ("127.0.0.1", "localhost", "::1") else "reachable from the network"
    print(
        f"lossatlas: serving http://{settings.host}:{settings.port}/ ({where}; data in {settings.data_dir})",
        file=sys.stderr,
        flush=True,
    )
    if where == "local only":
        print("lossatlas: to share it, use --host 0.0.0.0 together with --token", file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()
    return 0


def run_worker_command(args: argparse.Namespace) -> int:
    if args.data_dir is None or args.lease is None or args.poll is None:
        settings = Settings()
        args.data_dir = args.data_dir or str(settings.data_dir)
        args.lease = args.lease if args.lease is not None else settings.lease_s
        args.poll = args.poll if args.poll is not None else settings.poll_s
    return run_worker(args)


def build_parser() -> argparse.ArgumentParser:
    parser = engine_cli.build_parser()
    sub = _subparsers(parser)
    p = sub.add_parser(
        "serve",
        help="run the API, the viewer and one worker",
        description="Serve the REST API and the viewer, with one embedded worker. "
        "Every option can also come from LOSSATLAS_<NAME> environment variables.",
    )
    p.add_argument("--host", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--data-dir", help="jobs, computed and imported surfaces (default ~/.local/share/lossatlas)")
    p.add_argument("--token", help="bearer token required by write endpoints")
    p.add_argument("--max-points", type=int, help="grid points per job")
    p.add_argument("--max-samples", type=int, help="samples per split per job")
    p.add_argument("--max-queued-jobs", type=int, help="jobs queued or running at once")
    p.add_argument("--max-upload-mb", type=int, help="largest upload")
    p.add_argument("--threads", type=int, help="torch threads of the embedded worker")
    p.add_argument("--no-worker", action="store_true", help="run no embedded worker (use `lossatlas worker`)")
    p.set_defaults(func=run_serve)
    w = sub.add_parser(
        "worker",
        help="run a job worker on a data directory (start any number)",
        description="Claim and compute surface jobs queued by `lossatlas serve`.",
    )
    add_worker_arguments(w, defaults_elsewhere=True)
    w.set_defaults(func=run_worker_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    return engine_cli.main(argv, parser=build_parser())


if __name__ == "__main__":
    sys.exit(main())
