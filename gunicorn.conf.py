"""gunicorn's settings for this service: `gunicorn -c gunicorn.conf.py wsgi:app` (scripts/run serves this way).

gunicorn refuses a request it cannot or will not parse before the app sees it: a request line or header over the
limits below, a control character in a header, broken HTTP. Its own answer is an HTML page and gunicorn has no
setting for that, so the workers write RFC 9457 problem+json instead, like every other error of this service.
The limits are transitions.config's, which the OpenAPI document states (components.responses).
"""

import json

from gunicorn import util

from transitions.config import HEADER_FIELDS_MAX, HEADER_LINE_MAX_BYTES, REQUEST_LINE_MAX_BYTES
from transitions.core.errors import PROBLEM_BASE, PROBLEM_MIME

bind = "127.0.0.1:5000"
workers = 2
threads = 4
# The code sets (ICD-10-CM, ZIPs) are loaded once, before the workers fork (see wsgi.py).
preload_app = True
accesslog = "-"

limit_request_line = REQUEST_LINE_MAX_BYTES
limit_request_field_size = HEADER_LINE_MAX_BYTES
limit_request_fields = HEADER_FIELDS_MAX

PROBLEM_TYPES = {
    400: "malformed-request",
    403: "forbidden",
    414: "uri-too-long",
    417: "expectation-failed",
    431: "header-fields-too-large",
    500: "internal-error",
    501: "not-implemented",
}
PROBLEM_DETAILS = {
    414: "The request line is longer than %d bytes." % REQUEST_LINE_MAX_BYTES,
    431: "A header line is longer than %d bytes, or the request has more than %d header fields."
    % (HEADER_LINE_MAX_BYTES, HEADER_FIELDS_MAX),
    500: "An unexpected error occurred; it was logged.",
}
# gunicorn's message may quote what the client sent (a header name, the request line): enough of it to say what
# was wrong, never the whole of a long line.
DETAIL_MAX_CHARS = 200


def write_problem(sock, status_int, reason, mesg):
    """What gunicorn sends for a request it refused (gunicorn.util.write_error's signature), as problem+json."""
    detail = PROBLEM_DETAILS.get(status_int) or (mesg or reason)[:DETAIL_MAX_CHARS]
    body = json.dumps(
        {
            "type": PROBLEM_BASE + PROBLEM_TYPES.get(status_int, "http-%d" % status_int),
            "title": reason,
            "status": status_int,
            "detail": detail,
        }
    ).encode("utf-8")
    head = (
        "HTTP/1.1 %d %s\r\n"
        "Connection: close\r\n"
        "Content-Type: %s\r\n"
        "Content-Length: %d\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n" % (status_int, reason, PROBLEM_MIME, len(body))
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


def on_starting(server):
    # The workers answer with gunicorn.workers.base.Worker.handle_error, which writes through util.write_error;
    # replaced here in the master, it is what every worker forked from it writes.
    util.write_error = write_problem
