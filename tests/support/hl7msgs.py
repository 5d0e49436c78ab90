"""HL7 v2 ADT messages for the ADT inbox tests, built as senders build them (segments joined by \\r), and the
registration of the facilities that send them."""


def adt(
    trigger="A03",
    control_id="MSG0001",
    facility="GENHOSP",
    version="2.5.1",
    family="Lopez",
    given="Maria",
    birth="19900412",
    patient_class="I",
    admitted="202611250930",
    discharged="202612021415",
    separator="\r",
    pid=True,
    pv1=True,
    extra_segments=(),
    member_id="ACM123456",
):
    segments = [
        "MSH|^~\\&|EPIC|%s|TRANSITIONS|PLAN|20261202141600||ADT^%s^ADT_%s|%s|P|%s"
        % (facility, trigger, trigger, control_id, version),
        "EVN|%s|20261202141600" % trigger,
    ]
    if pid:
        identifiers = "MRN123^^^GENHOSP^MR" + ("~%s^^^ACME^MB" % member_id if member_id else "")
        segments.append("PID|1||%s||%s^%s^^^^^L||%s|F" % (identifiers, family, given, birth))
    if pv1:
        # PV1-2 the class, PV1-44 admitted, PV1-45 discharged.
        fields = ["PV1", "1", patient_class] + [""] * 41 + [admitted, discharged]
        segments.append("|".join(fields))
    segments.extend(extra_segments)
    return (separator.join(segments) + separator).encode("utf-8")


def in1(payer="acme-health", policy_number="ACM123456", set_id=1):
    """An IN1 segment: IN1-3 the insurance company id (a health plan's payer id), IN1-36 the policy number."""
    fields = ["IN1", str(set_id), "HMO", payer] + [""] * 32 + [policy_number]
    return "|".join(fields)


def register(api, world, org_key="hospital", facilities=("GENHOSP",)):
    """An admin sets the organization's HL7 facility ids (the sending facilities the feed accepts): its JSON."""
    response = api.patch(
        "/api/v1/organizations/%s" % world.orgs[org_key],
        {"hl7_facility_ids": list(facilities)},
        token=world.tokens["admin"],
    )
    assert response.status_code == 200, response.json
    return response.json
