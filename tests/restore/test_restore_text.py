"""Plain-text configurations (3proxy, squid, anything no structured reader parses): exported
verbatim as lines, secrets masked by the line's shape, restored byte for byte."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.cli.main import main
from exportctl.model import Redaction
from exportctl.plan.compiler import compile_plan
from exportctl.restore import secrets, writers
from exportctl.run import runner
from exportctl.sources.config import files
from exportctl.spec.load import load_spec
from exportctl.transforms.line_secrets import mask_line
from exportctl.transforms.redact.columns import Redactor

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
SECRETS = ("Pr0xyPa55", "b0bSecret", "ldapBind!9", "peerPw42", "chpasswd7")
FILES = {
    "3proxy.cfg": (
        "# 3proxy: accounts, then the services\n"
        "nserver 1.1.1.1\n"
        "users admin:CL:Pr0xyPa55 bob:CL:b0bSecret\n"
        "auth strong\n"
        "allow admin,bob\n"
        "proxy -p3128 -a\n"
        "socks -p1080\n"
    ),
    "squid/squid.conf": (
        "http_port 3128   \n"
        "auth_param basic program /usr/lib/squid/basic_ldap_auth -b dc=example,dc=com "
        '-D "cn=proxy,dc=example,dc=com" -w ldapBind!9 -f uid=%s -h ldap.example.com\n'
        "auth_param basic realm proxy\n"
        "cache_peer upstream.example 3128 0 no-query default login=relay:peerPw42\n"
        "acl authenticated proxy_auth REQUIRED\n"
        "http_access allow authenticated\n"
    ),
    "windows.conf": "line one\r\nline two \r\n\r\nlast, without an end",
    "odd-breaks.txt": "a\x0bb\x0cc\u2028d\u0085e\rf\n\n  trailing  \n",
    "chpasswd.sh": "#!/bin/sh\nvpn-client --password chpasswd7 --server vpn.example\n",
    "settings.yaml": "port: 3128   # the port\n",
}
SPEC = """\
version: 1
name: cfg
source: {{type: config, path: {config}}}
format: {format}
destination: {out}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "system" / "config"
    for name, text in FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(text.encode("utf-8"))
    (folder / ".git").mkdir()  # a folder kept in git: its binary files are left out
    (folder / ".git" / "index").write_bytes(b"DIRC\x00\x00\x00\x02\xff\xfe")
    return folder


def export(config: Path, out: Path, fmt: str) -> Path:
    spec_file = out.parent / f"spec-{out.stem}.yaml"
    spec_file.write_text(SPEC.format(config=config, format=fmt, out=out))
    result = runner.run(compile_plan(load_spec(spec_file, env={}), now=NOW, run_id="r1"))
    assert result.status == "succeeded", result.error
    return out


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_every_file_in_a_folder_round_trips_byte_for_byte_with_no_secret_exported(
    config: Path, tmp_path: Path, fmt: str
) -> None:
    document = export(config, tmp_path / f"doc.{fmt}", fmt)
    data = document.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in data
    rows = {row["path"]: row for row in yaml.safe_load(data)}
    assert set(rows) == set(FILES)
    assert rows["3proxy.cfg"]["format"] == "text"
    assert rows["3proxy.cfg"]["content"][2] == "users admin:CL:*** bob:CL:***\n"
    assert rows["windows.conf"]["content"] == FILES["windows.conf"].splitlines(keepends=True)

    supplied = {
        "3proxy.cfg:[2]": ["Pr0xyPa55", "b0bSecret"],  # one per mask, in order
        "squid/squid.conf:[1]": "ldapBind!9",
        "squid/squid.conf:[3]": "peerPw42",
        "chpasswd.sh:[1]": "chpasswd7",
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(supplied))
    target = tmp_path / "restored"
    done = CliRunner().invoke(
        main,
        ["restore", str(document), "--to", str(target), "--secrets-from", str(tmp_path / "s.yaml")],
        catch_exceptions=False,
    )

    assert done.exit_code == 0, done.output
    for name, text in FILES.items():
        if files.format_of(Path(name)) in ("text", "ini"):  # text (a .cfg not INI is text)
            assert (target / name).read_bytes() == text.encode("utf-8"), name
    # A structured file is restored fresh from its values (its comment is not in them).
    assert yaml.safe_load((target / "settings.yaml").read_text()) == {"port": 3128}
    for secret in SECRETS:
        assert secret not in done.output


