"""`callkernel serve` as a subprocess on loopback, for the benchmarks and the
soak that drive it from another process (bench/soak.py,
bench/bench_server_calls.py).

The server gets a fresh data directory, a free port (`--port 0`, read from its
"listening" log line) and a token with the scopes asked for; it is stopped
with SIGTERM (then SIGKILL) on the way out. Its memory and CPU are read from
/proc while it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTUP_LIMIT_S = 20.0
STOP_LIMIT_S = 30.0


@dataclass(frozen=True, slots=True)
class Server:
    process: subprocess.Popen[bytes]
    url: str
    secret: str
    data_dir: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}

    @property
    def database(self) -> Path:
        """The SQLite store in the data directory."""
        found = sorted(self.data_dir.glob("*.sqlite3")) + sorted(self.data_dir.glob("*.db"))
        if not found:
            raise FileNotFoundError(f"no SQLite store in {self.data_dir}")
        return found[0]


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "interpreter.cli", *argv]


def _environ() -> dict[str, str]:
    """Ours without CALLKERNEL_SERVER_* (a config file there could change limits)."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith("CALLKERNEL_SERVER_")}


@contextmanager
def running_server(data_dir: Path, scopes: tuple[str, ...] = ("flows", "read", "calls"),
                   extra: tuple[str, ...] = ()) -> Iterator[Server]:
    """`callkernel serve` on a free loopback port with a token of `scopes`
    and the `extra` flags; terminated on the way out."""
    made = subprocess.run(
        _cli("token", "create", "bench", *(a for s in scopes for a in ("--scope", s)),
             "--json", "--data-dir", str(data_dir)),
        cwd=ROOT, env=_environ(), capture_output=True, check=True)
    secret = str(json.loads(made.stdout)["secret"])
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _cli("serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", str(data_dir),
                 *extra),
            cwd=ROOT, env=_environ(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=log)
    try:
        yield Server(process, _listening_url(process, log_path), secret, data_dir)
    finally:
        process.terminate()
        try:
            process.wait(STOP_LIMIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.returncode != 0:
            print(f"note: the server exited {process.returncode} after SIGTERM; "
                  f"its log: {log_path}", file=sys.stderr)


def _listening_url(process: subprocess.Popen[bytes], log_path: Path) -> str:
    """The URL from the server's "listening" log line (it picked the port)."""
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while time.monotonic() < deadline:
        for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") == "listening":
                return str(entry["url"]).rstrip("/")
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"callkernel serve did not start; its log:\n{log_path.read_text()}")


def rss_mb(pid: int) -> float:
    """Resident memory of a process (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Threads for process {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
