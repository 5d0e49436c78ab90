"""Every extra member a problem carries is declared in the OpenAPI Problem schema (a client validating responses
against the document must not reject a 409 because the code added a member the document forbids)."""

import ast
import pathlib

from transitions.core.fields import ProblemSchema

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "transitions"


def extra_members():
    """The keys of every `extra={...}` literal passed to a call in the package, with where they are."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
                    for key in keyword.value.keys:
                        if isinstance(key, ast.Constant):
                            found.setdefault(key.value, "%s:%d" % (path.relative_to(PACKAGE), node.lineno))
    return found


def test_every_extra_problem_member_is_declared():
    members = extra_members()
    assert members, "the walk found no problem members at all"
    undeclared = {key: where for key, where in members.items() if key not in ProblemSchema().fields}
    assert not undeclared, undeclared
