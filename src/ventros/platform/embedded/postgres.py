"""An embedded PostgreSQL server: a child process of `ventros run`, data under VENTROS_HOME.

Binaries come from the `pgserver` wheel (PostgreSQL 16; wheels exist up to CPython 3.12),
else from a PostgreSQL installed on the machine. The server listens on 127.0.0.1 on a free
port with trust authentication (it is a local development server); the application still
connects as its own password-protected, RLS-bound roles created by the migrations.

A server already running on the same data directory (another `ventros` process started it)
is reused and left running. PostgreSQL refuses to run as root, so under root it runs as the
unprivileged system user `ventros-pg`, created on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
SERVICE_USER = "ventros-pg"
DEFAULT_HOST = "127.0.0.1"
# sockaddr_un.sun_path is 108 bytes on Linux, 104 on macOS, including the NUL.
_MAX_SOCKET_PATH = 100


class PostgresNotFound(RuntimeError):
    """No PostgreSQL server binaries to run."""


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised or started."""


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on right now (the caller retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int, names: tuple[str, ...] = ()) -> bool:
    """Whether `pid` is a live (not zombie) process; with procfs, also that its command name
    is one of `names` (guards against a recycled PID in a stale pid file)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    if not Path("/proc/self/stat").exists():
        return True  # no procfs (macOS): kill(0) is all we know
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    name, state = text[text.find("(") + 1 : text.rfind(")")], text[text.rfind(")") + 2 :][:1]
    if state in ("Z", "X"):
        return False
    return not names or name in names


def parent_death_signal(sig: int, *, any_thread: bool = False) -> Callable[[], None] | None:
    """A `preexec_fn` asking Linux to send `sig` to the child when we die, even by SIGKILL,
    so an embedded server never outlives its supervisor. Only armed from the main thread:
    the kernel signals when the *thread* that forked exits. `any_thread` is for a child the
    forking thread waits on (initdb): that thread ends only after the child or the process."""
    if not sys.platform.startswith("linux"):
        return None
    if not any_thread and threading.current_thread() is not threading.main_thread():
        return None
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def arm() -> None:
        prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return arm


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock between processes (no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def log_tail(path: Path, offset: int = 0, limit: int = 4000) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return ""
    return data[-limit:].decode(errors="replace")


# --------------------------------------------------------------------------- binaries


def _has_server(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("postgres", "initdb"))


def _pgserver_bindir() -> Path | None:
    # `pgserver._commands.POSTGRES_BIN_PATH`, located without importing the package: its
    # __init__ sets up runtime directories and file locks we do not use.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def find_postgres_bindir() -> Path:
    """The pgserver wheel's binaries, else the machine's (pg_config, /usr/lib/postgresql)."""
    candidates: list[Path] = []
    bundled = _pgserver_bindir()
    if bundled is not None:
        candidates.append(bundled)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603 - fixed arguments
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    candidates.extend(
        sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    )
    for directory in candidates:
        if _has_server(directory):
            return directory
    raise PostgresNotFound(
        "no PostgreSQL server binaries found for the embedded database. Install the "
        "`pgserver` wheel (`pip install pgserver`; wheels exist for CPython <= 3.12), or "
        "PostgreSQL itself (e.g. `apt install postgresql`, `brew install postgresql@16`) so "
        "that `pg_config --bindir` finds `postgres` and `initdb`; or point "
        "VENTROS_DATABASE_URL at an existing server."
    )


# --------------------------------------------------------------------------- running as root


@dataclass(frozen=True)
class _RunAs:
    user: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _service_user() -> _RunAs | None:
    """None unless we are root; then the unprivileged user PostgreSQL must run as."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        entry = None
    if entry is None:
        if shutil.which("useradd"):
            command = ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent"]
            command += ["--shell", "/usr/sbin/nologin", SERVICE_USER]
        elif shutil.which("adduser"):  # busybox / Alpine
            command = ["adduser", "-S", "-D", "-H", SERVICE_USER]
        else:
            raise EmbeddedPostgresError(
                f"PostgreSQL refuses to run as root and there is no `useradd` to create the "
                f"user {SERVICE_USER!r}; create it, run as a normal user, or set "
                "VENTROS_DATABASE_URL"
            )
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(SERVICE_USER)  # created concurrently
            if entry is None:
                raise EmbeddedPostgresError(
                    f"could not create system user {SERVICE_USER!r}: {result.stderr.strip()}"
                )
        log.info("created system user %s for the embedded PostgreSQL", SERVICE_USER)
        entry = pwd.getpwnam(SERVICE_USER)
    return _RunAs(SERVICE_USER, entry.pw_uid, entry.pw_gid)


