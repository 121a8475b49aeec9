"""Rich text for Jira: ADO HTML -> Atlassian Document Format (ADF), and helpers around it.

`html_to_adf` turns any string into a document valid against specs/adf/full.json.
`fit_adf` keeps a document under Jira's 32,767-character field limit; `adf_to_text`
and `plain_text_to_adf` cover previews and plain fields.
"""

from .context import DROP_IMAGE, AdfContext, AdfImage
from .fit import DEFAULT_NOTE, JIRA_TEXT_LIMIT, adf_char_count, fit_adf
from .html import MAX_DEPTH, MAX_LIST_DEPTH, css_color, html_to_adf, safe_href, work_item_refs
from .text import adf_to_text, plain_text_to_adf

__all__ = [
    "DEFAULT_NOTE",
    "DROP_IMAGE",
    "JIRA_TEXT_LIMIT",
    "MAX_DEPTH",
    "MAX_LIST_DEPTH",
    "AdfContext",
    "AdfImage",
    "adf_char_count",
    "adf_to_text",
    "css_color",
    "fit_adf",
    "html_to_adf",
    "plain_text_to_adf",
    "safe_href",
    "work_item_refs",
]
