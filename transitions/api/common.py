"""Helpers the views share: the strict Blueprint (and its GET-with-query routes), the authenticated /api/v1
blueprint, JSON responses and list envelopes.
"""

from flask import current_app, json
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser

from transitions.api.auth import permits, require_authentication
from transitions.core.pagination import keyset_page


def json_response(payload, status=200, headers=None):
    return current_app.response_class(json.dumps(payload), status=status, mimetype="application/json", headers=headers)


def page_response(schema, rows, next_cursor):
    return shaped_page_response(schema.dump(rows, many=True), next_cursor)


def keyset_page_response(schema, query, order, args, descending=False):
    """One keyset page of query's rows (ordered by the order columns), dumped with schema, in the envelope."""
    rows, cursor = keyset_page(query, order, args, descending=descending)
    return page_response(schema, rows, cursor)


def shaped_page_response(items, next_cursor):
    """The same {items, next_cursor} envelope around items a presenter already shaped for their viewer."""
    return json_response({"items": items, "next_cursor": next_cursor})


class StrictParser(FlaskParser):
    """Unknown query parameters are refused too: a typo like ?stauts= must not silently list everything."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE}


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictParser()

    def query_route(self, rule, query_schema, response_schema, policy=None):
        """A GET endpoint reading its query parameters with query_schema and answering 200 with response_schema;
        with a policy, only the roles it names reach the view (a 403 before the parameters are read)."""

        def decorator(view):
            view = self.arguments(query_schema, location="query")(self.response(200, response_schema)(view))
            if policy is not None:
                view = permits(policy)(view)
            return self.route(rule, methods=["GET"])(view)

        return decorator


def api_blueprint(name, import_name, description):
    """An /api/v1 blueprint whose every request needs a valid bearer token, checked before anything else."""
    blp = Blueprint(name, import_name, url_prefix="/api/v1", description=description)
    blp.before_request(require_authentication)
    return blp
