"""The sftp:// destination against a real OpenSSH server on loopback (tests/support/sshd_server.py).

The server's files are this machine's, so what it stored is read back with
independent readers straight from the folder the URI names.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from exportctl.destinations.sftp import TEMP_SUFFIX, SftpDestination
from exportctl.destinations.sftp_connect import target_of
from exportctl.destinations.sftp_options import SftpOptions, login_moved
from exportctl.errors import RunError, TransientError, scrub
from exportctl.jobs.recorded import recorded, restored
from tests.support.cli import applied, run_cli
from tests.support.sshd_server import PASSPHRASE, SshServer

ROWS = [("10.0.0.1", 80, "alpha"), ("::1", 3128, "b,c"), ("proxy.example", 8080, 'say "hi"')]


@pytest.fixture(autouse=True)
def key_env(sshd: SshServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user key from the environment, as a spec names it; no agent unless a test starts one."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("EXPORT_SSH_KEY", str(sshd.key_file))
    monkeypatch.setenv("EXPORT_SSH_PASSPHRASE", PASSPHRASE)


def options(sshd: SshServer, **more: Any) -> SftpOptions:
    settings = {
        "key_file_env": "EXPORT_SSH_KEY",
        "passphrase_env": "EXPORT_SSH_PASSPHRASE",
        "known_hosts": str(sshd.known_hosts),
        "timeout": 5.0,
        **more,
    }
    return SftpOptions(**settings)


def temps(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".*{TEMP_SUFFIX}"))


@pytest.mark.parametrize("size", [0, 1, 3 * 2**20 + 7], ids=["empty", "one-byte", "3MiB"])
def test_round_trip_matches_bytes_and_digest(sshd: SshServer, tmp_path: Path, size: int):
    payload = os.urandom(size)
    final = tmp_path / "new" / "folder" / "pool.csv.gz"  # missing folders are made
    destination = SftpDestination(options(sshd))
    with destination.open(sshd.uri(final)) as sink:
        for start in range(0, size, 1 << 16):
            sink.stream.write(payload[start : start + (1 << 16)])
        assert sink.written is None
        assert not final.exists() and len(temps(final.parent)) == 1  # the temp, beside it
    assert sink.written is not None
    digest = hashlib.sha256(payload).hexdigest()
    assert (sink.written.bytes, sink.written.sha256) == (size, digest)
    assert final.read_bytes() == payload and temps(final.parent) == []
    with destination.read(sshd.uri(final)) as stream:
        assert stream.read() == payload


def test_a_rerun_replaces_the_file_at_once_and_a_failed_one_keeps_it(
    sshd: SshServer, tmp_path: Path
):
    final = tmp_path / "pool.csv"
    destination = SftpDestination(options(sshd))
    for before, version in ((None, b"first\n"), (b"first\n", b"second\n")):
        with destination.open(sshd.uri(final)) as sink:
            sink.stream.write(version)
            seen = final.read_bytes() if final.exists() else None
            assert seen == before  # readers see the previous file (or none) meanwhile
        assert final.read_bytes() == version  # replaced (posix-rename), not refused
    with pytest.raises(ZeroDivisionError), destination.open(sshd.uri(final)) as sink:
        sink.stream.write(b"third, never whole\n")
        1 / 0  # noqa: B018 (any failure inside the block)
    assert final.read_bytes() == b"second\n" and temps(tmp_path) == []


# --- whole runs, through the CLI ---------------------------------------------------------


@pytest.fixture
def folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Specs, the ledger and the source database; the exports go to `served/`."""
    monkeypatch.setenv("EXPORTCTL_STATE", f"sqlite:///{tmp_path / 'state.db'}")
    with closing(sqlite3.connect(tmp_path / "pool.db")) as conn, conn:
        conn.execute("CREATE TABLE proxies (host TEXT, port INTEGER, note TEXT)")
        conn.executemany("INSERT INTO proxies VALUES (?, ?, ?)", ROWS)
    (tmp_path / "served").mkdir()
    return tmp_path


def sftp_spec(folder: Path, sshd: SshServer, name: str = "pool.csv", **more: Any) -> Path:
    destination = more.pop("destination", {})
    spec = {
        "version": 1,
        "name": "pool",
        "source": {"type": "sql", "url": f"sqlite:///{folder / 'pool.db'}"},
        "query": {"table": "proxies", "order_by": ["host"]},
        "format": "csv",
        **more,
        "destination": {
            "uri": sshd.uri(folder / "served" / name),
            "sftp": {
                "key_file_env": "EXPORT_SSH_KEY",
                "passphrase_env": "EXPORT_SSH_PASSPHRASE",
                "known_hosts": str(sshd.known_hosts),
                "timeout": 5,
            },
            **destination,
        },
    }
    path = folder / "pool.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def ledger_bytes(folder: Path) -> bytes:
    return (folder / "state.db").read_bytes()


