"""`exportctl demo init`: the embedded demo system, built by exportctl.demo."""

from __future__ import annotations

from pathlib import Path

import click

from exportctl.cli import render
from exportctl.cli.common import EXIT_CODES


@click.group()
def demo() -> None:
    """The embedded demo system."""


@demo.command("init", epilog=EXIT_CODES)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--proxies", default=2000, show_default=True, help="Proxies in the pool.")
@click.option("--metrics", default=20000, show_default=True, help="Health checks (and samples).")
@click.option("--log-lines", default=5000, show_default=True, help="Log lines across the files.")
@click.option("--seed", default=7, show_default=True, help="Same seed, same data.")
@click.option("--force", is_flag=True, help="Replace a demo already in DIRECTORY.")
def demo_init(
    directory: Path, proxies: int, metrics: int, log_lines: int, seed: int, force: bool
) -> None:
    """Create a demo proxy-rotation system (SQLite pool, logs, config, specs) in DIRECTORY."""
    from exportctl.demo.build import init_demo

    summary = init_demo(
        directory, proxies=proxies, metrics=metrics, log_lines=log_lines, seed=seed, force=force
    )
    render.demo_summary(summary)
