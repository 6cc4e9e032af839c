"""`exportctl schema`: the JSON Schema of export specs, for editors and CI."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to FILE instead of standard output.",
)
@click.option(
    "--draft",
    type=click.Choice(["07", "2020-12"]),
    default="07",
    show_default=True,
    help="07 for editors (the YAML language server); 2020-12 is what exportctl checks with.",
)
def schema(out: Path | None, draft: str) -> None:
    """Print the JSON Schema of export specs, for editors and CI."""
    from exportctl.spec import editor_schema
    from exportctl.spec.schema import export_spec_schema_text

    text = editor_schema.text() if draft == "07" else export_spec_schema_text()
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"cannot write {out}: {exc.strerror}") from None
