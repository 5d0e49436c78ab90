"""Helpers the views share: JSON responses and list envelopes."""
from flask import current_app, json


def json_response(payload, status=200, headers=None):
    return current_app.response_class(json.dumps(payload), status=status, mimetype="application/json",
                                      headers=headers)


def page_response(schema, rows, next_cursor):
    return json_response({"items": schema.dump(rows, many=True), "next_cursor": next_cursor})
