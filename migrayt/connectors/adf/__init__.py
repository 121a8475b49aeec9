"""Rich text for Jira: ADO HTML -> Atlassian Document Format (ADF), and helpers around it.

`html_to_adf` turns any string into a document valid against specs/adf/full.json
(and ADF's ordering rules the JSON schema cannot express, e.g. a listItem starts
with a paragraph). `fit_adf` keeps a document under Jira's 32,767-character field
limit; `adf_to_text` and `plain_text_to_adf` cover previews and plain fields.

Choices the engine should know:
- Re-hosted images (`AdfContext.image` -> `AdfImage`) become `mediaSingle` >
  `media {type: "external", url}` with the Jira attachment content URL. Images not
  re-hosted become "[image: alt]" text when on the source host / relative / data:,
  else a link to their URL.
- Known `#123` references become the Jira key as plain text, or an `inlineCard`
  to `{jira_site_url}/browse/KEY` when `jira_site_url` is set; links to ADO work
  items are re-pointed the same way. `work_item_refs(html)` lists the ids a
  second pass after phase 2 needs.
- Merged table cells are flattened: the content sits in the top-left slot, the
  other covered slots are empty cells; ragged rows are padded. Tables where ADF
  forbids them (in a cell, list item or quote) become one paragraph per row.
- Nesting deeper than `MAX_DEPTH` elements is flattened to text paragraphs, lists
  deeper than `MAX_LIST_DEPTH` continue as "• " paragraphs.
"""

from .context import DROP_IMAGE, AdfContext, AdfImage
from .fit import DEFAULT_NOTE, JIRA_TEXT_LIMIT, adf_char_count, fit_adf
from .html import MAX_DEPTH, MAX_LIST_DEPTH, css_color, html_parts_to_adf, html_to_adf, safe_href, work_item_refs
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
    "html_parts_to_adf",
    "html_to_adf",
    "plain_text_to_adf",
    "safe_href",
    "work_item_refs",
]
