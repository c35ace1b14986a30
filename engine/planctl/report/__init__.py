"""planctl.report: the run record (``record.py``) rendered as JSON, Markdown and self-contained HTML."""
from planctl.report.environment import collect_environment
from planctl.report.html import render_html
from planctl.report.markdown import render_markdown
from planctl.report.record import REPORT_VERSION, RunRecord
from planctl.report.write import json_safe, record_json, write_reports

__all__ = ["REPORT_VERSION", "RunRecord", "collect_environment", "json_safe", "record_json", "render_html",
           "render_markdown", "write_reports"]
