"""The vocabulary the OpenAPI document (``openapi.py``) describes endpoints in:
parameters (:class:`Param`), answers, and :class:`Endpoint`, one endpoint described
once whatever paths serve it, which makes the operation of each of its paths.

Also the pieces every secret-authenticated ``/api/`` endpoint shares: its common
parameters, its error answers and :func:`query_endpoint`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from idmerge.server.api import MAX_PARAMS_BODY
from idmerge.server.openapi_schemas import SECRET, STRING, STRINGS, Json, errors, obj, ref

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
NDJSON = "application/x-ndjson"


# -- parameters ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    """A parameter: in the query string, or (on POST) in a form or JSON body."""

    name: str
    schema: Json
    description: str
    required: bool = False
    json_schema: Json | None = None  # its schema in a JSON body, when it differs

    def query(self, *, required: bool | None = None) -> Json:
        return {
            "name": self.name,
            "in": "query",
            "required": self.required if required is None else required,
            "description": self.description,
            "schema": self.schema,
        }

    def path(self) -> Json:
        """The parameter as a segment of the path (always required)."""
        return {
            "name": self.name,
            "in": "path",
            "required": True,
            "description": self.description,
            "schema": self.schema,
        }


def text(name: str, description: str, *, required: bool = False) -> Param:
    return Param(name, STRING, description, required)


def day(name: str, description: str, *, required: bool = True) -> Param:
    return Param(name, {"type": "string", "format": "date"}, description, required)


def number(
    name: str, description: str, low: int, high: int, default: int | None, *, required: bool = False
) -> Param:
    schema: Json = {"type": "integer", "minimum": low, "maximum": high}
    if default is not None:
        schema["default"] = default
    return Param(name, schema, description, required)


_FLAG_VALUES = [True, False, "1", "0", "true", "false", "yes", "no"]


def flag(name: str, description: str, *, default: bool = False) -> Param:
    return Param(name, {"enum": _FLAG_VALUES, "default": default}, description)


def choice(name: str, allowed: tuple[str, ...], default: str, description: str) -> Param:
    return Param(name, {"enum": list(allowed), "default": default}, description)


def json_text(name: str, schema: Json, description: str, *, required: bool = False) -> Param:
    """A JSON value: as text in a query string or form, the value itself in a JSON
    body."""
    as_text: Json = {"type": "string", "contentMediaType": JSON, "contentSchema": schema}
    return Param(name, as_text, description, required, schema)


def names(name: str, description: str, *, required: bool = False) -> Param:
    """A list of strings: a JSON array as text (a bare name is a list of one), or in
    a JSON body the array itself."""
    param = json_text(name, STRINGS, description, required=required)
    return Param(name, param.schema, description, required, {"anyOf": [STRINGS, STRING]})


PROJECT_ID = text("project_id", "with a service account: the project's id or name")
WHERE = text("where", 'a filter expression, e.g. properties["plan"] == "pro"')
FROM_DATE = day("from_date", "the first day (UTC), inclusive")
TO_DATE = day("to_date", "the last day (UTC), inclusive")


def body_schema(params: tuple[Param, ...], media_type: str) -> Json:
    """The parameters as the properties of a form or JSON body."""
    chosen = {
        p.name: (p.json_schema or p.schema) if media_type == JSON else p.schema for p in params
    }
    return obj(chosen, additionalProperties=True)


def form_or_json(params: tuple[Param, ...]) -> Json:
    return {
        "required": False,
        "description": (
            f"the parameters as a form or a JSON object (at most {MAX_PARAMS_BODY // 1024} KB); "
            "they override the query string's"
        ),
        "content": {mt: {"schema": body_schema(params, mt)} for mt in (FORM, JSON)},
    }


# -- answers -------------------------------------------------------------------------


def answer(description: str, schema: Json | None = None, media_type: str = JSON) -> Json:
    found: Json = {"description": description}
    if schema is not None:
        found["content"] = {media_type: {"schema": schema}}
    return found


def json_lines(row: str, description: str, media_type: str) -> Json:
    """An answer of JSON lines; ``x-json-lines`` names the schema of one line."""
    schema: Json = {"type": "string", "x-json-lines": ref(row)}
    return answer(f"{description}: JSON lines, one {row} a line", schema, media_type)


# -- operations ----------------------------------------------------------------------


def operation_id(method: str, path: str) -> str:
    """``get_api_2_0_export``; the trailing-slash twin is ``get_api_2_0_export_slash``."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    return f"{method.lower()}_{slug}" + ("_slash" if path.endswith("/") else "")


Request = tuple[list[Json], Json | None]  # (parameter objects, request body)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint, described once whatever paths serve it."""

    summary: str
    description: str
    tag: str
    security: list[Json]
    responses: Json
    methods: tuple[str, ...] = ("GET",)
    parameters: tuple[Param, ...] = ()
    #: per method, the request when it is not the default: the parameters in the
    #: query string, and on POST also as a form or JSON body
    requests: tuple[tuple[str, Request], ...] = ()
    #: the templated segments of the path (``{funnel_id}``), for every method
    in_path: tuple[Param, ...] = ()

    def request(self, method: str) -> Request:
        special = dict(self.requests)
        if method in special:
            return special[method]
        if method == "POST" and self.parameters:  # a body may carry any of them
            return [p.query(required=False) for p in self.parameters], form_or_json(self.parameters)
        return [p.query() for p in self.parameters], None

    def operation(self, method: str, path: str) -> Json:
        parameters, body = self.request(method)
        parameters = [p.path() for p in self.in_path] + parameters
        found: Json = {
            "operationId": operation_id(method, path),
            "summary": self.summary,
            "description": self.description,
            "tags": [self.tag],
            "security": self.security,
        }
        if parameters:
            found["parameters"] = parameters
        if body is not None:
            found["requestBody"] = body
        # a body past its limit is a 413; a request without one cannot be
        found["responses"] = {
            status: response
            for status, response in self.responses.items()
            if body is not None or status != "413"
        }
        return found


def slashed(path: str) -> tuple[str, str]:
    """Mixpanel's paths are served with and without a trailing slash."""
    return path, path + "/"


# -- the secret-authenticated /api/ endpoints ----------------------------------------

API_ERRORS = errors("Api", 400, 401, 413)


def query_endpoint(
    summary: str,
    description: str,
    ok: Json,
    *parameters: Param,
    methods: tuple[str, ...] = ("GET",),
    tag: str = "mixpanel-query",
    failures: Json = API_ERRORS,
) -> Endpoint:
    """A secret-authenticated ``/api/`` endpoint; on POST its parameters may come in a
    form or JSON body instead. ``failures``: its error answers."""
    return Endpoint(
        summary,
        description,
        tag,
        SECRET,
        {"200": ok, **failures},
        methods,
        (PROJECT_ID, *parameters),
    )
