"""Proxy credentials stored encrypted as proxywhirl does: strip, mask, keep and reveal.

The pool is the demo's, its credentials encrypted part with the current key and part
with the previous one; plain texts are read back with cryptography's own Fernet, not
with the code under test.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from hypothesis import given, settings
from hypothesis import strategies as st

from exportctl import crypto, registry
from exportctl.cli.main import main
from exportctl.demo.build import init_demo
from exportctl.errors import SpecError
from exportctl.ledger.store import Ledger
from exportctl.model import Credentials, Redaction
from exportctl.spec import secrets as policy
from exportctl.spec.load import load_spec
from exportctl.transforms import credentials as stage
from exportctl.transforms.credentials import apply_credentials
from tests.conftest import demo_env
from tests.support.jsonlines import json_lines

CURRENT, PREVIOUS = "PROXYWHIRL_CACHE_ENCRYPTION_KEY", "PROXYWHIRL_CACHE_KEY_PREVIOUS"
TEXT = pd.ArrowDtype(pa.string())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("credentials") / "demo"
    init_demo(folder, proxies=400, metrics=10, log_lines=10, seed=5)
    return folder


@pytest.fixture(scope="module")
def keys(demo: Path) -> dict[str, str]:
    env = demo_env(demo)
    return {CURRENT: env[CURRENT], PREVIOUS: env[PREVIOUS]}


@pytest.fixture(scope="module")
def pool(demo: Path, keys: dict[str, str]) -> dict[str, dict[str, Any]]:
    """host → its stored username and password, their plain texts and the key that opened them."""
    opener = [Fernet(keys[CURRENT]), Fernet(keys[PREVIOUS])]
    found: dict[str, dict[str, Any]] = {}
    with sqlite3.connect(demo / "system.db") as db:
        rows = db.execute("SELECT host, username, password FROM proxy_identities")
        for host, user, password in rows:
            entry: dict[str, Any] = {"stored": (user, password), "plain": (None, None), "key": None}
            if user is not None:
                tokens = [base64.b64decode(v.removeprefix("encrypted:")) for v in (user, password)]
                for index, key in enumerate(opener):
                    try:
                        entry["plain"] = tuple(key.decrypt(t).decode() for t in tokens)
                    except InvalidToken:
                        continue
                    entry["key"] = index
            found[host] = entry
    assert {e["key"] for e in found.values() if e["key"] is not None} == {0, 1}
    return found


def write_spec(
    folder: Path, demo: Path, name: str, fmt: str, mode: str | None, **more: Any
) -> Path:
    doc: dict[str, Any] = {
        "version": 1,
        "name": name,
        "source": {"type": "sql", "url": f"sqlite:///{demo / 'system.db'}", "chunk_size": 64},
        "query": {"table": "proxy_identities", "order_by": ["url"]},
        "format": json.loads(fmt) if fmt.startswith("{") else fmt,
        "destination": f"out/{name}.{more.pop('extension', 'out')}",
        **more,
    }
    if mode is not None:
        doc["credentials"] = mode
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(doc))
    return path


def apply(spec: Path, env: dict[str, str]) -> Any:
    return CliRunner().invoke(main, ["apply", str(spec)], env=env)


def forbidden(pool: dict[str, dict[str, Any]]) -> set[str]:
    """Every form a credential could leak in: plain, percent-encoded, stored, bare token."""
    forms: set[str] = set()
    for entry in pool.values():
        for plain, stored in zip(entry["plain"], entry["stored"], strict=True):
            if stored is None:
                continue
            token = base64.b64decode(stored.removeprefix("encrypted:")).decode()
            forms |= {plain, quote(plain, safe=""), quote(plain), stored, token}
            forms |= {stored.removeprefix("encrypted:"), json.dumps(plain)[1:-1]}
    return forms


# --- the four modes on the demo pool -----------------------------------------------------


def test_reveal_gives_back_every_username_and_password_percent_encoded_in_urls(
    tmp_path: Path, demo: Path, keys: dict[str, str], pool: dict[str, dict[str, Any]]
) -> None:
    layout = '{"type": "text", "layout": "url"}'
    spec = write_spec(tmp_path, demo, "revealed", layout, "reveal", extension="txt")

    result = apply(spec, keys)

    assert result.exit_code == 0, result.output
    lines = (tmp_path / "out" / "revealed.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(pool)
    seen = set()
    for line in lines:
        parts = urlsplit(line)
        entry = pool[parts.hostname or ""]
        user, password = entry["plain"]
        if user is None:
            assert "@" not in line
            continue
        assert (unquote(parts.username or ""), unquote(parts.password or "")) == (user, password)
        assert f"{quote(user, safe='')}:{quote(password, safe='')}@" in line
        seen.add(entry["key"])
    assert seen == {0, 1}  # both keys of the rotation opened some


def test_reveal_in_a_template_and_a_jsonl_backup(
    tmp_path: Path, demo: Path, keys: dict[str, str], pool: dict[str, dict[str, Any]]
) -> None:
    spec = write_spec(tmp_path, demo, "plain", "jsonl", "reveal", extension="jsonl")

    assert apply(spec, keys).exit_code == 0
    rows = json_lines((tmp_path / "out" / "plain.jsonl").read_text())
    assert {r["host"]: (r["username"], r["password"]) for r in rows} == {
        host: entry["plain"] for host, entry in pool.items()
    }


@pytest.mark.parametrize("mode", ["strip", "mask", None])
@pytest.mark.parametrize(
    "fmt",
    [
        "jsonl",
        "csv",
        '{"type": "text", "layout": "url"}',
        '{"type": "text", "layout": "host:port:user:pass"}',
    ],
)
def test_strip_and_mask_leave_no_credential_in_the_bytes(
    tmp_path: Path,
    demo: Path,
    keys: dict[str, str],
    pool: dict[str, dict[str, Any]],
    mode: str | None,
    fmt: str,
) -> None:
    spec = write_spec(tmp_path, demo, "hidden", fmt, mode)

    result = apply(spec, keys)

    assert result.exit_code == 0, result.output
    data = (tmp_path / "out" / "hidden.out").read_bytes()
    text = data.decode("utf-8")
    leaked = sorted(form for form in forbidden(pool) if form in text)
    assert not leaked
    assert b"encrypted:" not in data
    with_credentials = sum(1 for e in pool.values() if e["stored"][0] is not None)
    if mode == "mask":  # present credentials are marked, absent ones stay absent
        assert text.count("***") + text.count("%2A%2A%2A") == 2 * with_credentials
    if fmt == "jsonl":
        rows = json_lines(text)
        assert len(rows) == len(pool)
        for row in rows:
            present = pool[row["host"]]["stored"][0] is not None
            expected = "***" if mode == "mask" and present else None
            assert (row["username"], row["password"]) == (expected, expected)


def test_keep_exports_the_stored_values_unchanged(
    tmp_path: Path, demo: Path, pool: dict[str, dict[str, Any]]
) -> None:
    spec = write_spec(tmp_path, demo, "backup", "jsonl", "keep", extension="jsonl")

    result = apply(spec, {})  # no key needed to keep what is stored

    assert result.exit_code == 0, result.output
    path = tmp_path / "out" / "backup.jsonl"
    rows = json_lines(path.read_text())
    assert {r["host"]: (r["username"], r["password"]) for r in rows} == {
        host: entry["stored"] for host, entry in pool.items()
    }
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("which", ["wrong current key", "previous key missing"])
def test_a_key_that_opens_nothing_fails_the_run_cleanly(
    tmp_path: Path,
    demo: Path,
    keys: dict[str, str],
    pool: dict[str, dict[str, Any]],
    private_ledger: str,
    which: str,
) -> None:
    wrong = Fernet.generate_key().decode()
    env = (
        {CURRENT: wrong, PREVIOUS: ""} if which == "wrong current key" else {CURRENT: keys[CURRENT]}
    )
    spec = write_spec(tmp_path, demo, "broken", '{"type": "text", "layout": "url"}', "reveal")

    result = apply(spec, env)

    assert result.exit_code == 1
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())  # no file, no temp file, no manifest
    (run,) = Ledger(private_ledger).history("broken")
    assert run["status"] == "failed"
    error = run["error"]
    where = re.search(r"the (?:username|password) of proxy (\S+) with the keys in", error)
    assert where is not None, error
    host = where[1].rsplit(":", 1)[0].strip("[]")  # host:port, an IPv6 host bracketed
    assert pool[host]["stored"][0] is not None, error
    if which == "previous key missing":
        assert pool[host]["key"] == 1  # the current key opened every value before it
    shown = result.output + json.dumps(run, default=str)
    for secret in (wrong, keys[CURRENT], keys[PREVIOUS], *forbidden(pool)):
        assert secret not in shown


def test_reveal_warns_on_the_terminal_and_in_the_run_record(
    tmp_path: Path, demo: Path, keys: dict[str, str], private_ledger: str
) -> None:
    spec = write_spec(tmp_path, demo, "warned", "csv", "reveal")

    result = apply(spec, keys)

    assert result.exit_code == 0, result.output
    assert "credentials revealed" in result.output
    (run,) = Ledger(private_ledger).history("warned")
    (warning,) = [w for w in run["summary"]["warnings"] if "credentials revealed" in w]
    with_credentials = "decrypted username and password value(s)"
    assert with_credentials in warning and not warning.startswith("credentials revealed: 0 ")


# --- the spec -------------------------------------------------------------------------------


def test_the_mode_reads_as_a_word_or_an_object(tmp_path: Path, demo: Path) -> None:
    default = load_spec(write_spec(tmp_path, demo, "a", "csv", None), env={})
    word = load_spec(write_spec(tmp_path, demo, "b", "csv", "mask"), env={})
    full = {"mode": "mask", "columns": {"password": "secret"}, "marker": "X"}
    whole = load_spec(write_spec(tmp_path, demo, "c", "csv", full), env={})  # type: ignore[arg-type]

    assert default.credentials == Credentials()
    assert word.credentials == Credentials(mode="mask")
    assert whole.credentials == Credentials(mode="mask", password="secret", marker="X")


@pytest.mark.parametrize(
    ("mode", "fmt", "env", "message"),
    [
        ("reveal", "csv", {}, r"\$\.credentials\.key_env.*set the variable `PROXYWHIRL_CACHE_ENC"),
        ("reveal", "csv", {CURRENT: "not-a-key"}, r"does not hold a Fernet key"),
        ("keep", '{"type": "text", "layout": "url"}', {}, r"\$\.credentials.*ciphertext"),
    ],
)
def test_a_spec_that_cannot_work_is_refused_before_anything_runs(
    tmp_path: Path, demo: Path, mode: str, fmt: str, env: dict[str, str], message: str
) -> None:
    spec = write_spec(tmp_path, demo, "refused", fmt, mode)

    with pytest.raises(SpecError, match=message) as caught:
        load_spec(spec, env=env)
    assert "not-a-key" not in str(caught.value)
    # A missing key is a problem when the environment is checked: apply, validate --strict-env.
    for command in (["validate", "--strict-env"], ["apply"]):
        result = CliRunner().invoke(main, [*command, str(spec)], env=env)
        assert result.exit_code == 2


# --- the stage, as a pure function -------------------------------------------------------

KEY_A, KEY_B = Fernet.generate_key(), Fernet.generate_key()
#: Text as a database holds it: any character but lone surrogates, which are not UTF-8.
UNICODE = st.text(st.characters(blacklist_categories=("Cs",)))


def frame(dtype: Any = TEXT, **columns: list[Any]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(values, dtype=dtype) for name, values in columns.items()})


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.tuples(UNICODE.filter(bool), UNICODE, st.booleans())),
            st.sampled_from(["1.2.3.4", "2001:db8::1"]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_every_mode_on_any_credentials(rows: list[tuple[Any, str]]) -> None:
    """Whatever the text and whichever key sealed it, reveal opens it and the others hide it."""
    users, passwords, hosts = [], [], []
    for pair, host in rows:
        hosts.append(host)
        if pair is None:
            users.append(None)
            passwords.append(None)
            continue
        user, password, old = pair
        key = Fernet(KEY_B if old else KEY_A)
        users.append(crypto.stored(key.encrypt(user.encode())))
        passwords.append(crypto.stored(key.encrypt(password.encode())))
    chunk = frame(username=users, password=passwords, host=hosts)

    rules = Credentials(mode="reveal", keys=(KEY_A, KEY_B))
    opened, count = apply_credentials(chunk, rules, crypto.keyring(rules.keys))
    expected = [(p[0], p[1]) if p else (None, None) for p, _ in rows]
    got = list(zip(opened["username"].tolist(), opened["password"].tolist(), strict=True))
    assert [tuple(None if pd.isna(v) else v for v in pair) for pair in got] == expected
    assert count == 2 * sum(p is not None for p, _ in rows)

    for mode in ("strip", "mask"):
        hidden, _ = apply_credentials(chunk, Credentials(mode=mode))
        values = hidden[["username", "password"]].to_numpy(dtype=object).ravel().tolist()
        allowed = {None, "***"} if mode == "mask" else {None}
        assert {None if pd.isna(v) else v for v in values} <= allowed
    assert apply_credentials(chunk, Credentials(mode="keep"))[0] is chunk


@pytest.mark.parametrize("dtype", [TEXT, object], ids=["arrow", "python"])
def test_a_url_with_user_info_loses_it_in_strip_and_mask(dtype: Any) -> None:
    urls = ["http://us%3Aer:p%40ss@1.2.3.4:8080", "socks5://[2001:db8::1]:1080", None]
    chunk = frame(dtype, url=urls, username=["us:er", None, None], password=["p@ss", None, None])

    stripped, _ = apply_credentials(chunk, Credentials(mode="strip"))
    masked, _ = apply_credentials(chunk, Credentials(mode="mask"))

    assert stripped["url"].tolist()[:2] == ["http://1.2.3.4:8080", "socks5://[2001:db8::1]:1080"]
    assert masked["url"].tolist()[:2] == ["http://***:***@1.2.3.4:8080", urls[1]]
    assert pd.isna(stripped["url"].iloc[2]) and pd.isna(masked["url"].iloc[2])
    assert chunk["url"].tolist()[0] == urls[0]  # the input is left as it was


def test_plain_columns_of_other_tables_are_left_to_redact() -> None:
    """Only a username-and-password pair is a proxy's; elsewhere only encrypted values count."""
    sealed = crypto.stored(Fernet(KEY_A).encrypt(b"s3cret"))
    chunk = frame(password=["hunter2", sealed], url=["http://u:p@h:1", None])

    out, _ = apply_credentials(chunk, Credentials())

    assert out["password"].tolist()[0] == "hunter2" and pd.isna(out["password"].iloc[1])
    assert out["url"].tolist()[0] == "http://u:p@h:1"


