"""The spec's run settings: `validation`, `retry`, `alerts`, `schedule` and `engine`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exportctl import model as m
from exportctl.lang import schedule as scheduler
from exportctl.lang import units
from exportctl.spec.problems import PLAN_NAMES, Problems
from exportctl.spec.schema import Path_


def validation(p: Problems, doc: Mapping[str, Any]) -> m.Validation:
    parsed = m.Validation(**doc)
    if parsed.quarantine is not None:
        if parsed.on_invalid != "quarantine":
            p.fail(
                ("validation", "quarantine"),
                "`quarantine` says where quarantined rows go: set `on_invalid: quarantine`",
            )
        p.template(parsed.quarantine, ("validation", "quarantine"), names=PLAN_NAMES)
    return parsed


def retry(p: Problems, doc: Mapping[str, Any]) -> m.Retry:
    durations = {k: seconds(v) for k, v in doc.items() if k != "attempts"}
    parsed = m.Retry(
        **{**durations, **({"attempts": doc["attempts"]} if "attempts" in doc else {})}
    )
    if parsed.backoff > parsed.max_backoff:
        p.fail(("retry", "backoff"), "`backoff` is longer than `max_backoff`")
    return parsed


def seconds(text: str) -> float:
    """`15m` → 900.0; the schema has checked the form."""
    return units.duration(text).total_seconds()


def alerts(doc: Mapping[str, Any] | None) -> m.Alerts | None:
    if doc is None:
        return None
    webhook = doc.get("webhook")
    email = doc.get("email")
    return m.Alerts(
        when=frozenset(doc.get("when", ["failure"])),
        webhook=None
        if webhook is None
        else m.Webhook(
            webhook["url"],
            tuple(webhook.get("headers", {}).items()),
            webhook.get("timeout", 10.0),
        ),
        command=tuple(doc["command"]) if "command" in doc else None,
        email=None
        if email is None
        else m.Email(
            **{k: v for k, v in email.items() if k not in ("from", "to")},
            sender=email["from"],
            to=tuple(email["to"]),
        ),
    )


def schedule(p: Problems, doc: str | Mapping[str, Any] | None) -> m.Schedule | None:
    if doc is None:
        return None
    if isinstance(doc, str):
        doc = {"every": doc}
        every_path: Path_ = ("schedule",)
    else:
        every_path = ("schedule", "every")
    parsed = m.Schedule(doc["every"], doc.get("timezone", "UTC"), doc.get("catch_up", "latest"))
    try:
        scheduler.parse(parsed.every)
    except ValueError as exc:  # a form the schema's pattern lets through, like `every 0 days`
        p.fail(every_path, str(exc))
    try:
        scheduler.zone(parsed.timezone)
    except ValueError as exc:
        p.fail(("schedule", "timezone"), str(exc))
    return parsed


def engine(doc: Mapping[str, Any] | None) -> m.Engine:
    """The engine and its partitions; `rules.partitions` checks them against the rest."""
    if doc is None:
        return m.Engine()
    cut = doc.get("partitions")
    partitions = (
        None
        if cut is None
        else m.Partitioning(cut["by"], cut.get("count"), cut.get("size"), cut.get("every"))
    )
    return m.Engine(
        doc.get("type", "local"), partitions, doc.get("address"), bool(doc.get("merge", False))
    )
