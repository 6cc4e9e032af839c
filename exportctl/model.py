"""Typed, immutable spec objects. Nothing past the loader reads raw dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from exportctl.errors import SpecProblem

Scalar = str | int | float | bool | None

# --- filters ---------------------------------------------------------------

CompareOp = Literal["eq", "ne", "lt", "le", "gt", "ge"]


@dataclass(frozen=True)
class Compare:
    """`field <op> value`; NULL never compares true, as in SQL."""

    field: str
    op: CompareOp
    value: Scalar


@dataclass(frozen=True)
class InSet:
    field: str
    values: tuple[Scalar, ...]
    negate: bool = False


@dataclass(frozen=True)
class Between:
    """Inclusive at both ends, like SQL BETWEEN."""

    field: str
    low: Scalar
    high: Scalar


@dataclass(frozen=True)
class Like:
    """Case-sensitive SQL LIKE: `%` any run, `_` one character."""

    field: str
    pattern: str


@dataclass(frozen=True)
class Contains:
    """Case-sensitive substring test; the text has no wildcards."""

    field: str
    text: str


@dataclass(frozen=True)
class IsNull:
    field: str
    negate: bool = False


@dataclass(frozen=True)
class And:
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    item: Filter


Filter = Compare | InSet | Between | Like | Contains | IsNull | And | Or | Not


# --- the rest of a spec ------------------------------------------------------


@dataclass(frozen=True)
class OrderKey:
    field: str
    descending: bool = False
    #: Text by code point (as Python compares it), not by the column's locale: for a merge.
    code_point: bool = False


@dataclass(frozen=True)
class Query:
    """What to read: a table or raw SQL, narrowed by a filter."""

    table: str | None = None
    sql: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    where: Filter | None = None
    order_by: tuple[OrderKey, ...] = ()
    limit: int | None = None


FieldType = Literal["string", "integer", "number", "boolean", "timestamp", "date"]


@dataclass(frozen=True)
class Check:
    """The shape a field declares; rows that break it are invalid."""

    type: FieldType | None = None
    nullable: bool = True
    allowed: tuple[Scalar, ...] | None = None
    pattern: str | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Field:
    """One output column: a source column (maybe renamed) or a computed one."""

    name: str
    source: str | None = None
    template: str | None = None
    check: Check | None = None
    #: Parse the column's JSON text (an object of text values) into a nested value.
    json: bool = False


@dataclass(frozen=True)
class Component:
    """A registered component chosen by `type`, with its own typed options."""

    type: str
    options: Any


@dataclass(frozen=True)
class Destination:
    uri: str
    manifest: bool = True
    #: Rows per part; None writes one file.
    split_rows: int | None = None
    #: Most bytes the export may store, parts included.
    max_bytes: int | None = None
    #: The options of the destination the URI's scheme chooses (its `Options`), or None.
    options: Any = None
    #: Stored bytes (after compression) at which a part closes; None: no limit by size.
    split_bytes: int | None = None
    #: The spec's mode for local files (`0640`); None: as the umask leaves it.
    mode: int | None = None

    @property
    def splits(self) -> bool:
        """Whether the export is written as parts (by rows, bytes or both)."""
        return self.split_rows is not None or self.split_bytes is not None


@dataclass(frozen=True)
class Validation:
    on_invalid: Literal["fail", "skip", "quarantine"] = "fail"
    #: Where quarantined rows go; None: beside the destination.
    quarantine: str | None = None


@dataclass(frozen=True)
class Retry:
    """Attempts of one run, for transient failures; times in seconds."""

    attempts: int = 3
    backoff: float = 1.0
    max_backoff: float = 60.0
    budget: float = 900.0


@dataclass(frozen=True)
class Webhook:
    # Webhook URLs (Slack's, say) and headers carry tokens: kept out of reprs.
    url: str = field(repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout: float = 10.0


@dataclass(frozen=True)
class Email:
    host: str
    sender: str
    to: tuple[str, ...]
    port: int | None = None
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0


@dataclass(frozen=True)
class Alerts:
    when: frozenset[Literal["failure", "success"]] = frozenset({"failure"})
    webhook: Webhook | None = None
    command: tuple[str, ...] | None = None
    email: Email | None = None


@dataclass(frozen=True)
class Retention:
    keep_last: int | None = None
    max_age: str | None = None


@dataclass(frozen=True)
class Schedule:
    every: str
    timezone: str = "UTC"
    #: Ticks missed while the daemon was down: `latest` runs once at start, `none` waits.
    catch_up: str = "latest"


@dataclass(frozen=True)
class Incremental:
    """Export what changed since the last committed run.

    `cursor` and `log` modes: rows past the watermark, ordered by (cursor, key).
    `changes` mode: inserts, updates and deletes found against a snapshot of `keys`.
    """

    cursor: str = ""
    key: str | None = None
    #: `cursor` (rows whose cursor moved past the watermark), `log` (the same, over a table
    #: that records changes itself) or `changes` (a diff against the last committed state).
    mode: str = "cursor"
    #: The key columns of a `changes` export: unique, non-NULL, sortable.
    keys: tuple[str, ...] = ()
    #: `cursor`/`log`: the window ends at rows whose cursor is at most `now - settle`.
    settle: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.cursor, self.key) if self.key else (self.cursor,)

    @property
    def identity(self) -> str:
        """What the watermark stands for; as before `mode` existed, for cursor exports."""
        if self.mode == "changes":
            return f"Incremental(mode='changes', keys={self.keys!r})"
        return f"Incremental(cursor={self.cursor!r}, key={self.key!r})"


@dataclass(frozen=True)
class Partitioning:
    """Cut the rows into half-open ranges of `by`: `count` of them, about `size` rows
    each, or periods of `every` (`1d`); rows whose `by` is NULL make a partition of their own."""

    by: str
    count: int | None = None
    size: int | None = None
    every: str | None = None


@dataclass(frozen=True)
class Engine:
    """What runs the export: `local` (this process), its rows maybe cut into partitions,
    or `dask` (the partitions as tasks on a Dask cluster)."""

    type: str = "local"
    partitions: Partitioning | None = None
    #: The Dask scheduler (`tcp://host:8786`); None: a cluster on this machine for the run.
    address: str | None = None
    #: The partitions' parts joined into the one file the destination names, by the driver.
    merge: bool = False


@dataclass(frozen=True)
class TimeRange:
    """Rows whose `field` lies in [from, to), expressions resolved when a plan is made."""

    field: str
    #: `from`: `now-7d`, an ISO-8601 date or instant; None: the window's start, or unbounded.
    start: str | None = None
    #: `to`, exclusive; None: the window's end, or unbounded.
    end: str | None = None
    #: A calendar window such as `yesterday`, aligned to `timezone`.
    window: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class Wide:
    """One row per `index` value, one column per `names` entry holding that row's `values`
    where `columns` equals it (NULL where it has none)."""

    index: str
    columns: str
    values: str
    names: tuple[str, ...]


#: Key and column names that hold secrets, matched inside compound names (`db_password`).
DEFAULT_REDACT_KEYS = (
    *("password", "passwd", "secret", "token", "api_key", "apikey", "access_key"),
    *("private_key", "credential", "credentials", "auth", "authorization", "cookie"),
    # `cache_key`: proxywhirl keeps its previous Fernet key in PROXYWHIRL_CACHE_KEY_PREVIOUS.
    *("session", "encryption_key", "cache_key"),
)


@dataclass(frozen=True)
class Redaction:
    """What `redact` hides before anything is encoded: named columns and secret values."""

    #: Name fragments; a column, nested key or `key=value` key whose name holds one is secret.
    keys: tuple[str, ...] = DEFAULT_REDACT_KEYS
    #: Extra regular expressions; the group `secret` (else the whole match) is hidden.
    values: tuple[str, ...] = ()
    mode: Literal["mask", "hash", "drop"] = "mask"
    #: How credentials in URLs go: `redact` as `mode` says, or `strip_credentials`.
    url_mode: Literal["redact", "strip_credentials"] = "redact"
    marker: str = "***"
    hash_key_env: str = "EXPORTCTL_HASH_KEY"
    #: The HMAC key read from `hash_key_env` when the spec was loaded (`hash` mode only).
    hash_key: bytes | None = field(default=None, repr=False, compare=False)


CredentialsMode = Literal["strip", "mask", "keep", "reveal"]


@dataclass(frozen=True)
class Credentials:
    """How proxy credentials (proxywhirl's `encrypted:` columns) reach the output."""

    #: `strip`: none (NULL, URLs without user info); `mask`: `marker`; `keep`: as stored
    #: (ciphertext); `reveal`: decrypted with the keys from the environment.
    mode: CredentialsMode = "strip"
    username: str = "username"
    password: str = "password"  # noqa: S105 - a column's name
    #: A column of proxy URLs whose user info is removed (strip) or masked (mask).
    url: str = "url"
    marker: str = "***"
    key_env: str = "PROXYWHIRL_CACHE_ENCRYPTION_KEY"
    previous_keys_env: tuple[str, ...] = ("PROXYWHIRL_CACHE_KEY_PREVIOUS",)
    #: Fernet keys read from those variables when the spec was loaded (`reveal` only).
    keys: tuple[bytes, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class ExportSpec:
    version: int
    name: str
    description: str
    source: Component
    query: Query
    fields: tuple[Field, ...] | None
    format: Component
    compression: str | None
    compression_level: int | None
    destination: Destination
    retention: Retention | None
    schedule: Schedule | None
    incremental: Incremental | None
    path: Path = field(compare=False)
    validation: Validation = Validation()
    retry: Retry = Retry()
    alerts: Alerts | None = None
    time_range: TimeRange | None = None
    #: Long (None: one source row an output row) or wide.
    reshape: Wide | None = None
    #: What to redact before encoding; None: nothing.
    redact: Redaction | None = None
    #: How proxy credentials reach the output; by default they do not.
    credentials: Credentials = Credentials()
    engine: Engine = Engine()
    digest: str = ""
    #: The environment variables a run reads (`${VAR}` without a default, hash and
    #: credential keys), by name; `validate` lists them.
    env_names: tuple[str, ...] = ()
    #: Those of `env_names` unset when the spec loaded.
    env_unset: tuple[str, ...] = ()
    #: The same, each a problem naming the variable and where; `apply` and the daemon
    #: refuse to start on them, `validate` and `plan` only say so.
    unset_env: tuple[SpecProblem, ...] = field(default=(), compare=False)

    @property
    def base_dir(self) -> Path:
        """Relative paths in a spec resolve against the folder it lives in."""
        return self.path.parent
