"""The directory as Organization, Location (near) and HealthcareService (open seats); the CapabilityStatement and
the extensions' StructureDefinitions."""

from transitions.fhir.extensions import EXTENSIONS


def ids(bundle):
    return [entry["resource"]["id"] for entry in bundle["entry"]]


def test_locations_near_a_point_nearest_first(fhir, scene):
    chicago = scene.program(name="Loop IOP", zip="60601")
    evanston = scene.program(name="Evanston IOP", zip="60201")
    scene.program(name="Springfield IOP", zip="62701")
    near = fhir.get("/Location?near=41.8853|-87.6216|20|mi", who="planner").json
    assert ids(near) == [chicago["id"], evanston["id"]] and near["total"] == 2
    location = fhir.get("/Location/%s" % chicago["id"], who="manager").json
    assert set(location["position"]) == {"latitude", "longitude"}
    assert fhir.get("/Location?near=north", who="planner").status_code == 400


def test_one_healthcare_service_per_track_with_its_open_seats(fhir, scene, world):
    program = scene.program()
    evening = scene.track(program, capacity=3)
    scene.track(program, name="Morning track", modality="telehealth")
    scene.offered(scene.referral(), evening)
    service = fhir.get("/HealthcareService/%s" % evening["id"], who="coordinator2").json
    seats = next(e for e in service["extension"] if e["url"].endswith("/open-seats"))
    assert seats["valueUnsignedInt"] == 2
    assert service["providedBy"] == {"reference": "Organization/%s" % world.orgs["provider"]}
    assert service["location"] == [{"reference": "Location/%s" % program["id"]}]
    assert [t["daysOfWeek"] for t in service["availableTime"]] == [["mon"], ["wed"], ["thu"]]
    listed = fhir.get("/HealthcareService?location=Location/%s&active=true" % program["id"], who="planner").json
    assert listed["total"] == 2
    assert fhir.get("/HealthcareService?service-type=substance_use", who="planner").json["total"] == 0
    organizations = fhir.get("/Organization", who="planner").json
    assert world.orgs["provider"] in ids(organizations) and world.orgs["plan"] not in ids(organizations)
    assert fhir.get("/Organization/%s" % world.orgs["plan"], who="planner").status_code == 404


def test_capability_statement_and_structure_definitions(fhir):
    statement = fhir.get("/metadata").json
    assert statement["fhirVersion"] == "4.0.1"
    kinds = {resource["type"] for resource in statement["rest"][0]["resource"]}
    assert {"Task", "ServiceRequest", "Location", "HealthcareService", "StructureDefinition"} <= kinds
    for extension_id in EXTENSIONS:
        definition = fhir.get("/StructureDefinition/%s" % extension_id, who="planner").json
        assert definition["url"] in statement["rest"][0]["documentation"]
    assert fhir.get("/StructureDefinition/nope", who="planner").status_code == 404
