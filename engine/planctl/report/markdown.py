"""The evidence report as Markdown (GitHub-flavoured tables), rendered from the run record alone."""
from __future__ import annotations

from planctl.report.sections import Section, Table, sections, title


def _cell(text: str) -> str:
    # A pipe would end the cell and a newline the row.
    return text.replace("|", "\\|").replace("\n", " ")


def table_md(table: Table) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in table.header) + " |",
             "|" + "|".join("---" for _ in table.header) + "|"]
    return lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]


def section_md(section: Section) -> list[str]:
    lines = [f"## {section.title}", ""]
    if section.title == "Verdict":
        lines += [f"**{p}**" for p in section.paragraphs] + [""]
    else:
        lines += [line for p in section.paragraphs for line in (p, "")]
    if section.bullets:
        lines += [f"- {b}" for b in section.bullets] + [""]
    for table in section.tables:
        lines += table_md(table) + [""]
    return lines


def render_markdown(record: dict) -> str:
    """Markdown report: title, verdict with reasons, latency, roofline, parity, quality, bisection,
    passes, tuning, memory, notes, stages, environment, digests (sections absent from ``record`` are
    omitted). Never raises on missing keys."""
    lines = [f"# {title(record)}", "", f"report version {record.get('report_version', '?')}", ""]
    for section in sections(record):
        lines += section_md(section)
    return "\n".join(lines).rstrip() + "\n"
