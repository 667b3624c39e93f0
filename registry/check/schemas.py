"""Signup check documents in and out."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from registry.accounts.models import ACCOUNT_TYPES

DECISIONS = ("allow", "review", "deny")

# The check is the hot path: marshmallow's load and dump cost about as much as the decision itself.
# CheckIn.load and CheckOut.dump answer the plain cases by hand and hand everything else (anything the
# schema would refuse or convert) to marshmallow, so validation and error messages stay the schema's;
# tests/check/test_schemas_fast.py checks both against the schema with hypothesis.
_IN_OPTIONAL = ("display_name", "email", "phone", "id_number", "device_id", "ip", "avatar", "avatar_hash")
_IN_FIELDS = frozenset(("username", "account_type", *_IN_OPTIONAL))
_ACCOUNT_TYPES = frozenset(ACCOUNT_TYPES)


def fast_load_check(data: Any) -> dict[str, Any] | None:
    """Return what CheckIn().load(data) returns for a plainly valid body, else None (ask the schema)."""
    if type(data) is not dict or not data.keys() <= _IN_FIELDS:
        return None
    username = data.get("username")
    if type(username) is not str or not 1 <= len(username) <= 128:
        return None
    out: dict[str, Any] = {"username": username}
    for name in _IN_OPTIONAL:
        value = data.get(name)
        if value is not None and type(value) is not str:
            return None
        out[name] = value
    display_name = out["display_name"]
    if display_name is not None and len(display_name) > 256:
        return None
    account_type = data.get("account_type", "personal")
    if type(account_type) is not str or account_type not in _ACCOUNT_TYPES:
        return None
    out["account_type"] = account_type
    # Not taken by the fast path (a list): a body carrying it goes to the schema; here its default.
    out["avatar_probe_hashes"] = None
    return out


def _identifier() -> fields.String:
    # Length is not capped here: a malformed identifier is a reason (invalid_identifier), never an error.
    return fields.String(load_default=None, allow_none=True)


class CheckIn(Schema):
    def load(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        """Load a check body: plainly valid ones by hand, everything else by the schema."""
        if not args and kwargs.keys() <= {"unknown"} and kwargs.get("unknown") in (None, "raise"):
            fast = fast_load_check(data)
            if fast is not None:
                return fast
        return super().load(data, *args, **kwargs)

    username = fields.String(required=True, validate=validate.Length(min=1, max=128))
    display_name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=256))
    email = _identifier()
    phone = _identifier()
    id_number = _identifier()
    device_id = _identifier()
    ip = _identifier()
    account_type = fields.String(load_default="personal", validate=validate.OneOf(ACCOUNT_TYPES))
    # Not validated here: a bad image is a reason (invalid_avatar), never an error.
    avatar = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "The avatar as base64 (PNG, JPEG, WebP, GIF; at most 512 KiB, 4096x4096)."},
    )
    avatar_hash = fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": "Or its PDQ hash as 64 hex digits (README, Avatars); ignored with avatar."},
    )
    # Checked in registry/avatars/check.py like avatar_hash (a bad one is an invalid_avatar reason).
    avatar_probe_hashes = fields.List(
        fields.String(),
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=16),
        metadata={
            "description": "With avatar_hash: up to 16 more PDQ hashes to probe with (mirror, crops; "
            "README, Avatars), so a hash-only check gets the tolerance an image gets."
        },
    )


class CommonnessOut(Schema):
    accounts = fields.Integer()
    bans = fields.Integer()


class ReasonOut(Schema):
    code = fields.String(
        metadata={
            "description": "banned_identifier, similar_to_banned_name, invalid_identifier, identifier_reuse, "
            "common_name (informational), similar_to_banned_avatar, qr_code_in_avatar, invalid_avatar, "
            "or a name-policy code (impersonation, prohibited_term, "
            "contact_in_name, news_word, strict_review_word)."
        }
    )
    field = fields.String()
    ban_id = fields.String()
    score = fields.Float()
    matched = fields.String()
    rule = fields.String()
    term = fields.String()
    accounts = fields.Integer()
    message = fields.String()
    distance = fields.Integer(metadata={"description": "Avatar hash distance in bits (of 256)."})
    tricks = fields.List(
        fields.String(),
        metadata={
            "description": "Disguises the name match took: traditional, pinyin, homophone, reordered, "
            "split_char, typo, digits_changed, separator, confusable, affix, leet, fullwidth, invisible, "
            "case, folded, extra_part (a middle initial or given name put in), fuzzy."
        },
    )
    commonness = fields.Nested(
        CommonnessOut,
        metadata={"description": "How many accounts in good standing and bans hold the matched name key."},
    )


_REASON_TEXT = frozenset(("code", "field", "ban_id", "matched", "rule", "term", "message"))
_REASON_NUMBERS = {"score": float, "accounts": int, "distance": int}
_NUMBER = (int, float)


def _fast_reason(reason: Any) -> dict[str, Any] | None:
    """Return ReasonOut's dump of a reason of plain values (unknown keys dropped), else None."""
    if type(reason) is not dict:
        return None
    item: dict[str, Any] = {}
    for name, value in reason.items():
        if value is None:
            if name in _REASON_TEXT or name in _REASON_NUMBERS or name in ("tricks", "commonness"):
                item[name] = None
        elif name in _REASON_TEXT:
            if type(value) is not str:
                return None
            item[name] = value
        elif name in _REASON_NUMBERS:
            if type(value) not in _NUMBER:
                return None
            item[name] = _REASON_NUMBERS[name](value)
        elif name == "tricks":
            if type(value) is not list or any(type(t) is not str for t in value):
                return None
            item[name] = list(value)
        elif name == "commonness":
            if type(value) is not dict or any(type(value.get(k, 0)) is not int for k in ("accounts", "bans")):
                return None
            item[name] = {k: value[k] for k in ("accounts", "bans") if k in value}
    return item


