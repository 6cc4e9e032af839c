"""The registry names every component once, and imports only what a run asks for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exportctl import registry
from exportctl.errors import UsageError


def test_each_destination_is_listed_under_exactly_the_schemes_it_takes() -> None:
    for scheme, kind in registry.DESTINATIONS.items():
        assert scheme in kind.schemes
    every = {scheme for kind in registry.DESTINATIONS.values() for scheme in kind.schemes}
    assert every == set(registry.DESTINATIONS)
    keys = {kind.options_key for kind in registry.DESTINATIONS.values()} - {None}
    assert set(registry.destination_options_keys()) == keys


def test_each_entry_declares_what_its_class_has() -> None:
    """The entries are read without importing the classes: they must agree with them."""
    for scheme, kind in registry.DESTINATIONS.items():
        entry = registry.DESTINATIONS.entry(scheme)
        assert entry.options_key == kind.options_key, scheme
        assert registry.DESTINATIONS.options(scheme) is kind.Options, scheme
    for name, kind in (*registry.SOURCES.items(), *registry.FORMATS.items()):
        assert isinstance(kind.Options, type), name
    for name, source in registry.SOURCES.items():
        assert registry.SOURCES.options(name) is source.Options, name
    for name, encoder in registry.FORMATS.items():
        assert registry.FORMATS.options(name) is encoder.Options, name


def test_a_registered_name_is_refused_a_second_time() -> None:
    entry = registry.FORMATS.entry("csv")
    with pytest.raises(UsageError, match="`csv` is already registered"):
        registry.FORMATS.register("csv", entry)
    assert registry.FORMATS.entry("csv") is entry


def test_a_local_sqlite_export_imports_no_library_of_another_component(tmp_path: Path) -> None:
    db = tmp_path / "pool.db"
    subprocess.run([sys.executable, "-c", _MAKE_DB, str(db)], check=True)
    spec = tmp_path / "pool.yaml"
    spec.write_text(
        f"version: 1\nname: pool\nsource: {{type: sql, url: 'sqlite:///{db}'}}\n"
        f"query: {{table: pool}}\nformat: csv\ndestination: {tmp_path / 'pool.csv'}\n"
    )
    probe = (
        "import sys\nfrom click.testing import CliRunner\nfrom exportctl.cli.main import main\n"
        f"result = CliRunner().invoke(main, ['apply', {str(spec)!r}, '--state', "
        f"{'sqlite:///' + str(tmp_path / 'state.db')!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'requests', 'smart_open', 'ruamel', 'tomlkit', 'configupdater', "
        "'prometheus_client'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.split()

    assert loaded == []
    assert (tmp_path / "pool.csv").read_text().splitlines() == ['"host","port"', '"h",1']


_MAKE_DB = (
    "import sqlite3, sys\n"
    "with sqlite3.connect(sys.argv[1]) as db:\n"
    "    db.execute('CREATE TABLE pool (host TEXT, port INTEGER)')\n"
    "    db.execute(\"INSERT INTO pool VALUES ('h', 1)\")\n"
)