def test_legacy_plain_text_is_revealed_as_it_is_and_damage_is_named() -> None:
    rules = Credentials(mode="reveal", keys=(KEY_A,))
    keyring = MultiFernet([Fernet(KEY_A)])
    legacy = frame(username=["bob"], password=["pw"], host=["5.6.7.8"])
    assert apply_credentials(legacy, rules, keyring)[0]["password"].tolist() == ["pw"]

    damaged = frame(username=["encrypted:bm90IGEgdG9rZW4="], password=[None], host=["5.6.7.8"])
    with pytest.raises(stage.RunError, match=r"username of proxy 5\.6\.7\.8:3128 ") as caught:
        apply_credentials(damaged.assign(port=[3128]), rules, keyring)
    assert "bm90IGEgdG9rZW4" not in str(caught.value)


def test_the_stage_is_pure() -> None:
    assert "runner" not in vars(stage) and "destinations" not in vars(stage)


def test_demo_tokens_are_fernet_tokens_of_their_time() -> None:
    token = crypto.fernet_token(KEY_A, b"x", timestamp=1_700_000_000, iv=bytes(16))

    assert Fernet(KEY_A).decrypt(token) == b"x"
    assert Fernet(KEY_A).extract_timestamp(token) == 1_700_000_000
    assert crypto.fernet_token(KEY_A, b"x", timestamp=1_700_000_000, iv=bytes(16)) == token


