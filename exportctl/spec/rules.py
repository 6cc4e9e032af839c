"""Checks across sections, each asking the registry what a component can do.

A rule takes the document (as interpolated) and the spec parsed from it, and reports what
the components it names cannot do together: a format that takes no `split`, a codec whose
parts do not join, query keys a source does not read. A new component declares its
capabilities in its registry entry, and these rules apply to it with no change here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from exportctl import compression, registry
from exportctl import model as m
from exportctl.lang import units
from exportctl.spec.problems import Problems, listed, typed

Rule = Callable[[Problems, Mapping[str, Any], m.ExportSpec], None]


def query_keys(p: Problems, doc: Mapping[str, Any], spec: m.ExportSpec) -> None:
    """`table`, `sql` and `params` only for a source that takes SQL query keys."""
    query = doc.get("query", {})
    if not registry.SOURCES.entry(spec.source.type).sql_query:
        for key in ("table", "sql", "params"):
            if key in query:
                p.fail(("query", key), f"a `{spec.source.type}` source has no `{key}`")
    elif ("table" in query) == ("sql" in query):
        p.fail(("query",), "give exactly one of `table` and `sql`")
    if "params" in query and "sql" not in query:
        p.fail(("query", "params"), "`params` binds the named parameters of `sql`")


def changes_source(p: Problems, doc: Mapping[str, Any], spec: m.ExportSpec) -> None:
    """`incremental.mode: changes` merges rows sorted by key, which only some sources read."""
    if spec.incremental is None or spec.incremental.mode != "changes":
        return
    if not registry.SOURCES.entry(spec.source.type).sorts_by_key:
        sorting = " or ".join(f"`{n}`" for n in registry.SOURCES if _sorts(n))
        p.fail(
            ("incremental",), f"mode `changes` needs a {sorting} source, not `{spec.source.type}`"
        )


def _sorts(name: str) -> bool:
    return registry.SOURCES.entry(name).sorts_by_key


def keep_credentials(p: Problems, doc: Mapping[str, Any], spec: m.ExportSpec) -> None:
    """`credentials: keep` with a format whose own layouts would carry the ciphertext."""
    format_doc = typed(doc["format"])
    needs_template = registry.FORMATS.entry(spec.format.type).keep_needs_template
    if spec.credentials.mode == "keep" and needs_template and "template" not in format_doc:
        # The layouts put a password in each line: it would be the ciphertext.
        p.fail(
            ("credentials",),
            f"`keep` writes the stored ciphertext, which the `{spec.format.type}` format's "
            "layouts would carry as the password: use `reveal` for usable lines, a "
            "`template`, or another format for a backup",
        )


def outer_compression(p: Problems, doc: Mapping[str, Any], spec: m.ExportSpec) -> None:
    """A `compression` (named, or implied by the destination's name) the format takes."""
    entry = registry.FORMATS.entry(spec.format.type)
    codec = _codec(doc, spec)
    if codec not in entry.codecs:
        takes = listed(entry.codecs)
        default = f"the `{spec.format.type}` format takes no `{codec}` compression, only {takes}"
        message = entry.codecs_reason or default
        if "compression" in doc:
            p.fail(("compression",), message)
        else:  # implied by the destination's name: that is where to look
            p.fail(("destination",), f"{message} (the destination's name says `{codec}`)")


def split_parts(p: Problems, doc: Mapping[str, Any], spec: m.ExportSpec) -> None:
    """A split or partitioned export's parts must join back: by their codec and format."""
    if spec.destination.splits:
        path: tuple[str, ...] = ("destination", "split")
        why, verb = "", "split with"
    elif spec.engine.partitions is not None:
        path, why = ("engine", "partitions"), "each partition writes parts of its own, and "
        verb = "compress with"
    else:
        return
    codec = _codec(doc, spec)
    if codec not in registry.JOINABLE_CODECS:
        joinable = " or ".join(sorted(registry.JOINABLE_CODECS - {"none"}))
        p.fail(
            path, f"{why}{codec} archives do not join by concatenation; {verb} {joinable} instead"
        )
    entry = registry.FORMATS.entry(spec.format.type)
    if not entry.splittable:
        default = f"`{spec.format.type}` files cannot be split into parts that join back"
        p.fail(path, why + (entry.split_reason or default))


def partitions(p: Problems, doc: Mapping[str, Any], spec: m.ExportSpec) -> None:
    """`engine.partitions` only where key ranges give exactly the rows of one export."""
    cut, path = spec.engine.partitions, ("engine", "partitions")
    if cut is None:
        return
    kind = spec.source.type
    if not registry.SOURCES.entry(kind).partitions:
        able = " or ".join(
            f"`{n}`" for n in registry.SOURCES if registry.SOURCES.entry(n).partitions
        )
        p.fail(
            path,
            f"a `{kind}` source cannot be partitioned: a partition reads one range of a key "
            f"column, which only a {able} source can do today",
        )
    keys = registry.SOURCES.entry(kind).partition_keys
    if keys and cut.by not in keys:
        listed = " or ".join(f"`{k}`" for k in keys)
        p.fail((*path, "by"), f"a `{kind}` source is cut by {listed}, the key its rows come in")
    if spec.incremental is not None and spec.incremental.mode == "changes":
        p.fail(
            path,
            "mode `changes` diffs the whole source against one snapshot, merged in key "
            "order, which partitions cannot share: use mode `cursor`, or no partitions",
        )
    if cut.every is not None:
        try:
            if units.duration(cut.every) < timedelta(seconds=1):
                p.fail((*path, "every"), "a period shorter than a second is no period to cut by")
        except ValueError as exc:
            p.fail((*path, "every"), str(exc))
    if spec.reshape is not None:
        p.fail(path, "`reshape` gathers a wide row from rows a partition boundary could split")
    if spec.query.limit is not None:
        p.fail(
            ("query", "limit"),
            "`limit` keeps the first rows of the whole export, which no partition "
            "knows: drop `limit` or `engine.partitions`",
        )
    order = spec.query.order_by
    if order and (order[0].field != cut.by or order[0].descending):
        p.fail(
            ("query", "order_by"),
            f"partitions are written in ascending `{cut.by}` order: `order_by` must "
            f"start with `{cut.by}`, ascending",
        )


def engine_problems(spec: m.ExportSpec) -> list[tuple[tuple[str, ...], str]]:
    """What the spec's engine cannot do with the rest of it, by key; `apply --engine`
    asks it again of the engine it puts in place."""
    engine = spec.engine
    found: list[tuple[tuple[str, ...], str]] = []
    if engine.merge and engine.partitions is None:
        found.append(
            (("engine", "merge"), "`merge` joins a partitioned export's parts: give `partitions`")
        )
    if engine.merge and spec.destination.splits:
        found.append(
            (("engine", "merge"), "`merge` writes one file, `destination.split` parts: choose one")
        )
    if engine.type != "dask":
        if engine.address is not None:
            message = "`address` names a Dask scheduler: set `type: dask`"
            found.append((("engine", "address"), message))
        return found
    if engine.partitions is None:
        found.append(
            (
                ("engine",),
                "the `dask` engine runs each partition as a task: give it `partitions` "
                "(`{by: id, count: 16}`)",
            )
        )
    if spec.validation.on_invalid == "quarantine":
        found.append(
            (
                ("validation", "on_invalid"),
                "the `dask` engine cannot quarantine yet (each worker would write a "
                "quarantine of its own): use `fail` or `skip`, or the `local` engine",
            )
        )
    return found


def dask_engine(p: Problems, doc: Mapping[str, Any], spec: m.ExportSpec) -> None:
    """`engine: {type: dask}` needs partitions and runs without a quarantine; `merge`
    needs partitions and no split."""
    for path, message in engine_problems(spec):
        p.fail(path, message)


def manifest(p: Problems, doc: Mapping[str, Any], spec: m.ExportSpec) -> None:
    """A split export needs its manifest; a presigned URL has room for no file beside it."""
    destination = spec.destination
    kind = registry.destination_entry(destination.uri)
    presigned = "?" in destination.uri and kind is not None and kind.presigned_urls
    parts = destination.splits or spec.engine.partitions is not None
    if presigned and (destination.manifest or parts):
        # A presigned URL signs one object; files beside it would need URLs of their own.
        p.fail(
            ("destination",),
            "a URL with a query (a presigned URL, say) names one object: set "
            "`manifest: false`, and do not split",
        )
    if parts and not destination.manifest:
        what = "split" if destination.splits else "partitioned"
        p.fail(
            ("destination", "manifest"),
            f"a {what} export needs its manifest: it is what says every part is there",
        )


def restorable_masks(p: Problems, doc: Mapping[str, Any], spec: m.ExportSpec) -> None:
    """A source `exportctl restore` reads back finds secrets by their mask: keep masking."""
    rules = spec.redact
    if rules is None or not registry.SOURCES.entry(spec.source.type).restores_masked:
        return
    if (rules.mode, rules.url_mode) != ("mask", "redact"):
        # A hashed, dropped or stripped secret looks like a value: restore would write it.
        p.fail(
            ("redact",),
            f"a `{spec.source.type}` export is read back by `exportctl restore`, which "
            "finds secrets by their mask: keep `mode: mask` and `url_mode: redact`",
        )


def _codec(doc: Mapping[str, Any], spec: m.ExportSpec) -> str:
    """The codec named, or the one the destination's name implies."""
    named: str = typed(doc.get("compression", compression.codec_for(spec.destination.uri)))["type"]
    return named


#: Every rule, in the order their problems are reported.
RULES: tuple[Rule, ...] = (
    query_keys,
    manifest,
    outer_compression,
    split_parts,
    partitions,
    dask_engine,
    changes_source,
    restorable_masks,
    keep_credentials,
)


def check(p: Problems, doc: Mapping[str, Any], spec: m.ExportSpec) -> None:
    for rule in RULES:
        rule(p, doc, spec)
