"""The FHIR.js check itself: it refuses what is not FHIR R4 (so an invalid response would fail its test) and it
sees every FHIR response a test receives."""


def test_fhir_js_refuses_a_bad_code_an_unknown_element_and_a_missing_required_one(fhir_validator):
    assert fhir_validator.errors({"resourceType": "Task", "status": "requested", "intent": "order"}) == []
    assert fhir_validator.errors({"resourceType": "Task", "status": "done", "intent": "order"})
    assert fhir_validator.errors({"resourceType": "Task", "status": "requested", "intent": "order", "owner": 1, "x": 1})
    assert fhir_validator.errors({"resourceType": "Task", "intent": "order"})


def test_every_fhir_response_is_collected(fhir, every_fhir_response_validates):
    fhir.get("/metadata")
    fhir.get("/Task")  # a 401 OperationOutcome is a FHIR resource too
    assert [resource["resourceType"] for _, _, resource in every_fhir_response_validates] == [
        "CapabilityStatement",
        "OperationOutcome",
    ]
