"""``/openapi.json``: it describes exactly what the server routes, it is a sound
OpenAPI 3.1 document, and the live server serves it."""

from __future__ import annotations

import importlib.metadata
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import openapi_spec_validator

from idmerge.server import segment
from idmerge.server.app import routes
from idmerge.server.openapi import document

from live import LiveServer

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SEGMENT_ROUTE = "/v1/{call:str}"


def served() -> set[tuple[str, str]]:
    """``(path, METHOD)`` of every route, ``/v1/{call}`` expanded into its calls;
    without CORS pre-flights (OPTIONS) and the HEAD Starlette adds to every GET."""
    found: set[tuple[str, str]] = set()
    for route in routes():
        methods = set(route.methods or ()) - {"OPTIONS"}
        if "GET" in methods:
            methods.discard("HEAD")
        if route.path == SEGMENT_ROUTE:
            paths = [f"/v1/{call}" for call in segment.CALLS]
        else:  # a template without a convertor, /api/funnels/{funnel_id}, is OpenAPI's too
            assert ":" not in route.path, f"a templated route to document: {route.path}"
            paths = [route.path]
        found |= {(path, method) for path in paths for method in methods}
    return found


def documented() -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in document()["paths"].items()
        for method in item
        if method in METHODS
    }


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs(item)


def resolve(doc: dict[str, Any], pointer: str) -> Any:
    assert pointer.startswith("#/"), f"{pointer} points outside the document"
    found: Any = doc
    for part in pointer[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(found, dict) and part in found, f"{pointer} resolves to nothing"
        found = found[part]
    return found


# -- coverage --------------------------------------------------------------------------


def test_every_served_route_is_documented() -> None:
    missing = served() - documented()
    assert not missing, f"served but not documented: {sorted(missing)}"


def test_everything_documented_is_served() -> None:
    extra = documented() - served()
    assert not extra, f"documented but not served: {sorted(extra)}"


def test_segment_calls_are_documented_one_by_one() -> None:
    paths = document()["paths"]
    for call in ("track", "identify", "alias", "page", "screen", "group", "batch"):
        assert "post" in paths[f"/v1/{call}"], call


def test_path_templates_declare_their_parameters() -> None:
    for path, method, operation in operations():
        templated = set(re.findall(r"\{(\w+)\}", path))
        declared = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
        assert templated == declared, f"{method} {path}"


def test_path_twins_describe_the_same_operation() -> None:
    """The trailing-slash and /api/query/ twins differ in their operationId only."""
    paths = document()["paths"]

    def without_id(item: dict[str, Any]) -> dict[str, Any]:
        return {m: {k: v for k, v in op.items() if k != "operationId"} for m, op in item.items()}

    for path, item in paths.items():
        twins = [path + "/"]
        if path.startswith("/api/2.0/"):
            twins += ["/api/query/" + path.removeprefix("/api/2.0/")]
        for twin in twins:
            if twin in paths:
                assert without_id(paths[twin]) == without_id(item), twin


# -- structure -------------------------------------------------------------------------


def test_header() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "idmerge"
    assert doc["info"]["version"] == importlib.metadata.version("idmerge")
    assert doc["info"]["description"].strip()
    assert doc["servers"] == [{"url": "/"}]


def test_every_operation_has_responses_and_a_unique_operation_id() -> None:
    ids: Counter[str] = Counter()
    for path, method, operation in operations():
        assert operation.get("responses"), f"{method} {path} has no responses"
        assert operation.get("operationId"), f"{method} {path} has no operationId"
        ids[operation["operationId"]] += 1
    duplicated = [name for name, count in ids.items() if count > 1]
    assert not duplicated, f"operationIds used more than once: {duplicated}"


def test_every_ref_resolves_inside_the_document() -> None:
    doc = document()
    found = set(refs(doc))
    assert found
    for pointer in found:
        resolve(doc, pointer)


def test_every_component_is_used() -> None:
    doc = document()
    used = set(refs(doc))
    for kind in ("schemas", "responses"):
        for name in doc["components"][kind]:
            assert f"#/components/{kind}/{name}" in used, f"{kind} {name} is never referenced"


def test_security_schemes_and_tags_are_declared() -> None:
    doc = document()
    schemes = doc["components"]["securitySchemes"]
    tags = {tag["name"] for tag in doc["tags"]}
    for path, method, operation in operations():
        for requirement in operation["security"]:
            assert set(requirement) <= set(schemes), f"{method} {path}"
        assert set(operation["tags"]) <= tags, f"{method} {path}"


def test_credentials_per_endpoint() -> None:
    for path, method, operation in operations():
        names = {name for requirement in operation["security"] for name in requirement}
        if path.startswith(("/api/", "/import")):
            assert operation["security"] == [{"projectSecret": []}], f"{method} {path}"
            assert "401" in operation["responses"], f"{method} {path}"
        elif path.startswith("/v1/"):
            assert names == {"segmentWriteKey"}, path
            assert {"400", "401"} <= set(operation["responses"]), path
        else:  # the token travels in the records, or no credentials at all
            assert names == set(), f"{method} {path}"


def test_error_answers_of_the_api_have_the_api_error_shape() -> None:
    doc = document()
    for status in ("400", "401", "413", "503"):
        response = doc["components"]["responses"][f"Api{status}"]
        schema = response["content"]["application/json"]["schema"]
        assert resolve(doc, schema["$ref"])["required"] == ["request", "error"]


def test_valid_openapi_3_1() -> None:
    """The document passes the OpenAPI 3.1 schema (openapi-spec-validator)."""
    openapi_spec_validator.validate(json.loads(json.dumps(document())))


def test_built_once() -> None:
    assert document() is document()


# -- served ----------------------------------------------------------------------------


def test_the_live_server_serves_it(server: LiveServer) -> None:
    answer = httpx.get(server.url + "/openapi.json", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == json.loads(json.dumps(document(), allow_nan=False))
