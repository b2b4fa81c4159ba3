from idmerge.cli.main import cli

cli(prog_name="idmerge")
