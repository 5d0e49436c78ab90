"""The demo's referrals: the same patients every time, so a demo script can tell a story."""
from transitions.demo.generator import week

EVENINGS_MON_THU = week(("mon", "tue", "wed", "thu"), "17:00", "22:00")
WEEKDAY_MORNINGS = week(("mon", "tue", "wed", "thu", "fri"), "08:00", "13:00")
WEEKDAYS_UNTIL_5 = week(("mon", "tue", "wed", "thu", "fri"), "09:00", "17:00")

# The same patients every time, so a demo script can tell a story; dates move with today().
REFERRAL_STORIES = (
    dict(planner="lakeshore", given_name="Denise", family_name="Whitaker", age=41, birthday=(3, 14),
         gender="female", language="en", zip="60640", phone="773-555-0142", payer="acme-health",
         origin="inpatient_psych", need="mental_health", diagnoses=["F33.1"], needs_mat=False,
         discharge_in_days=2, availability=EVENINGS_MON_THU, modality="either", max_travel_miles=15,
         consent=None, notes="Works days at a distribution center; can only attend evening groups."),
    dict(planner="lakeshore", given_name="Luis", family_name="Ramírez", age=29, birthday=(8, 2),
         gender="male", language="es", zip="60608", phone="312-555-0187", payer="medicaid-il",
         origin="inpatient_psych", need="co_occurring", diagnoses=["F31.32", "F10.20"], needs_mat=True,
         discharge_in_days=1, availability=WEEKDAY_MORNINGS, modality="in_person", max_travel_miles=10,
         consent=(-1, None), notes="Prefers Spanish-speaking groups; relies on public transit. Started naltrexone."),
    dict(planner="lakeshore", given_name="Kevin", family_name="O'Malley", age=52, birthday=(11, 23),
         gender="male", language="en", zip="60201", phone="847-555-0119", payer="acme-health",
         origin="inpatient_psych", need="mental_health", diagnoses=["F20.9"], needs_mat=False,
         discharge_in_days=-2, availability=None, modality="in_person", max_travel_miles=20,
         consent=None, notes="Lives with his sister; she drives him to appointments.",
         cancel_reason="Moved in with family in Wisconsin; referred to a program there."),
    dict(planner="bayou", given_name="Jasmine", family_name="Nguyen", age=24, birthday=(6, 5),
         gender="female", language="en", zip="77004", phone="713-555-0164", payer="acme-health",
         origin="inpatient_psych", need="mental_health", diagnoses=["F43.10", "F41.1"], needs_mat=False,
         discharge_in_days=3, availability=None, modality="either", max_travel_miles=25,
         consent=None, notes="Graduate student; flexible schedule outside exam weeks."),
    dict(planner="bayou", given_name="Marcus", family_name="Johnson", age=46, birthday=(1, 30),
         gender="male", language="en", zip="77030", phone="713-555-0151", payer="blue-horizon",
         origin="inpatient_psych", need="co_occurring", diagnoses=["F25.0", "F14.20"], needs_mat=False,
         discharge_in_days=0, availability=WEEKDAYS_UNTIL_5, modality="in_person", max_travel_miles=20,
         consent=(0, 365), notes="On disability; daytime groups preferred."),
    dict(planner="bayou", given_name="Ana", family_name="Gutiérrez", age=33, birthday=(9, 17),
         gender="female", language="es", zip="77550", phone="409-555-0133", payer=None,
         origin="inpatient_psych", need="mental_health", diagnoses=["F32.2"], needs_mat=False,
         discharge_in_days=-1, availability=EVENINGS_MON_THU, modality="either", max_travel_miles=30,
         consent=None, notes="Uninsured; asked about sliding-scale fees.",
         cancel_reason="Patient declined IOP; continuing with her outpatient psychiatrist."),
    # Discharged three days ago and still without a seat: on the demo's first day the follow-up sweep finds her
    # intake check missed, so the case manager's board has someone to call.
    dict(planner="bayou", given_name="Tamika", family_name="Brooks", age=38, birthday=(10, 12),
         gender="female", language="en", zip="77021", phone="713-555-0190", payer="acme-health",
         origin="inpatient_psych", need="mental_health", diagnoses=["F31.81"], needs_mat=False,
         discharge_in_days=-3, availability=EVENINGS_MON_THU, modality="in_person", max_travel_miles=10,
         consent=None, notes="No car; her sister can drive her two evenings a week."),
    dict(planner="cedar", given_name="Ryan", family_name="Kowalski", age=27, birthday=(4, 9),
         gender="male", language="en", zip="19147", phone="215-555-0178", payer="acme-health",
         origin="residential", need="substance_use", diagnoses=["F11.20"], needs_mat=True,
         discharge_in_days=5, availability=EVENINGS_MON_THU, modality="either", max_travel_miles=15,
         consent=(-5, 360), notes="Stepping down after 28 days residential; maintained on buprenorphine."),
    dict(planner="cedar", given_name="Emily", family_name="Chen", age=19, birthday=(12, 1),
         gender="female", language="en", zip="10027", phone="212-555-0106", payer="acme-health",
         origin="residential", need="co_occurring", diagnoses=["F33.2", "F12.20"], needs_mat=False,
         discharge_in_days=4, availability=None, modality="telehealth", max_travel_miles=None,
         # No Part 2 consent yet: the demo shows a referral that can be matched but not offered.
         consent=None, notes="Going home to New York; wants to review the Part 2 consent with her parents."),
)