def test_an_export_reads_back_equal_with_independent_readers(folder: Path, sshd: SshServer):
    applied(sftp_spec(folder, sshd, "pool.parquet", format="parquet"))
    applied(sftp_spec(folder, sshd, "pool.csv"))

    served = folder / "served"
    table = pq.read_table(served / "pool.parquet")
    assert [tuple(r.values()) for r in table.to_pylist()] == sorted(ROWS)
    with open(served / "pool.csv", newline="") as stream:
        assert [tuple(r) for r in csv.reader(stream)][1:] == [
            (h, str(p), n) for h, p, n in sorted(ROWS)
        ]
    read = duckdb.sql(f"SELECT * FROM read_csv('{served / 'pool.csv'}', header=true)")
    assert read.fetchall() == sorted(ROWS)
    manifest = json.loads((served / "pool.csv.manifest.json").read_text())
    data = (served / "pool.csv").read_bytes()
    assert (manifest["rows"], manifest["sha256"]) == (3, hashlib.sha256(data).hexdigest())
    assert temps(served) == []


def test_a_split_export_has_its_parts_and_a_manifest_listing_them(folder: Path, sshd: SshServer):
    spec = sftp_spec(folder, sshd, destination={"split": {"rows": 1}})
    done = applied(spec)

    served = folder / "served"
    manifest = json.loads((served / "pool.csv.manifest.json").read_text())
    listed = [p["uri"] for p in manifest["parts"]]
    assert len(listed) == 3 and all(u.startswith(sshd.recorded(served)) for u in listed)
    parts = [served / u.rsplit("/", 1)[1] for u in listed]
    for part, entry in zip(parts, manifest["parts"], strict=True):
        assert hashlib.sha256(part.read_bytes()).hexdigest() == entry["sha256"]
    joined = b"".join(p.read_bytes() for p in parts).decode()
    assert [tuple(r) for r in csv.reader(io.StringIO(joined))][1:] == [
        (h, str(p), n) for h, p, n in sorted(ROWS)
    ]
    destination = SftpDestination(options(sshd))
    assert destination.stored_parts(sshd.recorded(served / "pool.csv")) == sorted(listed)
    assert temps(served) == [] and done["rows"] == 3


def test_retention_deletes_the_older_runs_files_on_the_server(folder: Path, sshd: SshServer):
    spec = sftp_spec(folder, sshd, "pool-{{ run.id }}.csv", retention={"keep_last": 1})
    runs = [applied(spec)["run_id"] for _ in range(3)]

    names = sorted(p.name for p in (folder / "served").iterdir())
    assert names == [f"pool-{runs[-1]}.csv", f"pool-{runs[-1]}.csv.manifest.json"]


def test_verify_passes_then_finds_a_changed_file_without_the_spec(folder: Path, sshd: SshServer):
    spec = sftp_spec(folder, sshd)
    run_id = applied(spec)["run_id"]
    spec.unlink()  # the ledger alone says how to reach the server

    code, checks, _ = run_cli("verify", run_id)
    assert code == 0 and {c["role"] for c in checks} == {"data", "manifest"}, checks
    assert all(c["ok"] for c in checks)

    data = folder / "served" / "pool.csv"
    data.write_bytes(data.read_bytes().replace(b"alpha", b"ALPHA"))
    code, checks, _ = run_cli("verify", run_id)
    assert code == 1
    problem = next(c for c in checks if c["role"] == "data")["problem"]
    assert "sha256 differs" in problem
    assert PASSPHRASE.encode() not in ledger_bytes(folder)


# --- a connection dropped mid-upload ----------------------------------------------------