def fast_dump_check(obj: Any) -> dict[str, Any] | None:
    """Return what CheckOut().dump(obj) returns for run_check's plain answers, else None (ask the schema)."""
    if type(obj) is not dict:
        return None
    out: dict[str, Any] = {}
    for name in ("decision", "check_id"):
        if name in obj:
            value = obj[name]
            if value is not None and type(value) is not str:
                return None
            out[name] = value
    if "reasons" in obj:
        reasons = obj["reasons"]
        if reasons is None:
            out["reasons"] = None
        else:
            if type(reasons) is not list:
                return None
            dumped = []
            for reason in reasons:
                item = _fast_reason(reason)
                if item is None:
                    return None
                dumped.append(item)
            out["reasons"] = dumped
    return out


class CheckOut(Schema):
    def dump(self, obj: Any, *args: Any, **kwargs: Any) -> Any:
        """Dump a check answer: run_check's plain ones by hand, anything else by the schema."""
        if not args and not kwargs.get("many"):
            fast = fast_dump_check(obj)
            if fast is not None:
                return fast
        return super().dump(obj, *args, **kwargs)

    decision = fields.String(metadata={"description": "allow, review or deny."})
    check_id = fields.String()
    reasons = fields.List(fields.Nested(ReasonOut))


# --- POST /v1/check/batch ------------------------------------------------------------------------

MAX_BATCH_CHECKS = 1000
_check_in = CheckIn()
_check_out = CheckOut()


class _CheckItems(fields.List[Any]):
    """Each item loaded as POST /v1/check loads its body; errors named ``checks[i].field``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        if not 1 <= len(value) <= MAX_BATCH_CHECKS:
            raise ValidationError(f"Give 1 to {MAX_BATCH_CHECKS} checks (got {len(value)}).")
        out: list[Any] = []
        errors: dict[str, Any] = {}
        for i, item in enumerate(value):
            try:
                out.append(_check_in.load(item))
            except ValidationError as exc:
                messages = exc.messages
                if isinstance(messages, dict):
                    for name, problem in messages.items():
                        errors[f"checks[{i}]" if name == "_schema" else f"checks[{i}].{name}"] = problem
                else:
                    errors[f"checks[{i}]"] = messages
        if errors:
            raise ValidationError(errors)
        return out


class _CheckResults(fields.List[Any]):
    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else [_check_out.dump(item) for item in value]


class CheckBatchIn(Schema):
    checks = _CheckItems(
        fields.Nested(CheckIn),
        required=True,
        metadata={"description": f"1 to {MAX_BATCH_CHECKS} bodies of POST /v1/check."},
    )

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **kwargs: Any) -> None:
        """Name an item's field at the top, as ``checks[3].email`` (not nested under ``checks``)."""
        messages = error.messages
        if isinstance(messages, dict) and isinstance(messages.get("checks"), dict):
            inner = messages["checks"]
            if inner and all(isinstance(k, str) and k.startswith("checks[") for k in inner):
                flat = {k: v for k, v in messages.items() if k != "checks"}
                flat.update(inner)
                raise ValidationError(flat) from None


class CheckBatchOut(Schema):
    results = _CheckResults(
        fields.Nested(CheckOut), metadata={"description": "One answer per check, in the order sent."}
    )
