"""docs/reference/http.md from the app's OpenAPI document (docs/generate.py calls it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

INTRO = """# HTTP API reference

Generated from the OpenAPI document of `sugo web` (served at
`/api/v1/openapi.json`, browsable at `/api/v1/docs`) by `python docs/generate.py`;
see [the web guide](../web.md) for examples.

Every reply is JSON, except the event streams (`text/event-stream`) and NetCDF
downloads. An error is `{"error": "<one line>"}` with the CLI's message: 401 no or
unknown token (beyond loopback), 403 a viewer's write, 404 unknown job, pipeline or
component, 409 refused (the CLI's exit 1; a payload no pipeline can run), 415 a
payload of an unknown type, 422 a request or payload the schema refuses, 503 the
daemon does not answer. Writes need the `operator` role.
"""

WRITES = ("post", "put", "delete")


def _params(op: dict[str, Any]) -> list[str]:
    rows = []
    for p in op.get("parameters", []):
        schema = p.get("schema", {})
        kind = schema.get("type") or " or ".join(
            s.get("type", "?") for s in schema.get("anyOf", []) if s.get("type") != "null"
        )
        default = schema.get("default")
        text = " ".join((p.get("description") or "").split())
        if default is not None:
            text += f" (default `{default}`)"
        rows.append(f"| `{p['name']}` | {p['in']} | {kind or 'any'} | {text} |")
    return rows


def _body(op: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    body = op.get("requestBody")
    if not body:
        return []
    content = body.get("content", {})
    types = ", ".join(f"`{t}`" for t in content)
    out = [f"Body ({types}): {' '.join((body.get('description') or '').split())}".rstrip(": ")]
    for spec in content.values():
        ref = spec.get("schema", {}).get("$ref")
        if ref:
            model = schemas[ref.rsplit("/", 1)[-1]]
            for name, prop in model.get("properties", {}).items():
                need = " (required)" if name in model.get("required", []) else ""
                desc = " ".join((prop.get("description") or "").split())
                out.append(f"- `{name}`{need}: {desc}".rstrip(": "))
        break
    return out


def markdown(doc: dict[str, Any]) -> str:
    schemas = doc.get("components", {}).get("schemas", {})
    out = [INTRO]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            role = "operator" if method in WRITES and not path.endswith("/check") else "viewer"
            out += [f"## `{method.upper()} {path}`", "", op.get("summary", ""), ""]
            if op.get("description"):
                out += [" ".join(op["description"].split()), ""]
            out += [f"Role: {role}.", ""]
            rows = _params(op)
            if rows:
                out += ["| parameter | in | type | meaning |", "|---|---|---|---|", *rows, ""]
            body = _body(op, schemas)
            if body:
                out += [*body, ""]
            codes = ", ".join(sorted(op.get("responses", {})))
            out += [f"Responses: {codes}.", ""]
    return "\n".join(out).rstrip() + "\n"


def openapi() -> dict[str, Any]:
    """The OpenAPI document, from an app that is never served."""
    from sugo.web.app import WebConfig, create_app
    from sugo.web.auth import TokenFile
    from sugo.web.daemon import Daemon

    nowhere = Path("/nonexistent")
    cfg = WebConfig("127.0.0.1", 0, Daemon(1, nowhere), TokenFile(nowhere), nowhere)
    doc: dict[str, Any] = create_app(cfg).openapi()
    return doc


def http_reference() -> str:
    return markdown(openapi())
