"""fhirclient's FHIR 4.0.1 models at the boundary: a validation failure's nested complaints as (element, words)."""

from fhirclient.models import fhirabstractbase


def model_issues(error, path):
    """fhirclient's nested complaints (a FHIRValidationError) as (FHIRPath-ish element under path, message): list
    indexes as [n], the model's own class and data echo cut from the message."""
    for inner in error.errors:
        if isinstance(inner, fhirabstractbase.FHIRValidationError):
            step = inner.path
            if step and step.split(".")[-1].isdigit():
                step = ".".join(step.split(".")[:-1]) + "[%s]" % step.split(".")[-1]
            yield from model_issues(inner, "%s.%s" % (path, step) if step else path)
        else:
            yield path, str(inner).split(" for <")[0].split(" in data for <")[0]
