"""Options several verbs share, declared once so their flags and help read the same everywhere."""

from __future__ import annotations

import click

STORE_HELP = (
    "Run store URL (sqlite:///path.db, postgresql://..., s3://...); env CONFIGURABLE_AGENTS_STORE."
)
store_option = click.option(
    "--store", "store_url", envvar="CONFIGURABLE_AGENTS_STORE", help=STORE_HELP
)
input_option = click.option(
    "--input",
    "-i",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="An input field; the value is parsed by the field's declared type.",
)
input_json_option = click.option(
    "--input-json", "raw_json", metavar="JSON", help="Input fields as one JSON object."
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
