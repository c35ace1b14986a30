"""``planctl rule PLN201`` prints one rule's documentation; ``--all`` lists or dumps them all."""
from __future__ import annotations

import json
from dataclasses import asdict

import click


def _page(entry) -> str:
    aliases = f" (aliases: {', '.join(entry.aliases)})" if entry.aliases else ""
    return f"{entry.id} {entry.name} [{entry.severity}]{aliases}\n\n{entry.doc}\n"


@click.command("rule")
@click.argument("key", required=False)
@click.option("--all", "all_", is_flag=True,
              help="Every rule: an index (text), the registry (json) or docs/rules.md (markdown).")
@click.option("-o", "--output", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="markdown (with --all) is docs/rules.md.")
def command(key, all_, output):
    """Print the documentation of rule KEY (an id such as PLN201, or a name)."""
    from planctl.rules import catalog

    if all_ == bool(key):
        raise click.UsageError("give a rule id or name, or --all")
    entries = catalog.entries() if all_ else [catalog.find(key)]
    if entries == [None]:
        raise click.BadParameter(f"no rule {key!r} (see `planctl rule --all`)", param_hint="KEY")
    if output == "markdown" and all_:
        click.echo(catalog.markdown(), nl=False)
    elif output == "json":
        data = [asdict(e) for e in entries]
        click.echo(json.dumps(data if all_ else data[0], indent=2))
    elif all_:
        click.echo("\n".join(f"{e.id}  {e.name:<28} {e.severity:<8} {e.summary}" for e in entries))
    else:
        click.echo(_page(entries[0]), nl=False)
