"""The content root and the JSON Schemas in ``schemas/``: located, loaded, compiled.

Kept apart from :mod:`.content` (agents, skills, YAML) so that reading and checking a plan
- ``validate`` and ``status`` - imports neither YAML nor ``jsonschema``: the compiled
``jsonschema-rs`` validator decides, and ``jsonschema`` is imported only to explain a plan
it rejects.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referral_orchestrator.errors import ReferralError

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

_PACKAGE = Path(__file__).resolve().parent.parent  # the referral_orchestrator package


@functools.cache
def content_root() -> Path:
    """The folder holding agents/, skills/, prompts/ and schemas/."""
    bundled = _PACKAGE / "_content"
    if (bundled / "schemas").is_dir():
        return bundled
    source = _PACKAGE.parent.parent  # src/referral_orchestrator -> repository root
    if (source / "schemas").is_dir():
        return source
    raise ReferralError("content folders not found: reinstall referral-orchestrator")


def clean_text(text: str) -> str:
    """Text as written on any platform: no byte-order mark, LF line ends."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def read_content(path: Path) -> str:
    """Read a content file (UTF-8, with or without a BOM, any line ends) as clean text."""
    return clean_text(path.read_bytes().decode("utf-8"))


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Load ``schemas/<name>.schema.json``."""
    path = content_root() / "schemas" / f"{name}.schema.json"
    data: dict[str, Any] = json.loads(read_content(path))
    return data


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A compiled (cached) validator for ``schemas/<name>.schema.json``."""
    from jsonschema import Draft202012Validator

    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@functools.cache
def fast_validator(name: str) -> Any:
    """A compiled jsonschema-rs validator for hot paths (plan writes and loads), or ``None``
    when jsonschema-rs is missing. jsonschema stays the authority that explains failures."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - optional speed-up
        return None
    return jsonschema_rs.validator_for(load_schema(name), validate_formats=True)


@functools.cache
def fast_field_validators(name: str) -> dict[str, Any] | None:
    """One compiled jsonschema-rs validator per top-level property of an object schema.

    Only for a schema that is exactly "an object, these keys required, each property valid
    against its subschema" (no other top-level keyword), where checking the required keys
    and every present property is the whole validation; ``None`` otherwise, or without
    jsonschema-rs.
    """
    schema = load_schema(name)
    if fast_validator(name) is None or set(schema) - {
            "$schema", "$id", "title", "description", "type", "required", "properties",
            "$defs"} or schema.get("type") != "object":
        return None
    import jsonschema_rs

    base: dict[str, Any] = {k: schema[k] for k in ("$schema", "$defs") if k in schema}
    return {key: jsonschema_rs.validator_for({**base, **sub}, validate_formats=True)
            for key, sub in schema["properties"].items()}
