"""Helpers the views share: the strict Blueprint, JSON responses and list envelopes."""

from flask import current_app, json
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser


def json_response(payload, status=200, headers=None):
    return current_app.response_class(json.dumps(payload), status=status, mimetype="application/json", headers=headers)


def page_response(schema, rows, next_cursor):
    return shaped_page_response(schema.dump(rows, many=True), next_cursor)


def shaped_page_response(items, next_cursor):
    """The same {items, next_cursor} envelope around items a presenter already shaped for their viewer."""
    return json_response({"items": items, "next_cursor": next_cursor})


class StrictParser(FlaskParser):
    """Unknown query parameters are refused too: a typo like ?stauts= must not silently list everything."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE}


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictParser()