def _make_traversable(path: Path) -> None:
    """Let another user reach `path`: add o+x to it and every parent that lacks it."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _make_readable_tree(root: Path) -> None:
    """Let another user read and run an installation (umask 077 installs of pgserver)."""
    for directory, _dirs, files in os.walk(root):
        base = Path(directory)
        base.chmod(stat.S_IMODE(base.stat().st_mode) | 0o005)
        for name in files:
            file = base / name
            if not file.is_symlink():
                file.chmod(stat.S_IMODE(file.stat().st_mode) | 0o004)


# --------------------------------------------------------------------------- postmaster.pid


@dataclass(frozen=True)
class PostmasterInfo:
    pid: int
    port: int | None
    host: str
    status: str

    @classmethod
    def read(cls, data_dir: Path) -> PostmasterInfo | None:
        """Lines: pid, data dir, start time, port, socket dir, listen address, shmem, status."""
        try:
            lines = (data_dir / "postmaster.pid").read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            return None
        try:
            pid = int(lines[0].strip())
        except (IndexError, ValueError):
            return None
        field = [line.strip() for line in lines] + [""] * 8
        port = int(field[3]) if field[3].isdigit() else None
        host = field[5].split(",")[0].strip() or DEFAULT_HOST
        if host in ("*", "0.0.0.0", "::", "localhost"):  # noqa: S104 - only reading
            host = DEFAULT_HOST
        return cls(pid=pid, port=port, host=host, status=field[7])

    def alive(self) -> bool:
        return pid_alive(self.pid, ("postgres", "postmaster"))

    @property
    def url(self) -> str | None:
        if self.port is None:
            return None
        return owner_url(self.host, self.port)


def owner_url(host: str, port: int) -> str:
    return f"postgresql://{SUPERUSER}@{host}:{port}/postgres"


# --------------------------------------------------------------------------- the server


class EmbeddedPostgres:
    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = DEFAULT_HOST,
        bindir: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.host = host
        self.start_timeout = start_timeout
        self._bindir = bindir
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._url: str | None = None

    # ---- inspection

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def owned(self) -> bool:
        """Whether this object started the server (and so stops it)."""
        return self._process is not None

    @property
    def pid(self) -> int | None:
        if self._process is not None:
            return self._process.pid
        info = PostmasterInfo.read(self.data_dir)
        return info.pid if info is not None and info.alive() else None

    def running_url(self) -> str | None:
        """The owner URL of a server running on this data directory, else None."""
        info = PostmasterInfo.read(self.data_dir)
        if info is None or info.status == "stopping" or not info.alive():
            return None
        return info.url

    # ---- life cycle

    def start(self) -> str:
        """Initialise on first use, start (or reuse) the server; returns the owner URL."""
        if self._url is not None and self._process is not None and self._process.poll() is None:
            return self._url
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.data_dir.parent / f".{self.data_dir.name}.lock"):
            existing = self._existing_server()
            if existing is not None:
                log.info("reusing the PostgreSQL server already running on %s", self.data_dir)
                self._url = existing
                return existing
            bindir = self._bindir or find_postgres_bindir()
            run_as = _service_user()
            if run_as is not None:
                self._prepare_for_service_user(bindir)
            started = time.monotonic()
            self._initialise(bindir, run_as)
            self._url = self._launch(bindir, run_as)
            log.info(
                "embedded PostgreSQL ready on %s (pid %s, %.1fs, binaries %s)",
                self._url,
                self.pid,
                time.monotonic() - started,
                bindir,
            )
            return self._url

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server if we started it: fast shutdown (SIGINT), SIGKILL after `timeout`."""
        process, self._process, self._url = self._process, None, None
        try:
            if process is None or process.poll() is not None:
                return
            log.info("stopping embedded PostgreSQL (pid %s)", process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("PostgreSQL did not stop within %.0fs; killing it", timeout)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)  # its backends share the session
                process.wait()
        finally:
            if self._log_handle is not None:
                self._log_handle.close()
                self._log_handle = None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals

    def _existing_server(self) -> str | None:
        """URL of a live server on this data dir once it is ready; clears a stale pid file."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            info = PostmasterInfo.read(self.data_dir)
            if info is None:
                return None
            if not info.alive():
                # Left by a killed server. PostgreSQL would also refuse to start if that PID
                # now belongs to an unrelated process, so remove the file ourselves.
                log.info("removing stale %s (pid %s)", self.data_dir / "postmaster.pid", info.pid)
                with contextlib.suppress(FileNotFoundError):
                    (self.data_dir / "postmaster.pid").unlink()
                return None
            if info.status == "ready" and info.url is not None and self._accepts(info.url):
                return info.url
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"a PostgreSQL server (pid {info.pid}) runs on {self.data_dir} but did not "
                    f"become ready within {self.start_timeout:.0f}s (status {info.status!r})"
                )
            time.sleep(0.2)

    def _prepare_for_service_user(self, bindir: Path) -> None:
        _make_traversable(self.data_dir.parent)
        postgres = bindir / "postgres"
        if not postgres.stat().st_mode & stat.S_IXOTH and bindir == _pgserver_bindir():
            _make_readable_tree(bindir.parent)
        _make_traversable(bindir)

    def _initialise(self, bindir: Path, run_as: _RunAs | None) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is not empty and is not a PostgreSQL data directory "
                "(no PG_VERSION); move it away or choose another VENTROS_HOME"
            )
        # initdb into a staging directory, then rename: a half-initialised cluster (initdb
        # interrupted) never looks like a real one.
        staging = self.data_dir.with_name(self.data_dir.name + ".initdb")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        if run_as is not None:
            os.chown(staging, run_as.uid, run_as.gid)
        log.info("initialising embedded PostgreSQL cluster in %s", self.data_dir)
        offset = self._log_size()
        with self.log_path.open("ab") as output:
            result = subprocess.run(  # noqa: S603 - fixed arguments
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(staging),
                    "--username",
                    SUPERUSER,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--no-locale",
                    "--no-instructions",
                ],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd="/",
                env=self._environment(),
                check=False,
                # SIGTERM during start-up must not leave initdb behind.
                preexec_fn=parent_death_signal(signal.SIGKILL, any_thread=True),
                **(run_as.popen_kwargs() if run_as is not None else {}),
            )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise EmbeddedPostgresError(
                f"initdb failed (exit {result.returncode}); output from {self.log_path}:\n"
                + log_tail(self.log_path, offset)
            )
        if self.data_dir.exists():
            self.data_dir.rmdir()  # empty, checked above
        staging.rename(self.data_dir)

    def _socket_dir(self, run_as: _RunAs | None) -> Path:
        if len(os.fsencode(self.data_dir / ".s.PGSQL.65535")) <= _MAX_SOCKET_PATH:
            return self.data_dir
        digest = hashlib.sha256(os.fsencode(self.data_dir)).hexdigest()[:12]
        directory = Path("/tmp") / f"ventros-pg-{digest}"  # noqa: S108 - short path needed
        directory.mkdir(mode=0o700, exist_ok=True)
        info = directory.lstat()
        expected_uid = run_as.uid if run_as is not None else os.geteuid()
        if run_as is not None and info.st_uid == 0:
            os.chown(directory, run_as.uid, run_as.gid)
        elif not stat.S_ISDIR(info.st_mode) or info.st_uid != expected_uid:
            raise EmbeddedPostgresError(f"{directory} exists and belongs to someone else")
        return directory

    def _launch(self, bindir: Path, run_as: _RunAs | None) -> str:
        socket_dir = self._socket_dir(run_as)
        last_error = ""
        for _attempt in range(3):
            port = free_port(self.host)
            offset = self._log_size()
            self._log_handle = self.log_path.open("ab")
            process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-h",
                    self.host,
                    "-p",
                    str(port),
                    "-k",
                    str(socket_dir),
                    # The bus and the outbox are queues: thousands of rows a second come
                    # and go. Vacuumed only once a minute (the default), their dead rows
                    # pile up in the indexes every claim walks.
                    "-c",
                    "autovacuum_naptime=5s",
                ],
                stdin=subprocess.DEVNULL,
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                cwd="/",
                env=self._environment(),
                start_new_session=True,  # Ctrl-C in the terminal reaches us, not the server
                preexec_fn=parent_death_signal(signal.SIGINT),
                **(run_as.popen_kwargs() if run_as is not None else {}),
            )
            self._process = process
            url = owner_url(self.host, port)
            try:
                self._wait_ready(process, url)
            except BaseException:
                self.stop()  # timed out or interrupted: leave nothing behind
                raise
            if process.poll() is None:
                return url
            last_error = log_tail(self.log_path, offset)
            self.stop()
            if "already in use" not in last_error:
                break
            log.info("port %s was taken meanwhile; retrying", port)
        raise EmbeddedPostgresError(
            f"PostgreSQL did not start; output from {self.log_path}:\n{last_error}"
        )

    def _wait_ready(self, process: subprocess.Popen[bytes], url: str) -> None:
        """Returns once the server accepts connections, or as soon as it has exited."""
        deadline = time.monotonic() + self.start_timeout
        while process.poll() is None:
            info = PostmasterInfo.read(self.data_dir)
            ready = info is not None and info.pid == process.pid and info.status == "ready"
            if ready and self._accepts(url):
                return
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"PostgreSQL did not accept connections within {self.start_timeout:.0f}s; "
                    f"see {self.log_path}"
                )
            time.sleep(0.05)

    @staticmethod
    def _accepts(url: str) -> bool:
        try:
            with psycopg.connect(url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    @staticmethod
    def _environment() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env
