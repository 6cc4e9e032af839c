"""Which values of a configuration are secrets: tables of key names and value shapes.

The configurations kept beside proxywhirl (mihomo/Clash, sing-box, v2ray/xray, 3proxy,
squid, HAProxy, nginx, docker-compose, Kubernetes, Helm values, `.env`) hold their
credentials under a few kinds of key, and in a few shapes of value. A key is judged by the
*words* of its name (`PROXYWHIRL_CACHE_KEY_PREVIOUS` is cache, key, previous), a value by
its shape and by where it sits (its parent keys). Everything here is data and pure
functions; `redaction.py` walks documents with it, and plain-text lines go through
`mask_line`/`mask_lines` there.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Literal

Kind = Literal["secret", "auth"]


def words(text: str) -> frozenset[str]:
    """A table of words written as one string."""
    return frozenset(text.split())


#: Names whose value is a secret (matched on the words of a key, plural `s` allowed), on
#: top of the spec's `redact.keys`.
SECRET_NAMES = (
    *("password", "passwd", "pass", "pwd", "passphrase", "secret", "secret_id", "token"),
    *("api_key", "apikey", "access_key", "secret_key", "private_key", "auth_key"),
    *("session_key", "master_key", "signing_key", "license_key", "client_key", "ssh_key"),
    *("psk", "pre_shared_key", "preshared_key", "shared_key", "auth_str", "auth_pass"),
    *("requirepass", "masterauth", "short_id", "protocol_param", "obfs_password"),
)
#: Names of authentication settings: a value there is a credential unless it is a flag,
#: a number, a word from `AUTH_WORDS` or a reference (`auth: basic`, `require_auth: true`).
AUTH_NAMES = (
    *("auth", "authentication", "authorization", "authorisation", "credential", "credentials"),
)
AUTH_WORDS = words(
    "none basic digest bearer token password jwt oauth oauth2 oidc ldap pam ntlm kerberos "
    "negotiate strong iponly nbname radius required optional internal external local any "
    "anonymous off on true false yes no enabled disabled"
)
#: A secret name followed by one of these words names something else: `skip-auth-prefixes`,
#: `secretName`, `secretKeyRef`, `auth_basic_user_file`, `password_file`, `token_ttl`.
NON_SECRET_HEADS = words(
    "name names file files path paths dir directory ref refs reference key keys env var "
    "variable type kind mode method scheme algorithm algo enabled disabled required prefix "
    "prefixes suffix length size count ttl timeout expiry expires lifetime interval header "
    "headers realm provider policy url uri endpoint server host port command cmd helper "
    "program format level strategy backend plugin version basic digest request param "
    "params rotation retries min max affinity"
)
#: A secret name after one of these words is a setting about it: `existingSecret`,
#: `PROXYWHIRL_REQUIRE_AUTH`, `enable_auth`, `use_token`.
NON_SECRET_LEADS = words(
    "existing require requires required skip enable enabled disable disabled use allow "
    "no without create generate"
)
#: Names that read as secret but are not: Bitnami charts' `auth.secretKeys` (names of
#: keys), nginx's `proxy_pass` and its kin (upstreams).
NON_SECRET_NAMES = words(
    "secretkeys proxypass fastcgipass uwsgipass grpcpass scgipass memcachedpass"
)
#: Names of structure under a secret: kept as they are (`secret: {secretName, items}`).
STRUCTURE_NAMES = words("create optional external labels annotations description defaultmode items")
#: Maps and lists of users: `users: {alice: pw}` holds passwords; `[alice:pw]` too.
CREDENTIAL_LISTS = words("users accounts clients userlist logins htpasswd")
#: Parents under which an `id` holding a UUID is a credential (xray `clients[].id`).
CREDENTIAL_OWNERS = words("users accounts clients proxies outbounds inbounds vnext listeners peers")
#: Names whose value is always a credential: vmess/vless/tuic `uuid`.
UUID_NAMES = words("uuid")
#: Objects that name a value: `{name: DB_PASSWORD, value: ...}` (Kubernetes `env`).
PAIR_KEYS = (("name", "value"), ("key", "value"), ("header", "value"))
#: Kubernetes objects whose maps hold secrets whatever their keys are named.
SECRET_OBJECTS = {"Secret": ("data", "stringData")}
#: Key paths (their tail, each part a glob) whose values are references, never secrets:
#: Compose's `services.<name>.secrets: [db_password]` and `secrets.<name>.environment: VAR`
#: name secrets.
REFERENCE_PATHS = (("services", "*", "secrets"), ("secrets", "*", "environment"))
#: Under `annotations`, a value that is a Kubernetes object name (or a list of them) names
#: one (`nginx.ingress.kubernetes.io/auth-secret: basic-auth`); other values are judged.
ANNOTATIONS = "annotations"
OBJECT_NAMES = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(,[a-z0-9]([-a-z0-9.]*[a-z0-9])?)*")

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
#: `user:password` (no spaces, no URL scheme).
USER_PASS = re.compile(r"[^\s:/@]+:[^\s]+")
BOOLISH = words("true false yes no on off 1 0 enabled disabled")
#: Values that point at a secret rather than hold it: `${VAR}`, `$VAR`, a file path,
#: `op://vault/item`, a `{{ template }}`.
REFERENCES = (
    re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?"),
    re.compile(r"\$\{\{\s*[\w.-]+\s*\}\}|\{\{[^{}]*\}\}"),
    re.compile(r"(?:~|\.{1,2})?(?:/[\w.@+-]+){2,}/?|(?:~|\.{1,2})/[\w.@+-]+"),
    re.compile(r"[\w.-]+\.(?:pem|key|crt|cer|der|p12|pfx|jks|txt|htpasswd|json|conf)"),
    re.compile(r"(?:op|vault|file|env|secretref|awssm|gcpsm)://\S+"),
)
#: Private keys in PEM (and OpenVPN static keys), with their BEGIN/END lines.
PEM_BEGIN = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?|[A-Z ]*ENCRYPTED[A-Z ]*"
    r"|OpenVPN Static key V\d)-----"
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def letters(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


class Names:
    """Judges key names: `secret`, `auth` (an authentication setting) or None."""

    def __init__(self, keys: Iterable[str]):
        given = {letters(k) for k in keys} - {""}
        auth = {letters(n) for n in AUTH_NAMES}
        secret = (given | {letters(n) for n in SECRET_NAMES}) - auth
        self.fragments: list[tuple[str, Kind]] = sorted(
            [(f, "secret") for f in secret] + [(f, "auth") for f in auth & (given | auth)],
            key=lambda item: -len(item[0]),
        )

    def kind(self, name: str) -> Kind | None:
        words = [w.lower() for w in _WORD.findall(name)]
        if not words or "".join(words) in NON_SECRET_NAMES:
            return None
        found = self.last_match(words)
        if found is None:
            return None
        start, end, kind = found
        before, after = _split(words, start, end)
        if NON_SECRET_HEADS & set(after) or NON_SECRET_LEADS & set(before):
            return None
        return kind

    def last_match(self, words: list[str]) -> tuple[int, int, Kind] | None:
        """The secret fragment ending last among the name's letters, on a word end."""
        text = "".join(words)
        starts, ends = set(), set()
        position = 0
        for word in words:
            starts.add(position)
            position += len(word)
            ends.add(position)
        best: tuple[int, int, Kind] | None = None
        for fragment, kind in self.fragments:
            at = text.find(fragment)
            while at >= 0:
                end = at + len(fragment)
                plural = end + 1 in ends and text[end] == "s"
                whole = at in starts or len(fragment) >= 5  # `bypass` holds no `pass`
                if whole and (end in ends or plural):
                    end += plural and end not in ends
                    if best is None or end > best[1]:
                        best = (at, end, kind)
                at = text.find(fragment, at + 1)
        return best


