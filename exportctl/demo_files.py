"""The demo's files beside system.db: loguru logs, proxywhirl settings, and the shared clock.

Log events are generated from the seed alone, so `request_logs` in system.db and
the log files hold the same events without either writer knowing of the other.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import math
import os
import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any, NamedTuple

# A fixed "now", never the wall clock: the same seed must give the same bytes.
END = datetime(2026, 11, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
DAY_US = 86_400 * SECOND_US
END_US = (END - EPOCH) // timedelta(microseconds=1)
LOG_DAYS = 3  # proxywhirl.log plus two rotated, gzipped days

_EPOCH_ORDINAL = EPOCH.date().toordinal()


@lru_cache(maxsize=1 << 16)
def _minute_text(minute: int) -> str:
    day, minute_of_day = divmod(minute, 1440)
    hours, minutes = divmod(minute_of_day, 60)
    return f"{date.fromordinal(_EPOCH_ORDINAL + day).isoformat()} {hours:02d}:{minutes:02d}:"


def sqlite_datetime(us: int) -> str:
    """Microseconds since the epoch as SQLAlchemy's SQLite dialect stores DATETIME."""
    # A cached prefix and %-formatting, not strftime: this runs millions of times.
    minute, rest = divmod(us, MINUTE_US)
    return "%s%02d.%06d" % (_minute_text(minute), rest // SECOND_US, rest % SECOND_US)  # noqa: UP031


def spread(rng: random.Random, index: int, count: int, start_us: int, span_us: int) -> int:
    """The index-th of `count` instants over a span, jittered but never out of order."""
    low = start_us + index * span_us // count
    high = start_us + (index + 1) * span_us // count
    return low + int(rng.random() * (high - low))


# --- log events ---------------------------------------------------------------


class LogEvent(NamedTuple):
    time_us: int
    level: str
    component: str
    request_id: str | None
    proxy_url: str | None
    method: str | None
    target_url: str | None
    status_code: int | None
    latency_ms: float | None
    message: str
    exception: tuple[str, str] | None

    def request_log_row(self) -> tuple[Any, ...]:
        """The event as a row of system.db's request_logs, after its id."""
        return (
            sqlite_datetime(self.time_us),
            self.level,
            self.component,
            self.request_id,
            self.proxy_url,
            self.method,
            self.target_url,
            self.status_code,
            self.latency_ms,
            self.message,
        )


_TARGETS = (
    "https://httpbin.org/ip",
    "https://api.example.com/v2/items?page=3&per_page=100",
    "https://shop.example.fr/recherche?q=crème%20brûlée,café",
    'https://example.org/search?q="proxy, rotation"',
    "https://例え.jp/商品?id=42",
    "http://legacy.example.net/cgi-bin/status.pl",
)
_METHODS = ("GET", "GET", "GET", "POST", "HEAD", "PUT")
_STATUSES = (200,) * 14 + (201, 204, 301, 404, 407, 429, 500, 502, 503) + (None,) * 2
_CONNECTION_ERRORS = (
    ("ProxyConnectionError", "Cannot connect to proxy: [Errno 111] Connection refused"),
    ("ReadTimeout", "Read timed out. (read timeout=10.0)"),
    ("ProxyError", 'Proxy answered "HTTP/1.1 502 Bad Gateway",\n\tupstream: "reset by peer"'),
    ("SSLError", "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)"),
    ("ProtocolError", "Garbled reply from proxy: b'\x01\x7f\\x00'"),
)
_HOUSEKEEPING = (
    ("fetchers", "INFO", 'Fetched 312 proxies from "free-proxy-list.net", 17 duplicates dropped'),
    ("health_monitor", "SUCCESS", "Health check round done: 1,204 healthy, 87 degraded ✅"),
    ("health_monitor", "WARNING", "Proxy pool below minimum size (min_pool_size=50)"),
    ("circuit_breaker", "WARNING", "🔥 Circuit breaker opened after 5 failures"),
    ("strategies", "DEBUG", "Selected proxy by performance-based strategy\tscore=0.93"),
    ("storage", "INFO", "Saved pool snapshot to «cache/db/proxywhirl.db»"),
    ("storage", "ERROR", "Écriture impossible : base verrouillée\nretrying in 1s"),
    ("fetchers", "WARNING", "源站返回空列表 (source returned an empty list)"),
    ("rotator", "INFO", ""),
)
_NOTES = ("",) * 5 + (" (retry 2/3)", ' — "sticky" session', "\nheaders: {'Via': '1.1 proxy'}")


def request_events(seed: int, count: int, proxies: Sequence[str]) -> Iterator[LogEvent]:
    """`count` events over the last LOG_DAYS days, in time order."""
    rng = random.Random(f"{seed}:logs")  # noqa: S311 - reproducible demo data, not secrets
    start = END_US - LOG_DAYS * DAY_US
    for index in range(count):
        at = spread(rng, index, count, start, LOG_DAYS * DAY_US)
        if rng.random() < 0.12:
            yield _housekeeping_event(rng, at)
        else:
            yield _request_event(rng, at, proxies[int(rng.random() * len(proxies))])


def _housekeeping_event(rng: random.Random, at: int) -> LogEvent:
    component, level, message = _HOUSEKEEPING[int(rng.random() * len(_HOUSEKEEPING))]
    return LogEvent(at, level, component, None, None, None, None, None, None, message, None)


def _request_event(rng: random.Random, at: int, proxy: str) -> LogEvent:
    method = _METHODS[int(rng.random() * len(_METHODS))]
    target = _TARGETS[int(rng.random() * len(_TARGETS))]
    status = _STATUSES[int(rng.random() * len(_STATUSES))]
    request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    note = _NOTES[int(rng.random() * len(_NOTES))]
    if status is None:
        error = _CONNECTION_ERRORS[int(rng.random() * len(_CONNECTION_ERRORS))]
        latency = 10_000.0 if error[0] == "ReadTimeout" else rng.uniform(0.5, 50.0)
        message = f"{method} {target} via {proxy} failed: {error[1]}{note}"
        return LogEvent(
            at, "ERROR", "rotator", request_id, proxy, method, target, None, latency, message, error
        )
    latency = rng.lognormvariate(math.log(420.0), 0.7)
    level = "ERROR" if status >= 500 else "WARNING" if status >= 400 else "INFO"
    message = f"{method} {target} via {proxy} -> {status} in {latency:.1f} ms{note}"
    return LogEvent(
        at, level, "rotator", request_id, proxy, method, target, status, latency, message, None
    )


# --- loguru serialized log files ---------------------------------------------------

_LEVELS = {
    "DEBUG": (10, "🐞"),
    "INFO": (20, "ℹ️"),
    "SUCCESS": (25, "✅"),
    "WARNING": (30, "⚠️"),
    "ERROR": (40, "❌"),
}
_CALL_SITES = {  # component -> (module, function, line), as loguru would record them
    "rotator": ("rotator", "_make_request", 412),
    "fetchers": ("fetchers", "fetch_all", 233),
    "health_monitor": ("health_monitor", "_run_checks", 158),
    "circuit_breaker": ("circuit_breaker", "record_failure", 97),
    "strategies": ("strategies", "select", 301),
    "storage": ("storage", "save", 188),
}
_SITE_PACKAGES = "/srv/proxywhirl/.venv/lib/python3.12/site-packages/proxywhirl"
_PROCESS = {"id": 2817, "name": "MainProcess"}
_THREAD = {"id": 140245871601472, "name": "MainThread"}


def write_logs(logs_dir: Path, events: Iterable[LogEvent]) -> tuple[Path, ...]:
    """One file per day as loguru's `rotation="00:00", compression="gz"` leaves them, in JSON
    (`configure_logging(format="json")`); the same events in logfmt in `logfmt/`."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    (logs_dir / "logfmt").mkdir(exist_ok=True)
    first_day = END_US // DAY_US - LOG_DAYS
    paths = [_rotated_name(logs_dir, first_day + d) for d in range(LOG_DAYS - 1)]
    paths.append(logs_dir / "proxywhirl.log")
    logfmt = logs_dir / "logfmt" / "proxywhirl.log"
    with ExitStack() as stack:
        files = [stack.enter_context(_open_log(p)) for p in paths]
        plain = stack.enter_context(_open_log(logfmt))
        for event in events:
            day = min(max(event.time_us // DAY_US - first_day, 0), LOG_DAYS - 1)
            files[day].write(loguru_line(event).encode("utf-8"))
            plain.write(logfmt_line(event).encode("utf-8"))
    return (*paths, logfmt)


def _rotated_name(logs_dir: Path, day: int) -> Path:
    # loguru names a rotated file after the time the file was started.
    started = EPOCH + timedelta(days=day)
    return logs_dir / f"proxywhirl.{started:%Y-%m-%d_%H-%M-%S_%f}.log.gz"


def _open_log(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        # mtime=0 keeps the gzip header, and so the bytes, independent of the clock.
        return gzip.GzipFile(path, "wb", mtime=0)
    return path.open("wb")


def loguru_line(event: LogEvent) -> str:
    """One line as `logger.add(..., serialize=True)` writes it."""
    module, function, line = _CALL_SITES[event.component]
    number, icon = _LEVELS[event.level]
    moment = EPOCH + timedelta(microseconds=event.time_us)
    elapsed = timedelta(microseconds=event.time_us - (END_US - LOG_DAYS * DAY_US))
    text = f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} | {event.level: <8} | "
    text += f"proxywhirl.{module}:{function}:{line} - {event.message}\n"
    exception: dict[str, Any] | None = None
    if event.exception:
        exception = {"type": event.exception[0], "value": event.exception[1], "traceback": True}
        text += f"Traceback (most recent call last):\n{event.exception[0]}: {event.exception[1]}\n"
    record = {
        "elapsed": {"repr": str(elapsed), "seconds": elapsed.total_seconds()},
        "exception": exception,
        "extra": {"component": event.component, "request_id": event.request_id},
        "file": {"name": f"{module}.py", "path": f"{_SITE_PACKAGES}/{module}.py"},
        "function": function,
        "level": {"icon": icon, "name": event.level, "no": number},
        "line": line,
        "message": event.message,
        "module": module,
        "name": f"proxywhirl.{module}",
        "process": _PROCESS,
        "thread": _THREAD,
        "time": {"repr": str(moment), "timestamp": moment.timestamp()},
    }
    return json.dumps({"text": text, "record": record}, ensure_ascii=False) + "\n"


def logfmt_line(event: LogEvent) -> str:
    """One record as proxywhirl's `configure_logging(format="logfmt")` template writes it.

    loguru fills `{extra}` with the dict's repr and appends `\\n{exception}` to a text
    format, so a record with a traceback (or a message with a newline) spans lines.
    """
    module, function, line = _CALL_SITES[event.component]
    moment = EPOCH + timedelta(microseconds=event.time_us)
    extra = {"component": event.component, "request_id": event.request_id}
    text = f"time={moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} "
    text += f"level={event.level} name=proxywhirl.{module} function={function} line={line} "
    text += f"message={event.message} {extra!r}\n"
    if event.exception:
        text += f"Traceback (most recent call last):\n{event.exception[0]}: {event.exception[1]}\n"
    return text


# --- proxywhirl settings ---------------------------------------------------------

_TOML = Template("""\
# proxywhirl settings for this installation.
strategy = "performance-based"
timeout = 10.0
max_retries = 3
verify_ssl = true
follow_redirects = true
user_agent = "proxywhirl/0.3.1 (+https://github.com/wyattowalsh/proxywhirl)"

[pool]
min_size = 50
max_size = 5000
max_connections = 100
max_keepalive_connections = 20

[health_check]
interval_seconds = 300
test_url = "https://httpbin.org/ip"
failure_threshold = 3

[circuit_breaker]
failure_threshold = 5
timeout_seconds = 30.0

[storage]
backend = "sqlite"
database_path = "../system.db"

[cache]
enabled = true
l1_max_entries = 1000
default_ttl_seconds = 3600
encryption_key = "$cache_key"

[logging]
config = "logging.yaml"

[rotation]
# How long a client keeps its proxy, and the weights of the performance-based strategy.
affinity_seconds = 600
weights = { latency = 0.5, success_rate = 0.35, freshness = 0.15 }
countries = ["US", "DE", "NL", "GB"]

[maintenance]
last_reviewed = 2026-10-15
window_start = 02:30:00
next_window = 2026-11-02T02:30:00+01:00
created_at = 2026-01-05T09:15:30.250

[[upstreams]]
name = "residential"
url = "http://gw.residential.example.net:7000"
password = "$upstream_password"
weight = 0.75

[[upstreams]]
name = "datacenter"
url = "socks5://dc.example.net:1080"
weight = 0.25
""")

_LOGGING_YAML = """\
# loguru sinks for proxywhirl; `serialize: true` writes one JSON record per line.
handlers:
  - sink: ../logs/proxywhirl.log
    level: INFO
    serialize: true
    rotation: "00:00"
    retention: 7 days
    compression: gz
    enqueue: true
  - sink: ext://sys.stderr
    level: WARNING
    format: "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | {message}"
extra:
  component: core
  request_id: null
"""

_SOURCES_JSON = {
    "version": 2,
    "refresh_interval_seconds": 900,
    "min_success_rate": 0.85,
    "validate_on_fetch": True,
    "sources": [
        {
            "name": "proxyscrape",
            "url": "https://api.proxyscrape.com/v2/?request=get&protocol=http",
            "format": "text",
            "enabled": True,
        },
        {
            "name": "geonode",
            "url": "https://proxylist.geonode.com/api/proxy-list?limit=500",
            "format": "json",
            "enabled": True,
            "api_key": "$source_key",
            "weight": 1.5,
        },
    ],
    "geo": {"allowed_countries": ["US", "DE", "NL"], "blocked_asns": [16509, 14618]},
    "webhook": {"url": "https://hooks.example.com/proxywhirl", "token": "$webhook_token"},
}

_API_INI = Template("""\
; proxywhirl's REST API (uvicorn), read at start-up.
[server]
host = 127.0.0.1
port = 8000
workers = 2
reload = false

[access]
require_key = true
api_key = $api_key

[rate_limit]
requests_per_minute = 120
burst = 20
; origins allowed by CORS, comma-separated
allow_origins = https://dashboard.example.com, http://localhost:3000

[database]
url = postgresql://proxywhirl:$db_password@127.0.0.1:5432/proxywhirl
""")

_ENV = Template("""\
# Read by proxywhirl at start-up; these override proxywhirl.toml.
PROXYWHIRL_STRATEGY=performance-based
PROXYWHIRL_TIMEOUT=10
PROXYWHIRL_LOG_LEVEL=INFO
PROXYWHIRL_STORAGE_PATH=../system.db
PROXYWHIRL_API_KEY=$api_key
PROXYWHIRL_CACHE_ENCRYPTION_KEY=$cache_key
PROXYWHIRL_CACHE_KEY_PREVIOUS=$previous_cache_key
""")


def cache_keys(seed: int) -> tuple[bytes, bytes]:
    """The Fernet keys of the proxies' credentials: current (as in .env), then previous."""
    current = random.Random(f"{seed}:secrets").randbytes(32)  # noqa: S311 - write_config's
    previous = random.Random(f"{seed}:previous-cache-key").randbytes(32)  # noqa: S311
    return base64.urlsafe_b64encode(current), base64.urlsafe_b64encode(previous)


def write_config(config_dir: Path, seed: int) -> tuple[Path, ...]:
    """proxywhirl.toml, logging.yaml, .env, sources.json and api.ini, with secrets derived
    from the seed."""
    config_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:secrets")  # noqa: S311 - demo secrets must be reproducible
    secrets = {
        "cache_key": base64.urlsafe_b64encode(rng.randbytes(32)).decode(),  # a Fernet key
        "api_key": f"pw_live_{rng.randbytes(24).hex()}",
    }
    secrets |= {  # drawn after the others, so theirs stay as they were
        "upstream_password": rng.randbytes(12).hex(),
        "source_key": rng.randbytes(16).hex(),
        "webhook_token": f"whk_{rng.randbytes(20).hex()}",
        "db_password": rng.randbytes(10).hex(),
    }
    secrets["previous_cache_key"] = cache_keys(seed)[1].decode()
    toml, logging_yaml, env = (config_dir / n for n in ("proxywhirl.toml", "logging.yaml", ".env"))
    toml.write_text(_TOML.substitute(secrets), encoding="utf-8")
    logging_yaml.write_text(_LOGGING_YAML, encoding="utf-8")
    env.write_text(_ENV.substitute(secrets), encoding="utf-8")
    os.chmod(env, 0o600)  # it holds secrets, as the real one does
    sources, api = config_dir / "sources.json", config_dir / "api.ini"
    text = Template(json.dumps(_SOURCES_JSON, indent=2, ensure_ascii=False) + "\n")
    sources.write_text(text.substitute(secrets), encoding="utf-8")
    api.write_text(_API_INI.substitute(secrets), encoding="utf-8")
    return toml, logging_yaml, env, sources, api


_PYPROJECT = """\
# proxywhirl reads its settings from [tool.proxywhirl] in the project's pyproject.toml
# (or ~/.config/proxywhirl/config.toml), as `proxywhirl config` saves them (CLIConfig).
[project]
name = "scraper-fleet"
version = "1.4.0"

[tool.proxywhirl]
proxies = []
rotation_strategy = "weighted"
health_check_interval = 300
timeout = 10
max_retries = 3
follow_redirects = true
verify_ssl = true
default_format = "json"
color = false
verbose = false
storage_backend = "sqlite"
storage_path = "system.db"
cache_enabled = true
cache_l1_max_entries = 1000
cache_l2_max_entries = 5000
cache_default_ttl = 3600
cache_cleanup_interval = 60
cache_l2_dir = "cache/proxies"
cache_l3_db_path = "cache/db/proxywhirl.db"
cache_encryption_key_env = "PROXYWHIRL_CACHE_ENCRYPTION_KEY"
cache_health_invalidation = true
cache_failure_threshold = 3
encrypt_credentials = true
encryption_key_env = "PROXYWHIRL_KEY"
rate_limit_by_key = true
rate_limit_per_key = "100/minute"
rate_limit_per_ip = "100/minute"

[tool.proxywhirl.data_storage]
persist_geo_data = false
persist_error_messages = true
"""


def write_pyproject(target: Path) -> Path:
    """The installation's pyproject.toml with proxywhirl's settings in their own shape."""
    path = target / "pyproject.toml"
    path.write_text(_PYPROJECT, encoding="utf-8")
    return path
