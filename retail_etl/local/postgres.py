"""A throwaway PostgreSQL cluster for the sample source, run by an unprivileged user.

`initdb` refuses to run as root, so when we are root the cluster belongs to the `postgres`
account Debian's package creates (or `nobody`), and every server command runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from retail_etl.errors import EtlError


def pg_bin(name: str) -> str:
    """Path of a PostgreSQL server program (Debian keeps them out of PATH)."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    path = found[-1] if found else shutil.which(name)
    if not path:
        raise EtlError(f"PostgreSQL's {name} was not found; run `make setup` to install it")
    return path


def _owner() -> pwd.struct_passwd | None:
    """The account that runs the server when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise EtlError(
        "running as root, but there is no 'postgres' or 'nobody' account to run PostgreSQL"
    )


LOCAL_HOSTS = ("127.0.0.1", "localhost")


class LocalPostgres:
    """One cluster in `data_dir`, listening on 127.0.0.1:`port`, superuser `user`, trust auth.

    Given another host (a compose service, say), it manages nothing and only connects.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        user: str = "retail",
        database: str = "retail",
        host: str = "127.0.0.1",
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.user = user
        self.database = database
        self.host = host
        self.managed = host in LOCAL_HOSTS
        self.owner = _owner() if self.managed else None

    @property
    def server_dir(self) -> Path:
        """The data directory as the server account reaches it: the real folder, not the link
        in a private clone (e.g. under /root) that the account cannot traverse."""
        return self.data_dir.resolve()

    @property
    def log_file(self) -> Path:
        return self.server_dir / "server.log"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {"capture_output": True, "text": True, "check": False}
        if self.owner is not None:
            kwargs.update(user=self.owner.pw_uid, group=self.owner.pw_gid, cwd="/")
        done = subprocess.run(list(args), **kwargs)
        if check and done.returncode != 0:
            raise EtlError(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout).strip()}")
        return done

    def _prepare_dirs(self) -> None:
        if self.data_dir.exists():
            return
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self.owner is None:
            self.data_dir.mkdir(mode=0o700)
            return
        reachable = subprocess.run(
            ["test", "-x", str(self.data_dir.parent)],
            user=self.owner.pw_uid,
            group=self.owner.pw_gid,
            check=False,
        )
        if reachable.returncode == 0:
            self.data_dir.mkdir(mode=0o700)
            target = self.data_dir
        else:
            # A clone inside a private folder (mode 700) is out of the server account's reach:
            # keep the data in /var/tmp and point the usual path at it.
            target = Path(tempfile.mkdtemp(prefix="retail-etl-pg-", dir="/var/tmp"))
            self.data_dir.symlink_to(target)
        os.chown(target, self.owner.pw_uid, self.owner.pw_gid)

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.managed:
            return self._reachable()
        if not self.initialised():
            return False
        status = self._run(pg_bin("pg_ctl"), "status", "-D", str(self.server_dir), check=False)
        return status.returncode == 0

    def start(self) -> bool:
        """Create the cluster if needed and start it; True when it was not running before."""
        if not self.managed:
            if not self._reachable():
                raise EtlError(f"PostgreSQL at {self.host}:{self.port} is not reachable")
            return False
        if self.running():
            return False
        self._prepare_dirs()
        if not self.initialised():
            self._run(
                pg_bin("initdb"),
                "-D",
                str(self.server_dir),
                "-U",
                self.user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_wal_size=2GB -c shared_buffers=256MB"
        )
        started = self._run(
            pg_bin("pg_ctl"),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.server_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
            check=False,
        )
        if started.returncode != 0:
            raise EtlError(f"PostgreSQL did not start on port {self.port}: {self._why_not()}")
        self._ensure_database()
        return True

    def _why_not(self) -> str:
        """The server log's own reason, with what to do when the port is taken."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return f"see {self.log_file}"
        for line in lines:
            if "could not bind" in line and "Address already in use" in line:
                return (
                    f"port {self.port} is already in use (another clone's `make run`?): stop "
                    "that one (`make stop` there), or pick another port with RETAIL_PG_PORT=..."
                )
        fatal = [line.split("FATAL:", 1)[1].strip() for line in lines if "FATAL:" in line]
        return fatal[-1] if fatal else f"see {self.log_file}"

    def stop(self) -> bool:
        if not self.managed or not self.running():
            return False
        self._run(pg_bin("pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.server_dir))
        return True

    def connect(self, database: str | None = None, autocommit: bool = False) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=database or self.database,
            autocommit=autocommit,
            connect_timeout=10,
            cursor_factory=psycopg.ClientCursor,  # client-side binding: multi-statement SQL
        )

    def _reachable(self) -> bool:
        try:
            self.connect().close()
        except Exception:
            return False
        return True

    def _ensure_database(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = self.connect("postgres", autocommit=True)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
