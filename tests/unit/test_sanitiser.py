from migrayt.mapping.sanitiser import sanitise
from migrayt.mapping.schema import SourceField, SourceSchema, SourceState, SourceType, TargetField, TargetSchema


def test_only_schema_metadata_passes():
    source = SourceSchema(
        types=[SourceType(name="Bug", count=3, states=[SourceState(name="New", count=3)])],
        fields=[
            SourceField(
                reference_name="Custom.Owner",
                name="Owner",
                type="string",
                picklist=True,
                allowed_values=["Rosa Chen", "rosa.chen@acme.example", "ACME\\rosa", "Platform"],
            ),
            SourceField(
                reference_name="Custom.Notes",
                name="Notes",
                type="string",
                picklist=True,
                allowed_values=[
                    "The login page crashes when the user presses back twice",
                    "see https://wiki.example.com/x",
                    "Low",
                ],
            ),
            SourceField(
                reference_name="Microsoft.VSTS.Common.ActivatedBy",
                name="Activated By",
                type="string",
                identity=True,
                picklist=True,
                allowed_values=["Sami Okafor"],
            ),
            SourceField(
                reference_name="System.AssignedTo",
                name="Assigned To",
                type="string",
                identity=True,
                allowed_values=["Sami Okafor"],
            ),
        ],
        priorities=["1", "2"],
    )
    target = TargetSchema(
        project_key="PHX",
        fields=[
            TargetField(id="customfield_1", name="Team", type="option", allowed_values=["Platform", "bob@corp.example"])
        ],
    )
    payload = sanitise(source, target, people={"Rosa Chen", "Sami Okafor"})
    blob = payload.model_dump_json()
    fields = {f.ref: f for f in payload.source.fields}
    assert fields["Custom.Owner"].allowed_values == ["Platform"]
    assert fields["Custom.Notes"].allowed_values == ["Low"]
    assert (
        fields["Microsoft.VSTS.Common.ActivatedBy"].allowed_values == []
        and fields["Microsoft.VSTS.Common.ActivatedBy"].type == "identity"
    )
    assert "System.AssignedTo" not in fields
    for secret in ("Rosa", "rosa.chen", "Sami", "login page", "wiki.example.com", "bob@corp"):
        assert secret not in blob
    assert payload.source.types == {"Bug": ["New"]} and payload.source.type_counts == {"Bug": 3}
    assert payload.target.fields[0].allowed_values == ["Platform"]
