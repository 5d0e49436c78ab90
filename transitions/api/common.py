"""Helpers the views share: the strict Blueprint (and its route shapes: reads, lists, creates, actions, changes), the
authenticated /api/v1 blueprint, JSON responses and list envelopes.
"""

from flask import current_app, g, json
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser

from transitions.api.auth import permits, require_authentication
from transitions.core.idempotency import idempotent
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


def schema_instance(schema):
    """A schema instance for a schema class (or None, or an instance already), built once at import."""
    return schema() if isinstance(schema, type) else schema


class StrictParser(FlaskParser):
    """Unknown query parameters are refused too: a typo like ?stauts= must not silently list everything."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE}

    def _raw_load_json(self, req):
        # The body as refuse_malformed_requests parsed it (json.loads, as webargs would): not parsed a second time.
        if "json_document" in g:
            return g.json_document
        return super()._raw_load_json(req)


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint with the shapes of this API's routes, each one decorator.

    In every shape a policy, when given, lets only the roles it names reach the view: a 403 before the parameters or
    the body are read. The view receives what the schema loaded (query parameters or body) before its path values.
    """

    ARGUMENTS_PARSER = StrictParser()

    def api_route(self, rule, method, status, response_schema, input_schema=None, location="json", policy=None):
        """Any route: input_schema (if any) read from location, the answer documented as status with
        response_schema."""

        # One instance per route, built here: given a class, webargs would build the schema (and every nested one)
        # again on each request, a tenth of a create's work.
        input_schema = schema_instance(input_schema)

        def decorator(view):
            view = self.response(status, response_schema)(view)
            if input_schema is not None:
                view = self.arguments(input_schema, location=location)(view)
            if policy is not None:
                view = permits(policy)(view)
            return self.route(rule, methods=[method])(view)

        return decorator

    def read_route(self, rule, response_schema, policy=None):
        """A GET of one object, answered 200 with response_schema."""
        return self.api_route(rule, "GET", 200, response_schema, policy=policy)

    def query_route(self, rule, query_schema, response_schema, policy=None):
        """A GET reading its query parameters with query_schema (a list, a search), answered 200 with
        response_schema."""
        return self.api_route(rule, "GET", 200, response_schema, query_schema, "query", policy)

    def create_route(self, rule, body_schema, response_schema, policy):
        """A POST that creates: the body read with body_schema, 201 with response_schema, and an Idempotency-Key
        replays the first answer."""
        return self._replayable(self.api_route(rule, "POST", 201, response_schema, body_schema, policy=policy))

    def action_route(self, rule, body_schema, response_schema, policy=None, replayable=False):
        """A POST acting on an object (accept, cancel, discharge...): the body read with body_schema (None: no
        body), 200 with response_schema; replayable ones honour an Idempotency-Key as creates do."""
        route = self.api_route(rule, "POST", 200, response_schema, body_schema, policy=policy)
        return self._replayable(route) if replayable else route

    def change_route(self, rule, changes_schema, response_schema, policy=None):
        """A PATCH: the changes read with changes_schema, 200 with the changed object's response_schema."""
        return self.api_route(rule, "PATCH", 200, response_schema, changes_schema, policy=policy)

    @staticmethod
    def _replayable(route):
        return lambda view: route(idempotent(view))


def api_blueprint(name, import_name, description):
    """An /api/v1 blueprint whose every request needs a valid bearer token, checked before anything else."""
    blp = Blueprint(name, import_name, url_prefix="/api/v1", description=description)
    blp.before_request(require_authentication)
    return blp
