"""A real Prometheus server for tests, holding generated historical samples.

Register with `pytest_plugins = ["tests.support.prometheus_server"]`. The session's first
test that asks for `prometheus` writes an OpenMetrics file, turns it into TSDB blocks
with `promtool tsdb create-blocks-from openmetrics`, and only then starts the server
on a free loopback port over that data folder (a server sees blocks created before it
starts), behind basic auth. Keep the tests that use it in one file: under
`--dist loadfile` one worker then starts one server.
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support.servers import LOOPBACK, _die_with_parent, free_port

INSTALL_HINT = (
    "Prometheus is not installed: `apt-get install -y prometheus` (Debian) gives "
    "/usr/bin/prometheus and /usr/bin/promtool; .ci/run installs it"
)
#: The data: every series, one sample each STEP_MS from START_MS, SAMPLES of them.
START_MS = 1_711_929_600_000  # 2024-04-01T00:00:00Z
STEP_MS = 15_000
SAMPLES = 480  # two hours
USER, PASSWORD = "exporter", "pr0m-s3cret"
PROXIES = ("p1", "p2", "p3")


@dataclass(frozen=True)
class Series:
    name: str
    labels: tuple[tuple[str, str], ...]
    #: (timestamp in ms, value), in time order.
    samples: tuple[tuple[int, float], ...]


@dataclass
class PrometheusServer:
    url: str
    series: list[Series]
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    folder: Path = field(default_factory=Path)

    def samples(self, start_ms: int, end_ms: int) -> set[tuple[str, str, int, str]]:
        """(name, labels as sorted JSON-like text, ms, repr of value) in [start, end)."""
        found = set()
        for s in self.series:
            for ms, value in s.samples:
                if start_ms <= ms < end_ms:
                    found.add((s.name, repr(dict(sorted(s.labels))), ms, repr(value)))
        return found


def generated_series(seed: int = 8) -> list[Series]:
    """The proxywhirl metrics: counters, gauges, floats to the last bit, NaN and infinities."""
    rng = random.Random(seed)
    times = [START_MS + i * STEP_MS for i in range(SAMPLES)]
    series = []
    for proxy in PROXIES:
        for status in ("200", "503"):
            total, counts = 0.0, []
            for _ in times:
                total += rng.randrange(0, 40)
                counts.append(total)
            labels = (("proxy_id", proxy), ("status", status))
            series.append(
                Series("proxywhirl_requests_total", labels, tuple(zip(times, counts, strict=True)))
            )
        durations = tuple((t, rng.uniform(0.001, 9.0)) for t in times)
        series.append(
            Series("proxywhirl_request_duration_seconds", (("proxy_id", proxy),), durations)
        )
        health = tuple((t, float(rng.choice((0, 1, 2)))) for t in times)
        series.append(Series("proxywhirl_proxy_health_status", (("proxy_id", proxy),), health))
        breaker = tuple((t, float(rng.choice((0, 0, 0, 1, 2)))) for t in times)
        series.append(Series("proxywhirl_circuit_breaker_state", (("proxy_id", proxy),), breaker))
    odd = [math.nan, math.inf, -math.inf, 5e-324, -0.0, 1e308]
    active = tuple(
        (t, odd[i // 7 % len(odd)] if i % 7 == 3 else float(rng.randrange(0, 500)))
        for i, t in enumerate(times)
    )
    series.append(Series("proxywhirl_active_proxies", (), active))
    # A label value with a quote, a backslash and a newline, escaped in the file.
    note = (("note", 'say "hi"\\ \nbye'), ("proxy_id", "p1"))
    series.append(Series("proxywhirl_proxy_health_status", note, health))
    return series


def openmetrics(series: list[Series]) -> str:
    """The OpenMetrics text promtool loads: each family's samples together, then `# EOF`."""
    lines: list[str] = []
    for name in dict.fromkeys(s.name for s in series):
        lines.append(f"# TYPE {name} gauge")
        for s in (s for s in series if s.name == name):
            inner = ",".join(f'{k}="{_escaped(v)}"' for k, v in s.labels)
            for ms, value in s.samples:
                lines.append(f"{name}{{{inner}}} {_value(value)} {ms // 1000}.{ms % 1000:03d}")
    return "\n".join([*lines, "# EOF"]) + "\n"


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _password_hash(password: str) -> str:
    """bcrypt, as Prometheus's web config takes it, through the C library's crypt(3)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # gone in Python 3.13; the project pins 3.11

    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


def start(folder: Path, series: list[Series], timeout: float = 60) -> PrometheusServer:
    data = folder / "data"
    source = folder / "samples.om"
    source.write_text(openmetrics(series))
    subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
    )
    (folder / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    (folder / "web.yml").write_text(f"basic_auth_users:\n  {USER}: '{_password_hash(PASSWORD)}'\n")
    log = folder / "prometheus.log"
    for _ in range(3):
        port = free_port()
        command = [
            "prometheus",
            f"--config.file={folder / 'prometheus.yml'}",
            f"--web.config.file={folder / 'web.yml'}",
            f"--storage.tsdb.path={data}",
            # The samples lie in 2024: a retention shorter than their age would drop them.
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address={LOOPBACK}:{port}",
        ]
        with log.open("ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=out, preexec_fn=_die_with_parent)
        server = PrometheusServer(f"http://{LOOPBACK}:{port}", series, process, log, folder)
        if _ready(server, timeout, process):
            return server
        process.kill()
        process.wait()
    raise RuntimeError(f"Prometheus did not start: {log.read_text()[-2000:]}")


def _ready(server: PrometheusServer, timeout: float, process: subprocess.Popen[bytes]) -> bool:
    auth = b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        f"{server.url}/-/ready", headers={"Authorization": f"Basic {auth}"}
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


@pytest.fixture(scope="session")
def prometheus() -> Iterator[PrometheusServer]:
    require(
        shutil.which("prometheus") is not None and shutil.which("promtool") is not None,
        INSTALL_HINT,
    )
    with tempfile.TemporaryDirectory(prefix="exportctl-prometheus-") as folder:
        server = start(Path(folder), generated_series())
        try:
            yield server
        finally:
            assert server.process is not None
            server.process.terminate()
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()
