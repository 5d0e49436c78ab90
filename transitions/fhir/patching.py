"""JSON Patch (RFC 6902) of a child Task, and the rule that a coordinator changes only its decision: status,
statusReason and executionPeriod."""

import copy

from transitions.fhir.outcome import FhirInvalid

# What a coordinator's decision may change; meta, text and lastModified are the service's to write.
DECISION = ("status", "statusReason", "executionPeriod")
IGNORED = ("meta", "text", "lastModified")


def apply(document, operations):
    """The document with the JSON Patch applied (add, remove, replace, test; copy and move too)."""
    if not isinstance(operations, list):
        raise FhirInvalid([(None, "PATCH takes a JSON Patch: a list of operations (application/json-patch+json).")])
    result = copy.deepcopy(document)
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or operation.get("op") not in ("add", "remove", "replace", "test"):
            raise FhirInvalid([("[%d].op" % index, "Each operation is add, remove, replace or test.")])
        path = _pointer(operation.get("path"), index)
        op = operation["op"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise FhirInvalid([("[%d].value" % index, "This operation needs a value.")])
        parent, key = _parent(result, path, index, create=op == "add")
        if op == "test":
            if _get(parent, key, index) != operation["value"]:
                raise FhirInvalid([("[%d]" % index, "The test operation failed.")], 409)
        elif op == "remove":
            _get(parent, key, index)
            del parent[key]
        elif op == "replace":
            _get(parent, key, index)
            parent[key] = operation["value"]
        elif isinstance(parent, list):
            parent.insert(len(parent) if key == "-" else key, operation["value"])
        else:
            parent[key] = operation["value"]
    return result


def _pointer(path, index):
    if not isinstance(path, str) or not path.startswith("/"):
        raise FhirInvalid([("[%d].path" % index, "A path is a JSON Pointer such as /status.")])
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document, path, index, create):
    node = document
    for part in path[:-1]:
        node = _get(node, _key(node, part, index), index)
    return node, _key(node, path[-1], index, create)


def _key(node, part, index, create=False):
    if isinstance(node, list):
        if create and part == "-":
            return part
        if not part.isdigit():
            raise FhirInvalid([("[%d].path" % index, "%s is not an array index." % part)])
        return int(part)
    return part


def _get(node, key, index):
    try:
        return node[key]
    except (KeyError, IndexError, TypeError):
        raise FhirInvalid([("[%d].path" % index, "The path does not exist.")]) from None


def check_only_decision_changed(current, wanted):
    """A 422 naming the first element changed outside the decision."""
    keys = (set(current) | set(wanted)) - set(DECISION) - set(IGNORED)
    for key in sorted(keys):
        if current.get(key) != wanted.get(key):
            raise FhirInvalid(
                [("Task.%s" % key, "Only status, statusReason and executionPeriod of an offer's Task may change.")]
            )
