"""proxywhirl's logfmt logs read back as its JSON logs of the same records.

The installation's logger wrote every record twice, through proxywhirl's
`configure_logging(format="json")` and `format="logfmt"` (a host in Europe/Berlin):
both exports must hold the same records, whatever their messages hold.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exportctl.plan.compiler import compile_plan
from exportctl.run import runner
from exportctl.spec.load import load_spec
from tests.proxywhirl.conftest import LOCAL_ZONE, Installation

NOW = datetime.now(UTC)


def export(inst: Installation, tmp_path: Path, name: str, source: str) -> list[dict[str, Any]]:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(
        f"version: 1\nname: {name}\nsource: {source}\nformat: jsonl\n"
        f"destination: {tmp_path / name}.jsonl\n"
    )
    result = runner.run(compile_plan(load_spec(spec, env={}), now=NOW, run_id="r1"))
    assert result.status == "succeeded", result.error
    lines = (tmp_path / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_logfmt_records_equal_the_json_records(
    proxywhirl_installation: Installation, tmp_path: Path
) -> None:
    logs = proxywhirl_installation.demo / "logs"
    as_json = export(
        proxywhirl_installation, tmp_path, "json", f"{{type: logs, path: {logs}/proxywhirl.log}}"
    )
    as_logfmt = export(
        proxywhirl_installation,
        tmp_path,
        "logfmt",
        f"{{type: logs, path: {logs}/logfmt/proxywhirl.log, format: logfmt, "
        f"timezone: {LOCAL_ZONE}}}",
    )

    assert len(as_logfmt) == len(as_json) > 10
    assert any("\n" in r["message"] for r in as_json)  # the cases that span lines are there
    assert any(r["exception"] for r in as_json)
    for text, record in zip(as_logfmt, as_json, strict=True):
        moment = datetime.fromisoformat(record["timestamp"])
        assert datetime.fromisoformat(text["timestamp"]) == moment.replace(
            microsecond=moment.microsecond // 1000 * 1000  # the template keeps milliseconds
        )
        for column in ("level", "message", "logger", "function", "line", "component"):
            assert text[column] == record[column], column
        assert text["request_id"] == record["request_id"]
        assert json.loads(text["extra"] or "{}") == json.loads(record["extra"] or "{}")
        if record["exception"]:
            kind = json.loads(record["exception"])["type"]
            assert text["exception"].startswith("Traceback") and kind in text["exception"]
        else:
            assert text["exception"] is None
