"""JSON Schemas of the files the service reads and writes, generated from the code's own schemas.

`registry accounts import` and `registry bans import` read JSON Lines whose lines are the bodies of
POST /v1/accounts and POST /v1/bans; `registry audit export` writes one audit entry per line. Partners
who produce or consume those files validate against `schemas/*.schema.json`; a test keeps the
committed files equal to what this module generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from registry.accounts.schemas import AccountIn
from registry.audit.schemas import AuditEntryOut
from registry.bans.schemas import BanIn
from registry.schemas import UtcDateTime


class AuditExportLine(AuditEntryOut):
    """One line of `registry audit export`: times in UTC with microseconds, exactly as hashed."""

    at = UtcDateTime(metadata={"description": "UTC with microseconds: the hash covers them."})
    data = fields.Dict(
        metadata={"description": "As stored and hashed: personal fields sealed under `data.sealed`."}
    )
    readable = fields.Dict(
        metadata={
            "description": "`data` with its sealed fields opened (null where erased); not in the hash "
            "(the trailer's digest covers it); absent with `--sealed-only`."
        }
    )


FORMATS: dict[str, tuple[type[Schema], str, str]] = {
    "accounts-import": (
        AccountIn,
        "Account import line",
        "One line of `registry accounts import`: the body of POST /v1/accounts.",
    ),
    "bans-import": (
        BanIn,
        "Ban import line",
        "One line of `registry bans import`: the body of POST /v1/bans. Re-importing a line creates nothing.",
    ),
    "audit-export": (
        AuditExportLine,
        "Audit export line",
        "One line of `registry audit export`; `hash` = HMAC-SHA256 under a key derived from "
        "REGISTRY_AUDIT_KEY over [prev_hash, seq, at, actor, action, subject, data] as compact sorted "
        'JSON. The last line is instead `{"trailer": {count, first_seq, first_prev_hash, last_seq, '
        'last_hash, lines_sha256, ...}, "sig": Ed25519 signature}`.',
    ),
}


def json_schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of one file format by name."""
    schema_cls, title, description = FORMATS[name]
    spec = APISpec(title, "v1", "3.1.0", plugins=[MarshmallowPlugin()])
    spec.components.schema(schema_cls.__name__, schema=schema_cls)
    components = spec.to_dict()["components"]["schemas"]
    root = dict(components.pop(schema_cls.__name__))
    doc: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://registry.invalid/schemas/{name}.schema.json",
        "title": title,
        "description": description,
        **root,
    }
    if components:
        doc["$defs"] = components
    rewritten: dict[str, Any] = _rewrite_refs(doc)
    return rewritten


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (v.replace("#/components/schemas/", "#/$defs/") if k == "$ref" else _rewrite_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def write_all(directory: Path) -> list[Path]:
    """Write every format's schema into ``directory``; return the paths."""
    written = []
    for name in FORMATS:
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


__all__ = ["FORMATS", "json_schema", "write_all"]