def test_holds_secrets_follows_the_mode_and_the_source(tmp_path: Path, demo: Path) -> None:
    def spec(mode: str | None, **more: Any) -> Any:
        return load_spec(write_spec(tmp_path, demo, "s", "csv", mode, **more), env={})

    assert [policy.holds_secrets(spec(m)) for m in (None, "strip", "mask", "keep")] == [
        False,
        False,
        False,
        True,
    ]
    # A source whose registry entry `redacts_by_default` (`config`): secret unless redacted.
    plain = spec(None)
    config = dataclasses.replace(plain.source, type="config")
    assert registry.SOURCES.entry("config").redacts_by_default
    assert policy.holds_secrets(dataclasses.replace(plain, source=config))  # `redact: false`
    redacted = dataclasses.replace(plain, source=config, redact=Redaction())
    assert not policy.holds_secrets(redacted)


def test_plan_shows_the_mode_and_the_file_permissions(
    tmp_path: Path, demo: Path, keys: dict[str, str]
) -> None:
    revealed = write_spec(tmp_path, demo, "shown", "csv", "reveal")

    result = CliRunner().invoke(main, ["plan", str(revealed), "--no-count", "--json"], env=keys)

    assert result.exit_code == 0, result.output
    (described,) = json.loads(result.output)
    assert (described["credentials"], described["file_mode"]) == ("reveal", "0600")
    assert not any(key in result.output for key in keys.values())


def test_a_config_export_hides_both_keys_of_the_rotation(
    tmp_path: Path, demo: Path, keys: dict[str, str]
) -> None:
    """`redact` (on by default for `config`) knows proxywhirl's name for the previous key."""
    doc = {
        "version": 1,
        "name": "settings",
        "source": {"type": "config", "path": str(demo / "config"), "env_prefix": "PROXYWHIRL_"},
        "format": "yaml",
        "destination": "out/settings.yaml",
    }
    (tmp_path / "settings.yaml").write_text(json.dumps(doc))

    result = CliRunner().invoke(main, ["apply", str(tmp_path / "settings.yaml")], env=keys)

    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "settings.yaml").read_text()
    assert "PROXYWHIRL_CACHE_KEY_PREVIOUS" in text  # the variable is there, its value is not
    assert not any(key in text for key in keys.values())
