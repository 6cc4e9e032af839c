from exportctl.cli.main import run

run()
