"""``lossatlas``: the engine's subcommands (workers/cli.py) plus ``serve`` and ``worker``."""

# ruff: noqa: E402 (the start-up's Ctrl-C handler comes before the imports it covers)
from __future__ import annotations

import os
import signal
import sys
import threading


def _interrupted_while_starting(signum: int, frame: object) -> None:
    """Ctrl-C while the modules below import (torch takes seconds on a loaded machine): one line and exit
    status 130, not a KeyboardInterrupt traceback through the import machinery. Nothing has run yet."""
    os.write(2, b"\r" * os.isatty(2) + b"lossatlas: interrupted while starting; nothing was done\n")
    os._exit(130)


# only as the command (the lossatlas entry point, python -m server.cli) and where Ctrl-C still raises
# KeyboardInterrupt: a program or an interactive session that imports this module keeps its own handling
_STARTING = (
    (__name__ == "__main__" or os.path.basename(sys.argv[0] if sys.argv else "") == "lossatlas")
    and threading.current_thread() is threading.main_thread()
    and signal.getsignal(signal.SIGINT) is signal.default_int_handler
)
if _STARTING:
    signal.signal(signal.SIGINT, _interrupted_while_starting)

import argparse
import re

from pydantic import ValidationError
from pydantic_settings import SettingsError

from workers import add_worker_arguments, check_data_dir, resolve_device, run_worker
from workers import cli as engine_cli

from .settings import JSON_SETTINGS, Settings

if _STARTING:  # imported: from here on Ctrl-C is the commands' KeyboardInterrupt (workers/cli.py's main)
    signal.signal(signal.SIGINT, signal.default_int_handler)

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
    "device": "device",
}
# the options of `lossatlas worker` whose defaults come from the same settings
_WORKER_FLAGS = {"data_dir": "data_dir", "lease": "lease_s", "poll": "poll_s", "device": "device"}


def _with_default(text: str, field: str, none: str = "none") -> str:
    """An option's help with its default and environment variable, both from ``Settings`` (the one place
    they are defined); ``none`` says what an unset setting means."""
    default = Settings.model_fields[field].get_default(call_default_factory=True)
    return f"{text} (default {none if default is None else default}; LOSSATLAS_{field.upper()})"


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _named(field: str) -> str:
    """A setting as the operator gives it: its serve flag, if any, and its environment variable."""
    flag = next((f"--{f.replace('_', '-')} or " for f, v in _SERVE_FLAGS.items() if v == field), "")
    return f"{flag}LOSSATLAS_{field.upper()}"


def load_settings(**given) -> Settings:
    """``Settings`` from the environment and ``given``; a bad value is a ``ValueError`` naming the flag or
    environment variable to fix (pydantic names the field, or the settings source)."""
    try:
        return Settings(**given)
    except ValidationError as e:
        raise ValueError(
            "; ".join(
                f"{_named(str(err['loc'][0])) + ': ' if err['loc'] else ''}{err['msg'].removeprefix('Value error, ')}"
                for err in e.errors()
            )
        ) from None
    except SettingsError as e:  # a list or dict setting that is not JSON
        field = re.search(r'field "(\w+)"', str(e))
        holds = f"; it must be {JSON_SETTINGS[field[1]]}" if field and field[1] in JSON_SETTINGS else ""
        raise ValueError(
            f"{_named(field[1]) if field else 'a LOSSATLAS_* setting'} is not valid JSON ({e.__cause__ or e}){holds}"
        ) from None


def settings_from_args(args: argparse.Namespace) -> Settings:
    given = {
        field: getattr(args, flag) for flag, field in _SERVE_FLAGS.items() if getattr(args, flag, None) is not None
    }
    if getattr(args, "no_worker", False):
        given["embedded_worker"] = False
    return load_settings(**given)


def run_serve(args: argparse.Namespace) -> int:
    from .app import create_app
    from .serving import Server, listening_socket, uvicorn_config

    settings = settings_from_args(args)
    if settings.embedded_worker:  # refused now: a worker that exits at once would leave every job queued
        resolve_device(settings.device, remote=settings.ray_address is not None)
    sock = listening_socket(settings)
    try:
        check_data_dir(settings.data_dir, "--data-dir (or LOSSATLAS_DATA_DIR)")
    except ValueError:
        sock.close()
        raise
    where = "local only" if settings.host in ("127.0.0.1", "localhost", "::1") else "reachable from the network"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host  # an IPv6 address in a URL
    print(  # the port bound: the one --port 0 got from the system
        f"lossatlas: serving http://{host}:{sock.getsockname()[1]}/ ({where}; data in {settings.data_dir})",
        file=sys.stderr,
        flush=True,
    )
    if where == "local only":
        print("lossatlas: to share it, use --host 0.0.0.0 together with --token", file=sys.stderr, flush=True)
    server = Server(uvicorn_config(create_app(settings), settings))
    with sock:
        server.run(sockets=[sock])
    return 0


def run_worker_command(args: argparse.Namespace) -> int:
    if any(getattr(args, flag) is None for flag in _WORKER_FLAGS):
        settings = load_settings()
        for flag, field in _WORKER_FLAGS.items():
            if getattr(args, flag) is None:
                setattr(args, flag, str(getattr(settings, field)) if flag == "data_dir" else getattr(settings, field))
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
    p.add_argument(
        "--host", help=_with_default("address to bind (0.0.0.0: every network interface, with --token)", "host")
    )
    p.add_argument("--port", type=int, help=_with_default("port (0: any free one, named at start)", "port"))
    p.add_argument("--data-dir", help=_with_default("jobs, computed and imported surfaces", "data_dir"))
    p.add_argument("--token", help=_with_default("bearer token required by write endpoints", "token", "none: no token"))
    p.add_argument("--max-points", type=int, help=_with_default("grid points per job", "max_points"))
    p.add_argument("--max-samples", type=int, help=_with_default("samples per split per job", "max_samples"))
    p.add_argument(
        "--max-queued-jobs", type=int, help=_with_default("jobs queued or running at once", "max_queued_jobs")
    )
    p.add_argument("--max-upload-mb", type=int, help=_with_default("largest upload, MB", "max_upload_mb"))
    p.add_argument(
        "--threads", type=int, help=_with_default("torch threads of the embedded worker", "worker_threads", "all cores")
    )
    p.add_argument("--device", help=_with_default("the embedded worker's device: cpu, cuda or cuda:N", "device"))
    p.add_argument("--no-worker", action="store_true", help="run no embedded worker (use `lossatlas worker`)")
    p.set_defaults(func=run_serve)
    w = sub.add_parser(
        "worker",
        help="run a job worker on a data directory (start any number)",
        description="Claim and compute surface jobs queued by `lossatlas serve`.",
    )
    add_worker_arguments(w, defaults_elsewhere=True)
    for action in w._actions:
        if action.dest in _WORKER_FLAGS:
            action.help = _with_default(action.help, _WORKER_FLAGS[action.dest])
    w.set_defaults(func=run_worker_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    return engine_cli.main(argv, parser=build_parser())


if __name__ == "__main__":
    sys.exit(main())