def test_without_their_secrets_text_files_are_refused_by_line(config: Path, tmp_path: Path) -> None:
    document = export(config, tmp_path / "doc.yaml", "yaml")
    done = CliRunner().invoke(main, ["restore", str(document), "--to", str(tmp_path / "r")])
    assert done.exit_code == 2
    for name in ("3proxy.cfg:[2]", "squid/squid.conf:[1]", "squid/squid.conf:[3]"):
        assert name in done.output
    assert "EXPORTCTL_SECRET_SQUID_SQUID_CONF_1" in done.output
    assert not (tmp_path / "r").exists()
    # A line is named with its file only: `[1]` alone would fill line 1 of every text file.
    env = {"EXPORTCTL_SECRET_1": "x", "EXPORTCTL_SECRET_2": "x", "EXPORTCTL_SECRET_3": "x"}
    alone = CliRunner().invoke(
        main,
        ["restore", str(document), "--to", str(tmp_path / "r"), "--secrets-from", "env"],
        env=env,
    )
    assert alone.exit_code == 2 and "3proxy.cfg:[2]" in alone.output


def test_a_file_that_is_not_utf8_text_is_named(config: Path, tmp_path: Path) -> None:
    (config / "cert.p12").write_bytes(b"\x30\x82\xff\xfe binary")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC.format(config=config, format="yaml", out=tmp_path / "d.yaml"))
    result = runner.run(compile_plan(load_spec(spec_file, env={}), now=NOW, run_id="r1"))
    assert result.status == "failed"
    assert "cert.p12 is not UTF-8 text" in (result.error or "")
    assert "exclude" in (result.error or "")


# --- any text, any planted secret: masked in the export, the bytes back on restore -------

_word = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).filter(
    lambda w: "*" not in w and mask_line(w, lambda _: "*") == w  # no secret shape by chance
)
_secret = st.from_regex(r"[A-Za-z0-9!%+/._-]{4,16}", fullmatch=True).filter(
    lambda s: s != "***" and not s.startswith("-")
)
_shapes = (
    lambda s: f"users admin:CL:{s}",
    lambda s: f"   users u1:CR:{s} u2:NT:{s}",
    lambda s: f"auth_param basic program /x/basic_ldap_auth -D cn=a -w {s} -h h",
    lambda s: f"exec helper --password {s}",
    lambda s: f"cache_peer p parent 3128 0 login=user:{s}",
    lambda s: f"bind_password {s}",
    lambda s: f"    user admin insecure-password {s} groups admins",
    lambda s: f"requirepass {s}",
    lambda s: f"masterauth {s}",
)
_end = st.sampled_from(["\n", "\r\n", "\x0b\n", " \n"])


@st.composite
def text_file(draw: st.DrawFn) -> tuple[str, dict[int, tuple[str, str]]]:
    """A text file of plain lines and lines holding a secret in a known shape: its text,
    and by line index each secret and the line as it must be masked."""
    lines, planted = [], {}
    for index in range(draw(st.integers(1, 8))):
        end = draw(_end)
        if draw(st.booleans()):
            secret, shape = draw(_secret), draw(st.sampled_from(_shapes))
            lines.append(shape(secret) + end)
            planted[index] = (secret, shape("***") + end)
        else:
            lines.append(draw(_word).replace("\n", " ") + end)
    if draw(st.booleans()):
        lines[-1] = lines[-1].removesuffix("\n")
        if len(lines) - 1 in planted:
            secret, want = planted[len(lines) - 1]
            planted[len(lines) - 1] = (secret, want.removesuffix("\n"))
    return "".join(lines), planted


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=text_file())
def test_text_lines_mask_their_secrets_and_restore_byte_for_byte(
    drawn: tuple[str, dict[int, tuple[str, str]]],
) -> None:
    text, planted = drawn
    lines = files.parse(text.encode("utf-8"), "text")
    assert "".join(lines) == text

    masked = Redactor(Redaction()).walk(lines)
    for index, (_, want) in planted.items():
        assert masked[index] == want
    assert json.dumps(masked)  # carried in a document as any list of text

    by_name = {f"f.cfg:[{index}]": secret for index, (secret, _) in planted.items()}
    filled, missing, _ = secrets.fill("f.cfg", masked, "***", by_name, False, lines=True)
    assert missing == []
    restored = writers.render("text", None, filled)
    assert restored == text
    assert hashlib.sha256(restored.encode()).digest() == hashlib.sha256(text.encode()).digest()
