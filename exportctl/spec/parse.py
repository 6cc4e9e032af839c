"""Build typed spec objects from a document that passed the schema."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

from exportctl import compression, registry
from exportctl import model as m
from exportctl.destinations.local import LocalDestination, LocalOptions
from exportctl.destinations.sftp_options import SftpOptions, login_moved
from exportctl.errors import SpecProblem
from exportctl.lang import schedule as scheduler
from exportctl.lang import templating, timerange, units
from exportctl.spec import secrets as credentials
from exportctl.spec.schema import Locator, Path_
from exportctl.transforms import redact

_COMPARE_OPS = ("eq", "ne", "lt", "le", "gt", "ge")
_FIELD_OPS = (*_COMPARE_OPS, "in", "not_in", "between", "like", "contains", "is_null")
_GROUP_OPS = ("and", "or", "not")
#: The names `plan.template_context` gives destination and parameter templates.
_PLAN_NAMES = frozenset({"now", "today", "run", "spec"})
_CHECK_KEYS = ("type", "nullable", "allowed", "pattern", "min", "max")


class Parser:
    """Turns one validated document into an ExportSpec, collecting semantic problems."""

    def __init__(self, where: Locator):
        self.where = where
        self.problems: list[SpecProblem] = []

    def fail(self, path: Path_, message: str) -> None:
        self.problems.append(self.where.problem(path, message))

    def template(self, source: str, path: Path_, *, names: frozenset[str] | None = None) -> None:
        """Report bad Jinja2 syntax, and names outside `names` when those are known."""
        try:
            templating.check_syntax(source, "this value")
        except ValueError as exc:
            self.fail(path, str(exc))
            return
        if names is None:
            return
        unknown = templating.variables(source) - names - set(templating.environment().globals)
        if unknown:
            known = _listed(names)
            self.fail(path, f"undefined {_listed(unknown)} in the template; it knows {known}")

    def spec(self, doc: Mapping[str, Any], **file_facts: Any) -> m.ExportSpec:
        codec = _typed(doc["compression"])["type"] if "compression" in doc else None
        spec = m.ExportSpec(
            version=doc["version"],
            name=doc["name"],
            description=doc.get("description", ""),
            source=self.component(doc["source"], registry.SOURCES, ("source",)),
            query=self.query(doc.get("query", {}), doc["source"]["type"]),
            fields=self.fields(doc.get("fields")),
            format=self.component(_typed(doc["format"]), registry.FORMATS, ("format",)),
            compression=codec,
            compression_level=_typed(doc.get("compression", {"type": ""})).get("level"),
            destination=self.checked_combinations(self.destination(doc["destination"], codec), doc),
            retention=m.Retention(**doc["retention"]) if "retention" in doc else None,
            schedule=self.schedule(doc.get("schedule")),
            incremental=self.incremental(doc),
            validation=self.validation(doc.get("validation", {})),
            retry=self.retry(doc.get("retry", {})),
            alerts=self.alerts(doc.get("alerts")),
            time_range=self.time_range(doc),
            reshape=self.reshape(doc),
            redact=self.redact(doc),
            credentials=self.credentials(doc),
            **file_facts,
        )
        return self.file_mode(spec)

    def component(
        self, doc: Mapping[str, Any], kinds: Mapping[str, Any], path: Path_
    ) -> m.Component:
        kind = kinds[doc["type"]]
        options = {k: v for k, v in doc.items() if k != "type"}
        try:
            return m.Component(doc["type"], kind.Options(**options))
        except ValueError as exc:  # an option's value the schema cannot rule out
            named = re.match(r"`(\w+)`", str(exc))  # a message that starts with the key
            at = (*path, named[1]) if named and named[1] in options else path
            self.fail(at, str(exc))
            # Defaults may not be valid options on their own; the spec is refused anyway.
            return m.Component(doc["type"], None)

    def query(self, doc: Mapping[str, Any], source_type: str) -> m.Query:
        if source_type != "sql":
            for key in ("table", "sql", "params"):
                if key in doc:
                    self.fail(("query", key), f"a `{source_type}` source has no `{key}`")
        elif ("table" in doc) == ("sql" in doc):
            self.fail(("query",), "give exactly one of `table` and `sql`")
        if "params" in doc and "sql" not in doc:
            self.fail(("query", "params"), "`params` binds the named parameters of `sql`")
        for key, value in doc.get("params", {}).items():
            self.bound_integers(value, ("query", "params", key))
            if isinstance(value, str):
                self.template(value, ("query", "params", key), names=_PLAN_NAMES)
        where = doc.get("where")
        if isinstance(where, list):
            items = tuple(self.filter(w, ("query", "where", i)) for i, w in enumerate(where))
            where_node: m.Filter | None = items[0] if len(items) == 1 else m.And(items)
        else:
            where_node = None if where is None else self.filter(where, ("query", "where"))
        return m.Query(
            table=doc.get("table"),
            sql=doc.get("sql"),
            params=tuple(doc.get("params", {}).items()),
            where=where_node,
            order_by=tuple(
                m.OrderKey(k.removeprefix("-"), k.startswith("-")) for k in doc.get("order_by", [])
            ),
            limit=doc.get("limit"),
        )

    def bound_integers(self, value: Any, path: Path_) -> None:
        """Numbers a database can bind: a 2**70 failed only at run time (SQLite's OverflowError)."""
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            if isinstance(item, int) and not -(2**63) <= item < 2**63:
                at = path if index is None else (*path, index)
                self.fail(at, f"{item} is past 64 bits, which no database binds; quote it for text")

    def filter(self, doc: Mapping[str, Any], path: Path_) -> m.Filter:
        ops = [k for k in doc if k != "field"]
        if len(ops) != 1:
            listed = ", ".join(f"`{o}`" for o in ops) or "none"
            self.fail(path, f"a condition takes exactly one operator, found {listed}")
            return m.And(())
        op = ops[0]
        if op in _GROUP_OPS:
            if "field" in doc:
                self.fail((*path, "field"), f"`{op}` combines conditions and takes no `field`")
            if op == "not":
                return m.Not(self.filter(doc["not"], (*path, "not")))
            items = tuple(self.filter(c, (*path, op, i)) for i, c in enumerate(doc[op]))
            return m.And(items) if op == "and" else m.Or(items)
        if "field" not in doc:
            self.fail(path, f"`{op}` needs a `field` to test")
            return m.And(())
        field, value = doc["field"], doc[op]
        self.bound_integers(value, (*path, op))
        if op in _COMPARE_OPS:
            return m.Compare(field, cast(m.CompareOp, op), value)
        if op in ("in", "not_in"):
            return m.InSet(field, tuple(value), negate=op == "not_in")
        if op == "between":
            return m.Between(field, value[0], value[1])
        if op == "like":
            return m.Like(field, value)
        if op == "contains":
            return m.Contains(field, value)
        return m.IsNull(field, negate=not value)

    def fields(self, docs: list[Any] | None) -> tuple[m.Field, ...] | None:
        if docs is None:
            return None
        fields = tuple(self.field(d, ("fields", i)) for i, d in enumerate(docs))
        seen: set[str] = set()
        for index, f in enumerate(fields):
            if f.name in seen:
                self.fail(("fields", index), f"output field `{f.name}` appears twice")
            seen.add(f.name)
            if f.template is not None:
                self.template(f.template, ("fields", index, "template"))
        return fields

    def field(self, doc: str | Mapping[str, Any], path: Path_) -> m.Field:
        if isinstance(doc, str):
            return m.Field(doc, doc)
        check = self.check(doc, path)
        if "template" in doc:
            if "name" in doc:
                self.fail(path, "a field takes a source column `name` or a `template`, not both")
            if "as" not in doc:
                self.fail(path, "a computed field needs `as`, the name of its output column")
            if doc.get("json"):
                self.fail((*path, "json"), "`json` parses a source column; a template makes text")
            return m.Field(doc.get("as", ""), None, doc["template"], check)
        if "name" not in doc:
            self.fail(path, "a field needs `name`, the source column it takes")
            return m.Field(doc.get("as", ""), None)
        json = doc.get("json", False)
        return m.Field(doc.get("as", doc["name"]), doc["name"], check=check, json=json)

    def check(self, doc: Mapping[str, Any], path: Path_) -> m.Check | None:
        declared = {k: doc[k] for k in _CHECK_KEYS if k in doc}
        if not declared:
            return None
        if "pattern" in declared:
            try:
                re.compile(declared["pattern"])
            except re.error as exc:
                self.fail((*path, "pattern"), f"not a valid regular expression: {exc}")
                del declared["pattern"]
        if declared.get("type") == "float":  # a synonym: the SQL word for `number`
            declared["type"] = "number"
        if "allowed" in declared:
            declared["allowed"] = tuple(declared["allowed"])
        if "min" in declared and "max" in declared and declared["min"] > declared["max"]:
            self.fail((*path, "min"), "`min` is greater than `max`: no value could pass")
        return m.Check(**declared)

    def incremental(self, doc: Mapping[str, Any]) -> m.Incremental | None:
        if "incremental" not in doc:
            return None
        if "limit" in doc.get("query", {}):
            # The watermark moves to the window's end, so rows past the limit would be lost.
            self.fail(("query", "limit"), "an incremental export cannot take a `limit`")
        if "order_by" in doc.get("query", {}):
            # Parts record the position of their last row; a retry resumes after it.
            self.fail(
                ("query", "order_by"),
                "an incremental export is ordered by its cursor and key; drop `order_by`",
            )
        if "retention" in doc:
            # Each run's file holds only that run's changes: deleting one loses those rows.
            self.fail(
                ("retention",),
                "an incremental export cannot take a `retention`: each file holds rows no "
                "other file has, so deleting one would lose them",
            )
        return self._incremental_mode(doc["incremental"], doc["source"].get("type"))

    def _incremental_mode(self, given: Mapping[str, Any], source: str | None) -> m.Incremental:
        """`cursor` and `log` take a cursor; `changes` takes key columns and a sorting source."""
        mode = given.get("mode", "cursor")
        path = ("incremental",)
        if mode != "changes":
            if "cursor" not in given:
                self.fail((*path, "cursor"), f"mode `{mode}` needs a `cursor` column")
            if isinstance(given.get("key"), list):
                self.fail((*path, "key"), f"mode `{mode}` takes one tie-breaking `key` column")
            if "settle" in given:
                try:
                    units.duration(given["settle"])
                except ValueError as exc:
                    self.fail((*path, "settle"), str(exc))
            return m.Incremental(
                cursor=given.get("cursor", ""),
                key=given.get("key") if isinstance(given.get("key"), str) else None,
                mode=mode,
                settle=given.get("settle"),
            )
        for name in ("cursor", "settle"):
            if name in given:
                self.fail((*path, name), f"mode `changes` compares whole rows; drop `{name}`")
        keys = given.get("key")
        keys = [keys] if isinstance(keys, str) else keys
        if not keys:
            self.fail((*path, "key"), "mode `changes` needs its `key` columns, e.g. [url]")
        if source is not None and source != "sql":
            # The merge needs the rows sorted by key, which only the SQL sources do.
            self.fail(path, f"mode `changes` needs a `sql` source, not `{source}`")
        return m.Incremental(mode="changes", keys=tuple(keys or ()))

    def time_range(self, doc: Mapping[str, Any]) -> m.TimeRange | None:
        if "time_range" not in doc:
            return None
        given = doc["time_range"]
        path: Path_ = ("time_range",)
        if "incremental" in doc:
            # The watermark would move past rows before `from` that no run ever exported.
            self.fail(path, "an incremental export picks its rows by watermark; drop `time_range`")
        if "window" in given and ("from" in given or "to" in given):
            self.fail((*path, "window"), "give a `window` or `from`/`to`, not both")
        if not {"window", "from", "to"} & given.keys():
            self.fail(path, "give a `window`, or `from` and/or `to`")
        spec_range = m.TimeRange(
            given["field"],
            given.get("from"),
            given.get("to"),
            given.get("window"),
            given.get("timezone", "UTC"),
        )
        complaints = timerange.problems(spec_range)
        for key, complaint in complaints.items():
            self.fail((*path, key) if key else path, complaint)
        return spec_range

    def reshape(self, doc: Mapping[str, Any]) -> m.Wide | None:
        """`reshape.wide`, checked against the fields and the order the source reads in."""
        if "reshape" not in doc:
            return None
        given, path = doc["reshape"]["wide"], ("reshape", "wide")
        wide = m.Wide(given["index"], given["columns"], given["values"], tuple(given["names"]))
        roles = {"index": wide.index, "columns": wide.columns, "values": wide.values}
        if len(set(roles.values())) < 3:
            self.fail(path, "`index`, `columns` and `values` must name three different fields")
        for key in sorted(set(wide.names) & {wide.index}):
            self.fail((*path, "names"), f"`{key}` is the index column's name")
        fields = _output_sources(doc.get("fields"))
        for key, name in roles.items():
            if fields and name not in fields:
                self.fail((*path, key), f"`{name}` is not an output field; add it to `fields`")
        if "incremental" in doc:
            self.fail(path, "an incremental export cannot be reshaped: drop `incremental`")
        index = fields.get(wide.index) or wide.index
        order = [k.lstrip("-") for k in doc.get("query", {}).get("order_by", [])]
        if not order or order[0] != index:
            self.fail(
                ("query", "order_by"),
                f"a wide export needs the rows of each `{wide.index}` together: "
                f"order the query by it first (`order_by: [{index}]`)",
            )
        return wide

    def redact(self, doc: Mapping[str, Any]) -> m.Redaction | None:
        """`redact`; absent, the source's default (a source may redact unless told not to)."""
        given = doc.get("redact")
        if given is None:
            source = registry.SOURCES.get(doc["source"]["type"])
            return m.Redaction() if getattr(source, "redacts_by_default", False) else None
        if given is False:
            return None
        given = {} if given is True else given
        path: Path_ = ("redact",)
        for index, pattern in enumerate(given.get("values", [])):
            try:
                re.compile(pattern)
            except re.error as exc:
                self.fail((*path, "values", index), f"not a valid regular expression: {exc}")
        rules = m.Redaction(
            keys=self.redact_keys(given.get("keys", {})),
            values=tuple(given.get("values", [])),
            **{k: given[k] for k in ("mode", "url_mode", "marker", "hash_key_env") if k in given},
        )
        if rules.mode == "drop":
            self.dropped_fields(rules, doc.get("fields"))
        source = registry.SOURCES.get(doc["source"]["type"])
        if getattr(source, "restores_masked", False) and (rules.mode, rules.url_mode) != (
            "mask",
            "redact",
        ):
            # A hashed, dropped or stripped secret looks like a value: restore would write it.
            self.fail(
                path,
                f"a `{doc['source']['type']}` export is read back by `exportctl restore`, which "
                "finds secrets by their mask: keep `mode: mask` and `url_mode: redact`",
            )
        return rules

    def credentials(self, doc: Mapping[str, Any]) -> m.Credentials:
        """`credentials`: a mode, or `{mode, columns, marker, key_env, previous_keys_env}`."""
        given = doc.get("credentials", {})
        given = {"mode": given} if isinstance(given, str) else given
        options: dict[str, Any] = {k: given[k] for k in ("mode", "marker", "key_env") if k in given}
        if "previous_keys_env" in given:
            options["previous_keys_env"] = tuple(given["previous_keys_env"])
        rules = m.Credentials(**options, **given.get("columns", {}))
        text = _typed(doc["format"])
        if rules.mode == "keep" and text["type"] == "text" and "template" not in text:
            # The layouts put a password in each line: it would be the ciphertext.
            self.fail(
                ("credentials",),
                "`keep` writes the stored ciphertext, which a proxy list would carry as the "
                "password: use `reveal` for usable lines, or another format for a backup",
            )
        return rules

    def file_mode(self, spec: m.ExportSpec) -> m.ExportSpec:
        """Local files created with the mode they need from their first byte; an SFTP
        upload of secrets made owner-only before its first byte."""
        destination = spec.destination
        mode = credentials.file_mode(spec)
        path: Path_ = ("destination", "mode")
        local = registry.destination_class(destination.uri) is LocalDestination
        if destination.mode is not None and not local:
            self.fail(path, "`mode` sets the permissions of local files only")
        elif destination.mode is not None and mode != destination.mode:
            # A secret-bearing export may be stricter than 0600, never looser.
            self.fail(
                path,
                f"this export may hold secrets ({credentials.why_secret(spec)}), so it is "
                f"written owner-only (0600); drop `mode` ({destination.mode:04o})",
            )
        if mode is not None and isinstance(destination.options, SftpOptions):
            options = replace(destination.options, mode=mode)
            return replace(spec, destination=replace(destination, options=options))
        if not local or mode is None:
            return spec
        return replace(spec, destination=replace(destination, options=LocalOptions(mode)))

    def redact_keys(self, given: list[str] | Mapping[str, list[str]]) -> tuple[str, ...]:
        if isinstance(given, list):
            return tuple(given)
        removed = {name.lower() for name in given.get("remove", [])}
        for index, name in enumerate(given.get("remove", [])):
            if name.lower() not in m.DEFAULT_REDACT_KEYS:
                known = ", ".join(m.DEFAULT_REDACT_KEYS)
                self.fail(("redact", "keys", "remove", index), f"`{name}` is not one of {known}")
        kept = tuple(k for k in m.DEFAULT_REDACT_KEYS if k not in removed)
        return kept + tuple(given.get("add", []))

    def dropped_fields(self, rules: m.Redaction, docs: list[Any] | None) -> None:
        """A field `drop` would remove cannot be asked for: say so rather than drop it."""
        secret = redact.key_matcher(rules.keys)
        for index, field in enumerate(docs or ()):
            names = _field_names(field)
            key = next((k for k in map(secret, names) if k is not None), None)
            if key is not None:
                self.fail(
                    ("fields", index),
                    f"field `{names[0]}` is secret (`{key}`) and `redact.mode: drop` removes "
                    "it: leave it out of `fields`, or redact with `mask` or `hash`",
                )

    def checked_combinations(
        self, destination: m.Destination, doc: Mapping[str, Any]
    ) -> m.Destination:
        """The destination, once its format, compression and split have been checked together."""
        presigned = "?" in destination.uri and registry.scheme_of(destination.uri) in (
            "http",
            "https",
        )
        if presigned and (destination.manifest or destination.splits):
            # A presigned URL signs one object; files beside it would need URLs of their own.
            self.fail(
                ("destination",),
                "a URL with a query (a presigned URL, say) names one object: set "
                "`manifest: false`, and do not split",
            )
        if destination.splits and not destination.manifest:
            self.fail(
                ("destination", "manifest"),
                "a split export needs its manifest: it is what says every part is there",
            )
        implied = compression.codec_for(destination.uri)
        codec = _typed(doc.get("compression", implied))["type"]
        if _typed(doc["format"])["type"] == "parquet" and codec != "none":
            self.fail(
                ("compression",),
                "Parquet compresses inside the file: set the format's `codec`, not `compression`",
            )
        if destination.splits and codec == "zip":
            self.fail(
                ("destination", "split"),
                "zip archives do not join by concatenation; split with gzip or zstd instead",
            )
        if destination.splits and _typed(doc["format"])["type"] == "json":
            self.fail(
                ("destination", "split"),
                "a JSON array cannot be split into parts that join back; use `jsonl`",
            )
        return destination

    def destination(self, doc: str | Mapping[str, Any], codec: str | None) -> m.Destination:
        uri_path: Path_ = ("destination",) if isinstance(doc, str) else ("destination", "uri")
        doc = {"uri": doc} if isinstance(doc, str) else doc
        split = doc.get("split", {})
        uri, options = self.login_moved(doc["uri"], self.destination_options(doc), uri_path)
        destination = m.Destination(
            uri,
            doc.get("manifest", True),
            split.get("rows"),
            units.byte_count(doc["max_bytes"]) if "max_bytes" in doc else None,
            options,
            split_bytes=units.byte_count(split["bytes"]) if "bytes" in split else None,
            mode=int(doc["mode"], 8) if "mode" in doc else None,
        )
        self.template(destination.uri, uri_path, names=_PLAN_NAMES)
        if any(ord(c) < 32 for c in destination.uri):  # a NUL failed only when opened
            self.fail(uri_path, "the destination has a control character (such as NUL)")
        if not destination.uri.endswith("}}"):  # else the name is known only once rendered
            _, complaint = compression.resolve(codec, destination.uri.rsplit("/", 1)[-1])
            if complaint:
                self.fail(("compression",) if codec else ("destination",), complaint)
        return destination

    def login_moved(self, uri: str, options: Any, path: Path_) -> tuple[str, Any]:
        """An SFTP URI's login name moved to its options (see `sftp_options`)."""
        if not isinstance(options, SftpOptions):
            return uri, options
        try:
            return login_moved(uri, options)
        except ValueError as exc:
            self.fail(path, str(exc))
            return uri, options

    def destination_options(self, doc: Mapping[str, Any]) -> Any:
        """The typed options of the destination the URI's scheme picks; others are refused."""
        kind = registry.destination_class(doc["uri"])
        for key in registry.DESTINATION_OPTIONS:
            if key in doc and key != getattr(kind, "options_key", None):
                scheme = registry.scheme_of(doc["uri"]) or "local"
                self.fail(("destination", key), f"`{key}` options do not apply to {scheme} URIs")
        if kind is None or kind.options_key is None:
            return None
        options = dict(doc.get(kind.options_key, {}))
        for key in ("part_size",):
            if key in options:
                options[key] = units.byte_count(options[key])
        if "headers" in options:
            options["headers"] = tuple(options["headers"].items())
        try:
            return kind.Options(**options)
        except ValueError as exc:
            self.fail(("destination", kind.options_key), str(exc))
            return kind.Options()

    def validation(self, doc: Mapping[str, Any]) -> m.Validation:
        validation = m.Validation(**doc)
        if validation.quarantine is not None:
            if validation.on_invalid != "quarantine":
                self.fail(
                    ("validation", "quarantine"),
                    "`quarantine` says where quarantined rows go: set `on_invalid: quarantine`",
                )
            self.template(validation.quarantine, ("validation", "quarantine"), names=_PLAN_NAMES)
        return validation

    def retry(self, doc: Mapping[str, Any]) -> m.Retry:
        durations = {k: seconds(v) for k, v in doc.items() if k != "attempts"}
        retry = m.Retry(
            **{**durations, **({"attempts": doc["attempts"]} if "attempts" in doc else {})}
        )
        if retry.backoff > retry.max_backoff:
            self.fail(("retry", "backoff"), "`backoff` is longer than `max_backoff`")
        return retry

    def alerts(self, doc: Mapping[str, Any] | None) -> m.Alerts | None:
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

    def schedule(self, doc: str | Mapping[str, Any] | None) -> m.Schedule | None:
        if doc is None:
            return None
        if isinstance(doc, str):
            doc = {"every": doc}
            every_path: Path_ = ("schedule",)
        else:
            every_path = ("schedule", "every")
        schedule = m.Schedule(
            doc["every"], doc.get("timezone", "UTC"), doc.get("catch_up", "latest")
        )
        try:
            scheduler.parse(schedule.every)
        except ValueError as exc:  # a form the schema's pattern lets through, like `every 0 days`
            self.fail(every_path, str(exc))
        try:
            scheduler.zone(schedule.timezone)
        except ValueError as exc:
            self.fail(("schedule", "timezone"), str(exc))
        return schedule


def seconds(text: str) -> float:
    """`15m` → 900.0; the schema has checked the form."""
    return units.duration(text).total_seconds()


def _output_sources(docs: list[Any] | None) -> dict[str, str | None]:
    """Each output field's name → the source column it takes (None: computed)."""
    fields: dict[str, str | None] = {}
    for doc in docs or ():
        if isinstance(doc, str):
            fields[doc] = doc
        else:
            fields[doc.get("as", doc.get("name", ""))] = doc.get("name")
    return fields


def _field_names(doc: str | Mapping[str, Any]) -> tuple[str, ...]:
    """A field's output name, then the source columns it reads."""
    if isinstance(doc, str):
        return (doc,)
    try:
        used = tuple(templating.variables(doc["template"])) if "template" in doc else ()
    except Exception:  # bad syntax, reported where the field is parsed
        used = ()
    names = (doc.get("as", doc.get("name", "")), doc.get("name", ""), *used)
    return tuple(n for n in names if n)


def _typed(doc: str | Mapping[str, Any]) -> Mapping[str, Any]:
    """`csv` is shorthand for `{type: csv}`."""
    return {"type": doc} if isinstance(doc, str) else doc


def _listed(names: set[str] | frozenset[str]) -> str:
    return ", ".join(f"`{n}`" for n in sorted(names))
