// Validates FHIR R4 resources with FHIR.js (npm package "fhir"), for tests/fhir/conftest.py.
// Reads one JSON resource per line on stdin and writes, for each, one line {"valid": bool, "errors": [...]}
// (errors and fatal messages only, each {location, message}); unexpected properties are errors.
"use strict";
const readline = require("readline");
const { Fhir } = require("fhir");

const fhir = new Fhir();
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  let errors;
  try {
    const response = fhir.validate(JSON.parse(line), { errorOnUnexpected: true });
    errors = response.messages
      .filter((m) => m.severity === "error" || m.severity === "fatal")
      .map((m) => ({ location: m.location, message: m.message }));
  } catch (error) {
    errors = [{ location: "", message: "validator failed: " + error.message }];
  }
  process.stdout.write(JSON.stringify({ valid: errors.length === 0, errors }) + "\n");
});
