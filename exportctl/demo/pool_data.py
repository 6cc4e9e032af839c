"""What a demo proxy is drawn from: protocols, ports, hosts, credentials, places,
networks, list sources, health states and check errors, with odd values on purpose."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

PROTOCOLS = ("http", "https", "socks4", "socks5")
PROTOCOL_CUMULATIVE = (0.45, 0.65, 0.75)
PORTS = {
    "http": (80, 8080, 3128, 8000, 8888, 999, 8118),
    "https": (443, 8443, 3129, 8080),
    "socks4": (1080, 4145, 4153, 5678),
    "socks5": (1080, 1081, 9050, 7890, 10808),
}
FIRST_OCTETS = (5, 31, 37, 45, 46, 51, 62, 78, 91, 103, 138, 154, 176, 185, 194, 212, 217)
IPV6_PREFIXES = (0x2A0104F8, 0x200119F0, 0x2604A880, 0x24008500, 0x2A03B0C0)
USER_PREFIXES = ("user", "customer-acme-zone-resi-", "brd-customer-hl_", "émile.", "ops@corp-")
PASSWORD_TWISTS = (
    ":",
    "@",
    "%",
    "/",
    " ",
    "%40",
    "é",
    "ü",
    "密码",
    "🔑",
    ":@/% ",
    "p@ss:w/rd 100%",
)
ALPHANUMERIC = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
PLACES = (  # country code, country, region, city, latitude, longitude
    ("US", "United States", "District of Columbia", "Washington, D.C.", 38.9, -77.04),
    ("US", "United States", "California", "Los Angeles", 34.05, -118.24),
    ("US", "United States", "New York", "New York", 40.71, -74.01),
    ("DE", "Germany", "Hessen", "Frankfurt am Main", 50.11, 8.68),
    ("DE", "Germany", "Bayern", "Nürnberg", 49.45, 11.08),
    ("BR", "Brazil", "São Paulo", "São Paulo", -23.55, -46.63),
    ("JP", "Japan", "東京都", "東京", 35.68, 139.69),
    ("CN", "China", "广东省", "深圳", 22.54, 114.06),
    ("RU", "Russia", "Москва", "Москва", 55.75, 37.62),
    ("KR", "South Korea", "서울특별시", "서울", 37.57, 126.98),
    ("AE", "United Arab Emirates", "Dubai", "دبي", 25.2, 55.27),
    ("FR", "France", "Île-de-France", "Paris", 48.86, 2.35),
    ("NL", "Netherlands", "Noord-Brabant", "'s-Hertogenbosch", 51.69, 5.3),
    ("CH", "Switzerland", "Zürich", "Zürich", 47.37, 8.54),
    ("PL", "Poland", "Małopolskie", "Kraków", 50.06, 19.94),
    ("VN", "Vietnam", "Hồ Chí Minh", "Thành phố Hồ Chí Minh", 10.82, 106.63),
    ("IN", "India", "Maharashtra", "Mumbai", 19.08, 72.88),
    ("GB", "United Kingdom", "England", "London", 51.51, -0.13),
    ("SG", "Singapore", "", "Singapore", 1.35, 103.82),
    ("IS", "Iceland", "Höfuðborgarsvæðið", "Reykjavík", 64.15, -21.94),
)
NETWORKS = (  # asn, isp_name, is_datacenter
    (24940, "Hetzner Online GmbH", True),
    (14061, "DigitalOcean, LLC", True),
    (16509, "Amazon.com, Inc.", True),
    (16276, "OVH SAS", True),
    (20473, "The Constant Company, LLC", True),
    (45090, "Shenzhen Tencent Computer Systems Company Limited", True),
    (4134, "China Telecom 中国电信", False),
    (7922, "Comcast Cable Communications, LLC", False),
    (3320, "Deutsche Telekom AG", False),
    (12389, 'PJSC "Rostelecom"', False),
    (28573, "Claro NXT Telecomunicações Ltda", False),
    (9829, "National Internet Backbone", False),
)
ODD_ISP_NAMES = (
    "",
    "Line One Networks\nLine Two Division",
    "Carrier\r\nWith CRLF",
    "Tab\tSeparated Transit",
    "Ctrl\x01Byte Telecom",
    "Delete\x7fNet",
    '"Quoted" Hosting, Ltd.',
    "🚀 Rocket Proxies 🛰️",
    "Back\\slash ISP",
)
SOURCES = (  # name, list URL ({p}: protocol; None: added by hand)
    ("proxyscrape", "https://api.proxyscrape.com/v2/?request=getproxies&protocol={p}&country=all"),
    ("github:TheSpeedX", "https://raw.githubusercontent.com/TheSpeedX/PROXY-List/master/{p}.txt"),
    ("free-proxy-list", "https://free-proxy-list.net/"),
    ("geonode", "https://proxylist.geonode.com/api/proxy-list?limit=500&protocols={p}"),
    ("user", None),
)
HEALTH = ("healthy", "degraded", "unhealthy", "dead", "unknown")
HEALTH_CUMULATIVE = (0.55, 0.70, 0.80, 0.90)
SUCCESS_RATES = {"healthy": (0.85, 1.0), "degraded": (0.5, 0.85), "unhealthy": (0.1, 0.5)}
LATENCY_MEDIANS_MS = {"healthy": 350.0, "degraded": 900.0, "unhealthy": 2200.0, "dead": 6000.0}
CHECK_ERRORS = (  # error_type, error_message, response_time_ms
    ("timeout", "Read timed out. (read timeout=10)", 10_000.0),
    ("connection_refused", "[Errno 111] Connection refused", None),
    ("proxy_auth_required", 'Proxy returned 407 "Proxy Authentication Required"', 41.5),
    ("ssl_error", "SSL: CERTIFICATE_VERIFY_FAILED, self-signed certificate in chain", 212.25),
    ("invalid_response", "Expected JSON, got:\n<html>\n\t<title>Blocked</title>\n</html>", 88.0),
    ("invalid_response", "Garbage from upstream: \x01\x02\x7f", 0.1 + 0.2),
    ("connection_reset", "Connexion réinitialisée par le correspondant", 1 / 3),
    ("socks_error", "SOCKS5 握手失败 (0x05) 😵", None),
    ("unknown", "", None),
)


def pick(rng: random.Random, options: Sequence[Any]) -> Any:
    # Indexing by rng.random() is several times faster than rng.choice.
    return options[int(rng.random() * len(options))]
