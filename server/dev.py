"""``promotion-agent dev postgres|redis``: private local servers for development, no Docker needed.

``dev postgres`` creates (once) and runs a PostgreSQL cluster from the
machine's PostgreSQL binaries in ``.data/postgres`` on 127.0.0.1:54329 with the
user ``postgres``/``postgres``; ``dev redis`` runs ``redis-server`` on
127.0.0.1:6380. Each prints the URL to export and runs in the foreground
until Ctrl-C or any stop signal (SIGTERM, SIGHUP, SIGQUIT), which it passes on to
its server as that server's clean stop; if the wrapper itself is killed, the kernel
stops the server (PR_SET_PDEATHSIG), so no server is left running as an orphan. A
lock next to the data folder refuses a second server on the same folder. PostgreSQL refuses to run as root, so as root the cluster is
owned and run by an unprivileged user (``postgres`` if it exists, else
``nobody``). The tests start their servers with the same functions.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypedDict, Unpack

PG_BIN_DIRS = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


def pg_bin(name: str) -> str | None:
    for directory in PG_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


def unprivileged_user() -> str | None:
    """The user to run PostgreSQL as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) exists to run PostgreSQL")


class UserOptions(TypedDict, total=False):
    """``subprocess`` arguments that run a command as another user (``as_user``)."""

    user: int
    group: int
    extra_groups: list[int]
    env: dict[str, str]


class PopenOptions(UserOptions, total=False):
    """The further ``subprocess.Popen`` arguments a dev server is started with."""

    cwd: str


def as_user(user: str | None) -> UserOptions:
    """``subprocess`` arguments that run a command as ``user`` (exec'd directly, so signals reach it)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {
        "user": entry.pw_uid,
        "group": entry.pw_gid,
        "extra_groups": [],
        "env": {**os.environ, "HOME": entry.pw_dir},
    }


def unreachable_ancestor(user: str, path: Path) -> Path | None:
    """The first folder above ``path`` that ``user`` cannot enter (no search permission), if any."""
    entry = pwd.getpwnam(user)
    groups = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {entry.pw_gid}
    for folder in reversed(path.resolve().parents):
        st = folder.stat()
        if st.st_uid == entry.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return folder
    return None


def init_postgres(datadir: Path, user: str | None, password: str = "postgres") -> None:
    """initdb a cluster with the superuser ``postgres`` and password authentication."""
    initdb = pg_bin("initdb")
    if initdb is None:
        raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    if user is not None:
        datadir.parent.mkdir(parents=True, exist_ok=True)
        blocked = unreachable_ancestor(user, datadir)
        if blocked is not None:
            raise RuntimeError(
                f"PostgreSQL runs as the unprivileged user {user!r}, who cannot enter {blocked}; "
                f"choose a data folder it can reach with --data-dir (for example under /tmp)"
            )
    datadir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="pa-pgpw-")  # outside the data folder, which initdb wants empty
    pwfile = Path(name)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (datadir, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [
                initdb,
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "--auth=md5",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-locale",
            ],
            check=True,
            capture_output=True,
            cwd=str(datadir),
            **as_user(user),
        )
    finally:
        pwfile.unlink(missing_ok=True)


def postgres_argv(datadir: Path, port: int, *, fast: bool = False) -> list[str]:
    postgres = pg_bin("postgres")
    if postgres is None:
        raise FileNotFoundError("PostgreSQL binaries (postgres) are not installed")
    argv = [
        postgres,
        "-D",
        str(datadir),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-k",
        str(datadir),
    ]
    if fast:  # throwaway test clusters: durability is not needed
        argv += ["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"]
    return argv


def redis_argv(port: int, workdir: Path) -> list[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (Debian: apt-get install redis-server)")
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]


# Signals that end the wrapper; each is passed on to the server as the server's own clean-stop signal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
PR_SET_PDEATHSIG = 1


def _die_with_parent(stop_signal: int) -> Callable[[], None]:
    """A ``preexec_fn``: the kernel sends ``stop_signal`` to the server if the wrapper dies (even SIGKILL).

    It runs after the switch to the unprivileged user (which would clear the setting); everything it
    needs is loaded here, in the wrapper (that user may not be able to read Python's files)."""
    import ctypes

    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, stop_signal)
        if os.getppid() != parent:  # the wrapper died before the setting took effect
            os.kill(os.getpid(), stop_signal)

    return arm


@contextlib.contextmanager
def data_folder_lock(folder: Path, what: str) -> Iterator[None]:
    """Hold a lock next to ``folder`` while a server runs on it; a second server on it is refused."""
    import fcntl

    folder.parent.mkdir(parents=True, exist_ok=True)
    path = folder.parent / f".{folder.name}.promotion-agent-dev.lock"
    handle = open(path, "a+")  # noqa: SIM115 - held (and locked) until the generator ends, closed below
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise RuntimeError(
                f"{what} already runs on the data folder {folder} ({owner}); stop it first"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


def _foreground(argv: list[str], banner: str, stop_signal: int, **popen: Unpack[PopenOptions]) -> int:
    """Run a server until it ends or the wrapper gets any stop signal, which stops the server too."""
    received: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(stop_signal)

    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}  # none lost while starting
    try:
        proc = subprocess.Popen(argv, preexec_fn=_die_with_parent(stop_signal), **popen)
        for sig in STOP_SIGNALS:
            signal.signal(sig, forward)
        print(f"{banner}\n(server pid {proc.pid})", flush=True)
        try:
            code = proc.wait(timeout=None)
        except BaseException:
            proc.send_signal(stop_signal)
            proc.wait(timeout=30)
            raise
        return 0 if received else code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _dev_postgres(args: argparse.Namespace) -> int:
    datadir = Path(args.data_dir).resolve()
    user = unprivileged_user()
    with data_folder_lock(datadir, "a PostgreSQL server"):
        if not (datadir / "PG_VERSION").exists():
            print(f"creating a PostgreSQL cluster in {datadir} …", flush=True)
            init_postgres(datadir, user)
        url = f"postgresql://postgres:postgres@127.0.0.1:{args.port}/postgres"
        return _foreground(
            postgres_argv(datadir, args.port),
            f"PostgreSQL on 127.0.0.1:{args.port} (Ctrl-C stops it). Use it with:\n  export DATABASE_URL={url}",
            signal.SIGINT,  # PostgreSQL's fast shutdown
            cwd=str(datadir),
            **as_user(user),
        )


def _dev_redis(args: argparse.Namespace) -> int:
    workdir = Path(args.data_dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"redis://127.0.0.1:{args.port}/0"
    with data_folder_lock(workdir, "a Redis server"):
        return _foreground(
            redis_argv(args.port, workdir),
            f"Redis on 127.0.0.1:{args.port} (Ctrl-C stops it). Use it with:\n  export REDIS_URL={url}",
            signal.SIGTERM,
        )


def wait_for_port(port: int, timeout: float = 20.0) -> bool:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def run(service: str, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"promotion-agent dev {service}")
    if service == "postgres":
        parser.add_argument("--port", type=int, default=54329)
        parser.add_argument("--data-dir", default=".data/postgres")
    else:
        parser.add_argument("--port", type=int, default=6380)
        parser.add_argument("--data-dir", default=".data/redis")
    args = parser.parse_args(argv)
    try:
        return _dev_postgres(args) if service == "postgres" else _dev_redis(args)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        print(f"promotion-agent dev {service}: {detail[-1] if detail else exc}", file=sys.stderr)
        return 1
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"promotion-agent dev {service}: {exc}", file=sys.stderr)
        return 1
