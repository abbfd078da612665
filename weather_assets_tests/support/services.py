"""Real servers for the shared-lake tests, started here on 127.0.0.1 and stopped afterwards.

- PostgreSQL from Debian's package (`postgresql`; `.ci/run` installs it): a fresh cluster in a temp dir,
  run as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).
- A local S3 endpoint: moto in server mode, in its own process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on 127.0.0.1:{port}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s")


def postgres_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server programs (initdb, pg_ctl), if installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


@dataclasses.dataclass(frozen=True)
class Postgres:
    port: int
    user: str = "postgres"

    def conninfo(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={dbname}"

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-v", "ON_ERROR_STOP=1",
             "-c", f'CREATE DATABASE "{name}"'],
            check=True, capture_output=True, text=True,
        )
        return name


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (.ci/run does)")
    root = os.geteuid() == 0
    data = Path(tempfile.mkdtemp(prefix="weather-assets-pg-"))
    as_user: list[str] = []
    if root:  # PostgreSQL will not run as root: run it as Debian's postgres user, in a directory it owns
        account = pwd.getpwnam("postgres")
        os.chown(data, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    cluster = data / "cluster"
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(cluster), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True, capture_output=True,
    )
    options = f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off -c full_page_writes=off"
    proc = subprocess.Popen(
        [*as_user, str(bindir / "postgres"), "-D", str(cluster), *options.split()],
        stdout=subprocess.DEVNULL, stderr=(data / "server.log").open("w") if not root else subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, proc, "postgres")
        for _ in range(100):  # listening comes a moment before accepting connections
            ready = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True)
            if ready.returncode == 0:
                break
            time.sleep(0.1)
        yield Postgres(port=port)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


@dataclasses.dataclass(frozen=True)
class S3Endpoint:
    port: int
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def create_bucket(self, name: str) -> str:
        import boto3  # comes with moto

        client = boto3.client(
            "s3",
            endpoint_url=f"http://{self.endpoint}",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )
        client.create_bucket(Bucket=name)
        return name

    def env(self, data_path: str) -> dict[str, str]:
        """The WEATHER_ASSETS_* settings of a lake whose files are at `data_path` on this endpoint."""
        return {
            "WEATHER_ASSETS_LAKE_DATA_PATH": data_path,
            "WEATHER_ASSETS_S3_ENDPOINT": self.endpoint,
            "WEATHER_ASSETS_S3_USE_SSL": "0",
            "WEATHER_ASSETS_S3_URL_STYLE": "path",
            "WEATHER_ASSETS_S3_REGION": self.region,
            "WEATHER_ASSETS_S3_ACCESS_KEY_ID": self.access_key_id,
            "WEATHER_ASSETS_S3_SECRET_ACCESS_KEY": self.secret_access_key,
        }


# moto checks credentials once this many requests have been served without: the three that create the
# test's IAM user, its access key and its policy (s3_server).
_UNAUTHENTICATED_SETUP_CALLS = 3


@contextlib.contextmanager
def s3_server() -> Iterator[S3Endpoint]:
    """moto's S3 on 127.0.0.1 that checks credentials: only the access key it issued for the tests (allowed
    every S3 action) is accepted, so a wrong secret is refused as by a real service."""
    import boto3  # comes with moto

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_UNAUTHENTICATED_SETUP_CALLS)},
    )
    try:
        _wait_for_port(port, proc, "moto server")
        iam = boto3.client(
            "iam", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
            aws_access_key_id="setup", aws_secret_access_key="setup",
        )
        iam.create_user(UserName="weather-assets")
        key = iam.create_access_key(UserName="weather-assets")["AccessKey"]
        iam.put_user_policy(
            UserName="weather-assets", PolicyName="s3", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
            ),
        )
        yield S3Endpoint(port=port, access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
