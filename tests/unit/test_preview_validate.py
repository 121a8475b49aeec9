from migrayt.activities.preview.validate import validate_create
from migrayt.connectors.jira import CreateMetaField


def meta(fid, name, schema, required=False, allowed=None, default=False):
    return CreateMetaField.model_validate(
        {
            "fieldId": fid,
            "name": name,
            "required": required,
            "schema": schema,
            "allowedValues": allowed,
            "hasDefaultValue": default,
        }
    )


META = {
    m.field_id: m
    for m in [
        meta("summary", "Summary", {"type": "string", "system": "summary"}, required=True),
        meta("description", "Description", {"type": "string", "system": "description"}),
        meta(
            "priority",
            "Priority",
            {"type": "priority"},
            required=True,
            allowed=[{"id": "1", "name": "Highest"}, {"id": "3", "name": "Medium"}],
        ),
        meta("customfield_10016", "Story point estimate", {"type": "number", "custom": "x:float"}),
        meta(
            "customfield_10031",
            "Source URL",
            {"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"},
        ),
        meta(
            "customfield_10040",
            "Severity",
            {"type": "option", "custom": "x:select"},
            allowed=[{"id": "9", "value": "High"}],
        ),
        meta("duedate", "Due date", {"type": "date"}),
        meta("labels", "Labels", {"type": "array", "items": "string"}),
    ]
}


def test_a_valid_payload_passes():
    fields = {
        "project": {"id": "1"},
        "issuetype": {"id": "2"},
        "summary": "ok",
        "priority": {"id": "3"},
        "labels": ["ado-id-1"],
        "customfield_10016": 3.0,
        "duedate": "2024-01-02",
        "customfield_10040": {"value": "High"},
    }
    assert validate_create(fields, META) is None


def test_refusals_read_like_jira():
    fields = {
        "summary": "x" * 256,
        "customfield_10031": "y" * 300,
        "customfield_10016": "five",
        "duedate": "tomorrow",
        "customfield_10040": {"value": "Low"},
        "priority": {"id": "7"},
        "customfield_99": 1,
        "labels": ["a b"],
    }
    error = validate_create(fields, META)
    assert error is not None
    assert error.field_errors == {
        "summary": "Summary must be less than 255 characters.",
        "customfield_10031": "The entered text is too long. It exceeds the allowed limit of 255 characters.",
        "customfield_10016": "Operation value must be a number",
        "duedate": "Error parsing date string: tomorrow",
        "customfield_10040": "Option value 'Low' is not valid",
        "priority": "The priority selected is invalid.",
        "customfield_99": "Field 'customfield_99' cannot be set. It is not on the appropriate screen, or unknown.",
        "labels": "The label 'a b' contains spaces which is invalid.",
    }
    assert error.describe().startswith("customfield_10016: Operation value must be a number; customfield_10031:")


def test_required_fields_without_a_default():
    error = validate_create({"labels": []}, META)
    assert error.field_errors == {
        "summary": "You must specify a summary of the issue.",
        "priority": "Priority is required.",
    }
    META["priority"].has_default_value = True
    try:
        assert validate_create({"labels": []}, META).field_errors == {
            "summary": "You must specify a summary of the issue."
        }
    finally:
        META["priority"].has_default_value = False
