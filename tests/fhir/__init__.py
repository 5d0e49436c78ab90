"""FHIR R4 interface tests: every FHIR resource received here is validated with FHIR.js (see conftest)."""