def signal_all(pids: list[int], number: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # gone already
            os.kill(pid, number)


def drop(sshd: SshServer) -> None:
    """Kill sshd's processes for the open connection, as a crash or a cut network would."""
    signal_all(sshd.sessions(), signal.SIGKILL)


@pytest.mark.parametrize("before", [0, 2**20, 4 * 2**20], ids=["at-once", "1MiB-in", "at-commit"])
def test_a_dropped_connection_leaves_no_file_and_the_next_run_removes_the_temp(
    sshd: SshServer, tmp_path: Path, before: int
):
    final, block = tmp_path / "pool.csv", os.urandom(1 << 16)
    destination = SftpDestination(options(sshd))
    with pytest.raises(TransientError) as failed, destination.open(sshd.uri(final)) as sink:
        for written in range(0, 4 * 2**20, len(block)):
            if written == before:
                drop(sshd)
            sink.stream.write(block)
        if before == 4 * 2**20:
            drop(sshd)  # every byte sent: the wait for the server's acknowledgements fails
    assert "broke off" in str(failed.value) and str(final) in str(failed.value)
    assert not final.exists()
    assert len(temps(tmp_path)) <= 1  # left by the dead connection (or never created)

    destination.remove_leftovers(sshd.uri(final))  # what the next attempt or run does first
    assert temps(tmp_path) == [] and not final.exists()


def test_remove_leftovers_removes_only_this_exports_temps(sshd: SshServer, tmp_path: Path):
    kept = ["pool.csv", ".other.csv.0123abcd.exportctl-tmp", ".pool.csv.nothex!!.exportctl-tmp"]
    ours = [".pool.csv.0123abcd.exportctl-tmp", ".pool.part-00002.csv.89abcdef.exportctl-tmp"]
    for name in kept + ours:
        (tmp_path / name).write_text("x")
    SftpDestination(options(sshd)).remove_leftovers(sshd.uri(tmp_path / "pool.csv"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


class Saboteur(threading.Thread):
    """Freezes the SFTP session once the export's temp file appears, then kills it."""

    def __init__(self, sshd: SshServer, folder: Path, final: Path):
        super().__init__(daemon=True)
        self.sshd, self.folder, self.final = sshd, folder, final
        self.final_existed: bool | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        # The session is listed before its temp file appears and stopped the moment it
        # does: listing (pgrep) takes long enough on a loaded machine for a small upload
        # to finish and be renamed in between.
        sessions: list[int] = []
        while not self.stop.is_set() and not temps(self.folder):
            sessions = sessions or self.sshd.sessions()
            time.sleep(0.002)
        signal_all(sessions, signal.SIGSTOP)  # the upload stalls mid-stream: no more is read
        sessions += [pid for pid in self.sshd.sessions() if pid not in sessions]
        signal_all(sessions, signal.SIGSTOP)
        time.sleep(0.3)
        self.final_existed = self.final.exists()
        signal_all(sessions, signal.SIGKILL)


def test_a_run_whose_connection_drops_is_retried_and_leaves_one_whole_file(
    folder: Path, sshd: SshServer
):
    # Enough that the upload is still streaming when the saboteur stops it: 60,000 rows
    # were at times uploaded and renamed before it could (seen in a CI run).
    rows = [(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", i, "x" * 20) for i in range(250_000)]
    with closing(sqlite3.connect(folder / "pool.db")) as conn, conn:
        conn.executemany("INSERT INTO proxies VALUES (?, ?, ?)", rows)
    spec = sftp_spec(folder, sshd, retry={"attempts": 2, "backoff": "0.1s"})
    final = folder / "served" / "pool.csv"
    saboteur = Saboteur(sshd, final.parent, final)
    saboteur.start()
    done = applied(spec)
    saboteur.stop.set()
    saboteur.join(5)

    assert saboteur.final_existed is False  # mid-upload, nothing at the final name
    assert done["attempts"] == 2 and done["rows"] == len(rows) + len(ROWS)
    assert temps(final.parent) == []  # the dead attempt's temp went before the retry
    read = duckdb.sql(f"SELECT count(*), sum(port) FROM read_csv('{final}', header=true)")
    assert read.fetchall() == [(len(rows) + len(ROWS), sum(r[1] for r in rows + ROWS))]


# --- host keys, keys and secrets -------------------------------------------------------


def failed_run(spec: Path) -> tuple[dict[str, Any], str]:
    code, (done,), output = run_cli("apply", str(spec))
    assert (code, done["status"]) == (1, "failed"), done
    assert "Traceback" not in output
    return done, done["error"]


def other_host_key(tmp_path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "k"], check=True
    )
    return (tmp_path / "k.pub").read_text().strip()


def with_known_hosts(folder: Path, sshd: SshServer, text: str, **sftp: Any) -> Path:
    known = folder / "known_hosts"
    known.write_text(text)
    spec = sftp_spec(folder, sshd)
    doc = yaml.safe_load(spec.read_text())
    doc["destination"]["sftp"].update(known_hosts=str(known), **sftp)
    spec.write_text(yaml.safe_dump(doc))
    return spec


def test_an_unknown_host_is_refused_and_not_retried(folder: Path, sshd: SshServer):
    elsewhere = f"[{sshd.folder.name}.example]:22 {other_host_key(folder)}\n"
    done, error = failed_run(with_known_hosts(folder, sshd, elsewhere))
    assert f"127.0.0.1]:{sshd.port} is not in" in error and "accept_unknown_host" in error
    assert "SHA256:" in error and done["attempts"] == 1
    assert list((folder / "served").iterdir()) == []


@pytest.mark.parametrize("accept_unknown_host", [False, True])
def test_a_changed_host_key_is_refused_even_when_unknown_hosts_are_accepted(
    folder: Path, sshd: SshServer, accept_unknown_host: bool
):
    impostor = f"[127.0.0.1]:{sshd.port} {other_host_key(folder)}\n"
    spec = with_known_hosts(folder, sshd, impostor, accept_unknown_host=accept_unknown_host)
    done, error = failed_run(spec)
    assert "showed host key ssh-ed25519 SHA256:" in error and "refused" in error
    assert "update known_hosts" in error and done["attempts"] == 1
    assert list((folder / "served").iterdir()) == []


def test_an_unknown_host_accepted_on_request_is_warned_about(
    sshd: SshServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    destination = SftpDestination(options(sshd, known_hosts=str(empty), accept_unknown_host=True))
    with destination.open(sshd.uri(tmp_path / "a.csv")) as sink:
        sink.stream.write(b"a\n")
    assert (tmp_path / "a.csv").read_bytes() == b"a\n"
    (warning,) = [r for r in caplog.records if r.name == "exportctl.destinations.sftp"]
    assert "accepted anyway" in warning.getMessage() and "SHA256:" in warning.getMessage()


def test_a_missing_known_hosts_file_is_named(sshd: SshServer, tmp_path: Path):
    destination = SftpDestination(options(sshd, known_hosts=str(tmp_path / "none")))
    with pytest.raises(RunError, match=r"no known_hosts file at .*none"):
        destination.delete(sshd.uri(tmp_path / "a.csv"))


def assert_no_secret(folder: Path, *texts: str) -> None:
    for text in texts:
        assert PASSPHRASE not in text and "hunter2" not in text
    stored = ledger_bytes(folder) if (folder / "state.db").exists() else b""
    assert PASSPHRASE.encode() not in stored and b"hunter2" not in stored


def test_a_wrong_passphrase_or_key_is_a_clear_error_without_the_secret(
    folder: Path, sshd: SshServer, monkeypatch: pytest.MonkeyPatch
):
    spec = sftp_spec(folder, sshd)
    monkeypatch.setenv("EXPORT_SSH_PASSPHRASE", PASSPHRASE + "-wrong")
    done, error = failed_run(spec)
    assert "cannot load the key file in $EXPORT_SSH_KEY" in error and done["attempts"] == 1

    monkeypatch.setenv("EXPORT_SSH_KEY", str(sshd.folder / "not-authorized"))
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", PASSPHRASE + "-wrong", "-f"]
        + [str(sshd.folder / "not-authorized")],
        check=True,
    )
    done, refused = failed_run(spec)
    assert f"did not accept {sshd.user} with no agent or the key file in $EXPORT_SSH_KEY" in refused
    monkeypatch.delenv("EXPORT_SSH_KEY")
    done, unset = failed_run(spec)
    assert "names $EXPORT_SSH_KEY, which is not set" in unset
    assert_no_secret(folder, error, refused, unset)


def test_a_password_in_the_uri_is_refused_without_quoting_it(folder: Path, sshd: SshServer):
    spec = sftp_spec(folder, sshd)
    doc = yaml.safe_load(spec.read_text())
    doc["destination"]["uri"] = doc["destination"]["uri"].replace("@", ":hunter2@", 1)
    spec.write_text(yaml.safe_dump(doc))
    code, _, output = run_cli("apply", str(spec))
    assert code == 2 and "a password does not belong in the URI" in output
    assert "destination.uri" in output and "Traceback" not in output
    assert_no_secret(folder, output)


def test_keys_from_an_agent(sshd: SshServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if socket_path.exists():
                break
            time.sleep(0.01)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        subprocess.run(["ssh-add", "-q", str(sshd.folder / "agent_key")], check=True)
        destination = SftpDestination(options(sshd, key_file_env=None, passphrase_env=None))
        with destination.open(sshd.uri(tmp_path / "a.csv")) as sink:
            sink.stream.write(b"from the agent\n")
        assert (tmp_path / "a.csv").read_bytes() == b"from the agent\n"
    finally:
        agent.terminate()
        agent.wait(5)


def test_an_export_that_may_hold_secrets_is_owner_only_from_its_first_byte(
    folder: Path, sshd: SshServer
):
    with closing(sqlite3.connect(folder / "pool.db")) as conn, conn:
        conn.execute("CREATE TABLE accounts (host TEXT, username TEXT, password TEXT)")
        conn.execute("INSERT INTO accounts VALUES ('10.0.0.1', 'u', 'p')")
    spec = sftp_spec(folder, sshd, "secret.jsonl", format="jsonl", credentials="keep")
    doc = yaml.safe_load(spec.read_text())
    doc["query"] = {"table": "accounts"}
    spec.write_text(yaml.safe_dump(doc))
    applied(spec)
    applied(sftp_spec(folder, sshd, "plain.csv"))

    served = folder / "served"
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in served.iterdir()}
    assert mode["secret.jsonl"] == mode["secret.jsonl.manifest.json"] == 0o600
    assert mode["plain.csv"] & 0o077  # the server's default for the others

    destination = SftpDestination(options(sshd, mode=0o600))
    with destination.open(sshd.uri(served / "more.jsonl")) as sink:
        (temp,) = temps(served)
        assert stat.S_IMODE(temp.stat().st_mode) == 0o600 and temp.stat().st_size == 0
        sink.stream.write(b"{}\n")


def test_without_paramiko_an_sftp_spec_says_which_extra_to_install(folder: Path, sshd: SshServer):
    spec = sftp_spec(folder, sshd)
    script = (
        "import sys; sys.modules['paramiko'] = None  # as if not installed\n"
        "from exportctl.cli.main import run\n"
        "sys.argv = ['exportctl', 'validate', sys.argv[1]]; run()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(spec)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2, done.stderr
    assert "needs the Python package `paramiko`" in done.stderr + done.stdout
    assert "exportctl[sftp]" in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_a_server_that_stops_answering_times_out_as_transient(sshd: SshServer, tmp_path: Path):
    final, block = tmp_path / "pool.csv", os.urandom(1 << 16)
    destination = SftpDestination(options(sshd, timeout=1.0))
    started = time.monotonic()
    expected = r"no answer from 127\.0\.0\.1:\d+ within 1 s"
    with pytest.raises(TransientError, match=expected), destination.open(sshd.uri(final)) as sink:
        frozen = sshd.sessions()
        signal_all(frozen, signal.SIGSTOP)
        try:
            for _ in range(256):  # 16 MiB: more than the channel's window and buffers
                sink.stream.write(block)
        finally:
            signal_all(frozen, signal.SIGKILL)
    assert time.monotonic() - started < 10 and not final.exists()


def test_the_ledger_records_how_to_reach_the_server_and_no_secret():
    given = SftpOptions(
        key_file_env="EXPORT_SSH_KEY",
        passphrase_env="EXPORT_SSH_PASSPHRASE",
        known_hosts="/etc/exportctl/known_hosts",
        port=2222,
        timeout=7.0,
        user="exports",
        accept_unknown_host=True,
        mode=0o600,
    )
    uri = "sftp://backup.example:2222/srv/pool.csv"
    text = recorded(uri, given)
    assert text is not None and PASSPHRASE not in text
    # Trusting an unknown host is the spec's decision, not the ledger's: never carried over.
    assert restored(uri, text) == SftpOptions(
        key_file_env="EXPORT_SSH_KEY",
        passphrase_env="EXPORT_SSH_PASSPHRASE",
        known_hosts="/etc/exportctl/known_hosts",
        port=2222,
        timeout=7.0,
        user="exports",
    )


@given(
    user=st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1),
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True),
    port=st.none() | st.integers(1, 65535),
    path=st.lists(  # POSIX names: any character but "/" (and NUL, a control character)
        st.text(
            st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="/"),
            min_size=1,
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_the_recorded_uri_keeps_the_login_out_yet_reaches_the_same_file(
    user: str, host: str, port: int | None, path: list[str]
):
    """What a run records is scrubbed of user information: moving the login to the options
    keeps the recorded URI intact, so retention and verify find the file it names."""
    segments = "/".join(quote(p, safe="") for p in path)
    netloc = f"{quote(user, safe='')}@{host}" + (f":{port}" if port else "")
    uri, moved = login_moved(f"sftp://{netloc}/{segments}", SftpOptions())
    assert scrub(uri) == uri and "@" not in uri.split("/")[2]
    target = target_of(uri, moved)
    assert (target.user, target.host, target.port) == (user, host, port or 22)
    if path[0] == "~" and len(path) > 1:  # `/~/...`: relative to the login's home
        assert target.path == "/".join(path[1:])
    else:
        assert target.path == "/" + "/".join(path)
