"""proxywhirl's settings as an installation holds them: config/ (proxywhirl.toml,
logging.yaml, .env, sources.json, api.ini) and pyproject.toml's [tool.proxywhirl], with
secrets derived from the seed, and the credential keys the pool is sealed with."""

from __future__ import annotations

import base64
import json
import os
import random
from pathlib import Path
from string import Template

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
