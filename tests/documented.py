"""Checking a live answer against ``/openapi.json``: the schema the document gives for
the request's path, method and status must accept the answer's JSON."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema

from idmerge.server.openapi import document


def template_of(doc: dict[str, Any], path: str) -> str:
    """The document's path for ``path`` (``/api/funnels/7`` -> ``/api/funnels/{funnel_id}``)."""
    if path in doc["paths"]:
        return path
    for template in doc["paths"]:
        if "{" in template and re.fullmatch(re.sub(r"\{[^}/]+\}", "[^/]+", template), path):
            return str(template)
    raise AssertionError(f"{path} is not in the OpenAPI document")


def documented(answer: httpx.Response) -> Any:
    """The answer's JSON, once the OpenAPI document's schema for it has accepted it."""
    doc = document()
    operation = doc["paths"][template_of(doc, answer.request.url.path)]
    response = operation[answer.request.method.lower()]["responses"][str(answer.status_code)]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    body = answer.json()
    jsonschema.validate(body, {**schema, "components": doc["components"]})
    return body
