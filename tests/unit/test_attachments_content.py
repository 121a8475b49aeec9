"""Pure helpers of phase 5: file names Jira keeps as given, ADO attachment URLs, history and original files."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from migrayt.activities.execution.content_io import bundles
from migrayt.translation.content_text import (
    HistoryEntry,
    ado_attachment_src,
    attachment_guid,
    description_html,
    history_file,
    image_file_name,
    image_sources,
    original_html_file,
    sanitise_filename,
)

GUID = "146dab29-f068-431d-8001-000000000032"
ORG = "https://dev.azure.com/acme"


def test_names_lose_path_separators_and_control_characters():
    assert sanitise_filename("../../etc/passwd") == "_.._etc_passwd"
    assert sanitise_filename("C:\\Users\\me\\report.pdf") == "C_Users_me_report.pdf"
    assert sanitise_filename("bell\x07 and\x00 nul\u202e.txt") == "bell and nul.txt"
    assert sanitise_filename('say "hi".txt') == "say _hi_.txt"
    assert sanitise_filename("screenshot 1.png") == "screenshot 1.png"
    assert sanitise_filename("  \x01 ", "attachment-x") == "attachment-x"


def test_long_names_keep_their_extension_within_255():
    name = sanitise_filename("a" * 400 + ".tar.gz")
    assert len(name) == 255 and name.endswith(".gz")


@given(st.text())
def test_any_name_becomes_a_safe_non_empty_name(raw):
    name = sanitise_filename(raw)
    assert name and len(name) <= 255
    assert not any(c in name for c in '/\\:"\r\n\x00')
    assert name == sanitise_filename(name)  # stable: what Jira stores is what a reconcile looks for


def test_attachment_guids_from_relation_and_image_urls():
    assert attachment_guid(f"{ORG}/f5c575e0/_apis/wit/attachments/{GUID.upper()}?fileName=a.png") == GUID
    assert attachment_guid(f"{ORG}/_apis/wit/workItems/12") is None


def test_only_images_on_the_source_server_are_rehosted():
    src = f"{ORG}/f5c575e0/_apis/wit/attachments/{GUID}?fileName=shot.png"
    assert ado_attachment_src(src, ORG) == GUID
    assert ado_attachment_src(f"https://acme.visualstudio.com/p/_apis/wit/attachments/{GUID}", ORG) == GUID
    assert ado_attachment_src(f"/acme/p/_apis/wit/attachments/{GUID}", ORG) == GUID
    assert ado_attachment_src(f"https://evil.example/_apis/wit/attachments/{GUID}", ORG) is None
    assert (
        ado_attachment_src("http://127.0.0.1:9/acme/p/_apis/wit/attachments/" + GUID, "http://127.0.0.1:8/acme") is None
    )
    assert image_file_name(src, GUID) == "shot.png"
    assert image_file_name(f"{ORG}/_apis/wit/attachments/{GUID}", GUID) == f"image-{GUID}.png"


def test_image_sources_in_document_order_even_in_broken_markup():
    html = f'<div><b>x<img src="{ORG}/a/_apis/wit/attachments/{GUID}" alt="one"></div><p><img src="https://x.example/b.png">'
    assert [s for s, _ in image_sources(html)] == [f"{ORG}/a/_apis/wit/attachments/{GUID}", "https://x.example/b.png"]


def test_description_is_composed_like_create_items():
    fields = {"System.Title": "t" * 300, "System.Description": "<p>d</p>", "Microsoft.VSTS.TCM.ReproSteps": "<p>r</p>"}
    html = description_html(fields)
    assert html.index("<strong>Title:</strong>") < html.index("<p>d</p>") < html.index("<h3>ReproSteps</h3>")
    assert "Title:" not in description_html({"System.Title": "short", "System.Description": "<p>d</p>"})


def test_history_file_says_who_changed_what_when():
    entries = [
        HistoryEntry(
            1,
            datetime(2024, 1, 2, 9, 30, tzinfo=UTC),
            "Alex Chen",
            {"System.State": {"newValue": "New"}, "System.Rev": {"newValue": 1}},
        ),
        HistoryEntry(
            2,
            "2024-01-03T10:00:00Z",
            "Blair <b>Eze</b>",
            {
                "System.State": {"oldValue": "New", "newValue": "Active"},
                "System.AssignedTo": {"newValue": {"displayName": "Uma", "uniqueName": "uma@acme.example"}},
            },
            {"added": [{"rel": "AttachedFile", "url": "https://x/a", "attributes": {"name": "log.txt"}}]},
        ),
    ]
    page = history_file(42, entries).decode()
    assert "work item #42" in page and "2 revisions" in page
    assert "2024-01-02 09:30 UTC" in page and "Alex Chen" in page
    assert "<td>New</td><td>Active</td>" in page
    assert "Uma &lt;uma@acme.example&gt;" in page and "log.txt: https://x/a" in page
    assert "Blair &lt;b&gt;Eze&lt;/b&gt;" in page  # names are text, never markup
    assert "System.Rev" not in page


def test_original_description_file_keeps_the_html_as_is():
    source = "<h1>Spec</h1>" + "<p>" + "x" * 50_000 + "</p>"
    assert source in original_html_file(7, source).decode()


def test_files_pack_into_requests_within_the_bounds_in_order():
    assert bundles([], 20, 100) == []
    assert bundles([10, 20, 30], 20, 100) == [[0, 1, 2]]
    # A request closes at the file count or before the bytes would pass the bound; a file over it goes alone.
    assert bundles([10, 20, 30], 2, 100) == [[0, 1], [2]]
    assert bundles([60, 50, 500, 5], 20, 100) == [[0], [1], [2], [3]]
    assert bundles([40, 50, 500, 5, 5], 20, 100) == [[0, 1], [2], [3, 4]]
    assert bundles([1, 1, 1], 1, 100) == [[0], [1], [2]]
