from exportctl.cli import run

run()