def _split(words: list[str], start: int, end: int) -> tuple[list[str], list[str]]:
    """The words before a match and after it (by letter offsets)."""
    before, after, position = [], [], 0
    for word in words:
        if position + len(word) <= start:
            before.append(word)
        elif position >= end:
            after.append(word)
        position += len(word)
    return before, after


def is_reference(text: str) -> bool:
    return any(pattern.fullmatch(text.strip()) for pattern in REFERENCES)


def hides(kind: Kind, value: object, marker: str) -> bool:
    """Whether a scalar under a name of this kind is a secret to mask."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return kind == "secret"
    if not isinstance(value, str):
        return True  # a date or time under a secret name: masked like any value
    text = value.strip()
    if not text or text == marker or is_reference(text):
        return False
    if kind == "auth":
        lowered = text.lower()
        return not (lowered in BOOLISH or lowered in AUTH_WORDS or _number(text))
    return True


def _number(text: str) -> bool:
    return re.fullmatch(r"-?\d+(?:\.\d+)?", text) is not None


def tail_matches(path: tuple[str | int, ...], pattern: tuple[str, ...]) -> bool:
    if len(path) < len(pattern):
        return False
    tail = path[len(path) - len(pattern) :]
    return all(fnmatch.fnmatchcase(str(k), p) for k, p in zip(tail, pattern, strict=True))


def is_pem_lines(items: list[object]) -> bool:
    """A list of text lines holding a private key (sing-box's `key: [lines]`)."""
    return any(isinstance(i, str) and PEM_BEGIN.search(i) for i in items)


# --- plain-text lines ---------------------------------------------------------------------

#: Shapes of secrets on one line of a plain-text configuration: (rule, line filter, value
#: pattern with a `secret` group). Judged by name afterwards: `assignment`, `directive`, `flag`.
LINE_RULES: tuple[tuple[str, re.Pattern[str] | None, re.Pattern[str]], ...] = (
    # 3proxy: `users alice:CL:password bob:CR:$1$salt$hash`
    ("3proxy_users", None, re.compile(r"(?<![^\s\"])[^\s:\"]+:(?:CL|CR|NT):(?P<secret>[^\s\"]+)")),
    # 3proxy: `parent 1000 http 10.0.0.1 3128 user password`
    (
        "3proxy_parent",
        None,
        re.compile(r"^\s*parent\s+\d+\s+\w+\s+\S+\s+\d+\s+\S+\s+(?P<secret>\S+)"),
    ),
    # HAProxy userlist: `user admin password $5$...` / `user bob insecure-password pw`
    (
        "haproxy_user",
        None,
        re.compile(r"^\s*user\s+\S+\s+(?:insecure-)?password\s+(?P<secret>\S+)"),
    ),
    # HAProxy: `stats auth admin:password`
    ("haproxy_stats_auth", None, re.compile(r"^\s*stats\s+auth\s+[^:\s]+:(?P<secret>\S+)")),
    # squid: `cache_peer ... login=user:password`
    ("squid_login", None, re.compile(r"\blogin=[^:\s]+:(?P<secret>[^\s\"']+)")),
    # squid helpers: `auth_param basic program basic_ldap_auth ... -w password`
    (
        "squid_helper_password",
        re.compile(r"^\s*(?:auth_param|external_acl_type)\b"),
        re.compile(r"\s-w\s+(?P<secret>\S+)"),
    ),
    # nginx/HAProxy: `proxy_set_header Authorization "Basic dXNlcjpwYXNz";`
    (
        "authorization_header",
        None,
        re.compile(
            r"\b(?:proxy-)?authorization\b[\"']?\s+[\"']?(?:basic|bearer|digest|token)\s+"
            r"(?P<secret>[^\s\"';]+)",
            re.I,
        ),
    ),
    # Share links whose whole payload is the proxy's settings, credential included
    # (`vless://uuid@`, `trojan://password@` are URL user info, masked by the engine).
    ("share_link", None, re.compile(r"\b(?:vmess|ssr)://(?P<secret>[A-Za-z0-9+/=_-]+)")),
    # Redis ACL: `user alice on >password ~* +@all`
    (
        "redis_acl_password",
        re.compile(r"^\s*user\s+\S+\s+(?:on|off|reset)\b"),
        re.compile(r"(?<=\s)[>#](?P<secret>[^\s]+)"),
    ),
)
#: A whole line `KEY=value`, `KEY = value`, `key: value`, `export KEY=value`.
ASSIGNMENT = re.compile(
    r"^(?P<lead>\s*(?:export\s+)?)(?P<key>[A-Za-z_][\w.-]*)(?P<sep>\s*[:=]\s*)"
    r"(?P<secret>\S.*?)(?P<tail>\s*;?\s*)$"
)
#: A whole line `directive value` (`requirepass foo`, `auth_pass 1111`, `secret x;`).
DIRECTIVE = re.compile(
    r"^(?P<lead>\s*)(?P<key>[A-Za-z_][\w.-]*)(?P<sep>\s+)"
    r"(?P<secret>\"[^\"]*\"|'[^']*'|[^\s;\"']+)(?P<tail>\s*;?\s*)$"
)
#: A header set by nginx or HAProxy: `proxy_set_header X-Api-Key value;`.
HEADER = re.compile(
    r"\b(?:proxy_set_header|add_header|more_set_headers|set-header|add-header)\s+"
    r"[\"']?(?P<key>[\w-]+)[\"']?:?\s+(?P<secret>\"[^\"]*\"|'[^']*'|[^\s;\"']+)"
)
#: A command-line flag alone, its value the next argument: `["--api-token", "..."]`.
LONE_FLAG = re.compile(r"--?(?P<key>[A-Za-z][\w-]*)")
#: A command-line flag and its value: `--requirepass foo`, `--password=x`.
FLAG = re.compile(r"(?<!\S)--?(?P<key>[A-Za-z][\w-]*)(?:=|\s+)(?P<secret>[^\s\"'-][^\s\"']*)")
