"""Schema checks of what changed in a plan since its last checked write, part by part.

A plan write checks the top-level fields whose value changed since the plan's last
checked write (``chain.Encoded``); the ``state``, ``qa``, ``transitions`` and ``tasks``
fields change at nearly every write, yet most of what they hold does not (the drafts
under ``state.outputs``, the QA of earlier stages, every earlier transition). A field
whose subschema is exactly "an object: these keys required, no others (or each other
one against a schema), each property against its subschema" - or "an array, each item
against one schema" - is valid exactly when those conditions hold and each part is
valid: so each part whose exact value (its ``marshal`` fingerprint, from the encoding)
passed before is not checked again, and each other part is checked on its own, the same
way, down to where the encoding stopped splitting. Anything else is checked whole by a
compiled jsonschema-rs validator of its subschema.
"""

from __future__ import annotations

from typing import Any

# Keywords that only annotate, and those a part-by-part check covers
_NOTES = frozenset({"description", "title", "$comment", "examples", "default"})
_OBJECT = _NOTES | {"type", "required", "properties", "additionalProperties"}
_ARRAY = _NOTES | {"type", "items"}

_validators: dict[int, Any] = {}  # id(subschema) -> compiled validator (schemas are cached)


def part_valid(schema: dict[str, Any], base: dict[str, Any], value: Any, piece: Any,
               prior: Any, whole: Any = None) -> bool:
    """``value`` is valid against ``schema`` (a subschema of ``base``, the plan schema).

    ``piece`` is the value's encoding (``(fingerprint, compact, canonical, parts)``) and
    ``prior`` the encoding of the same field that passed at the plan's last checked write
    (or ``None``); ``whole``, a compiled validator of ``schema`` the caller already has.
    """
    if prior is not None and piece is not None and piece[0] is not None and (
            piece[0] == prior[0]):
        return True  # this exact value passed before
    parts = piece[3] if piece is not None else None
    before = prior[3] if prior is not None else None
    if isinstance(parts, dict) and isinstance(value, dict) and _splits(schema, "object"):
        return _object_valid(schema, base, value, parts,
                             before if isinstance(before, dict) else {})
    if isinstance(parts, list) and isinstance(value, list) and _splits(schema, "array"):
        items = schema["items"]
        old = before if isinstance(before, list) else []
        return all(part_valid(items, base, item, parts[i], old[i] if i < len(old) else None)
                   for i, item in enumerate(value))
    return bool((whole or _compiled(schema, base)).is_valid(value))


def _object_valid(schema: dict[str, Any], base: dict[str, Any], value: dict[str, Any],
                  parts: dict[str, Any], before: dict[str, Any]) -> bool:
    if not all(k in value for k in schema.get("required", ())):
        return False
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        sub = props.get(key, extra)
        if sub is False:
            return False
        if sub is True:
            continue
        if not part_valid(sub, base, item, parts.get(key), before.get(key)):
            return False
    return True


def _splits(schema: dict[str, Any], kind: str) -> bool:
    """The subschema is checked exactly by checking its parts (see the module docstring)."""
    types = schema.get("type")
    allowed = types if isinstance(types, list) else [types]
    if kind == "object":
        extra = schema.get("additionalProperties", True)
        return (not set(schema) - _OBJECT and "object" in allowed
                and all(isinstance(s, (dict, bool)) for s in schema.get("properties",
                                                                        {}).values())
                and isinstance(extra, (dict, bool)))
    return not set(schema) - _ARRAY and "array" in allowed and isinstance(
        schema.get("items"), dict)


def _compiled(schema: dict[str, Any], base: dict[str, Any]) -> Any:
    found = _validators.get(id(schema))
    if found is None:
        import jsonschema_rs

        defs: dict[str, Any] = {k: base[k] for k in ("$schema", "$defs") if k in base}
        found = _validators[id(schema)] = jsonschema_rs.validator_for(
            {**defs, **schema}, validate_formats=True)
    return found
