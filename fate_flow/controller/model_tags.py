"""Model tags (FATE's ``model/model_tag/*`` and ``model/tag/*``): named labels on model versions."""

from __future__ import annotations

import peewee

from fate_flow.db.connection import write_transaction
from fate_flow.db.models import ModelInfo, ModelTag, Tag
from fate_flow.errors import ArgumentError, DataError, OperatingError

MODEL_TAG_OPERATIONS = ("retrieve", "create", "remove")
TAG_OPERATIONS = ("create", "retrieve", "update", "destroy", "list")


def _text(body: dict, field: str, max_length: int = 4000) -> str | None:
    """``body[field]``: None or a string of at most ``max_length`` characters (ArgumentError naming it)."""
    value = body.get(field)
    if value is not None and (not isinstance(value, str) or len(value) > max_length):
        raise ArgumentError(f"{field} must be a string of at most {max_length} characters")
    return value


def _model(job_id: str | None) -> ModelInfo:
    row = ModelInfo.select().where(ModelInfo.f_model_version == str(job_id or "")).first()
    if row is None:
        raise DataError(f"no model of version (job id) {job_id!r} on this server")
    return row


def _tag(name: str | None) -> Tag:
    tag = Tag.get_or_none(Tag.f_name == str(name or ""))
    if tag is None:
        raise DataError(f"no tag {name!r}")
    return tag


def _tags_of(version: str) -> list[Tag]:
    return list(Tag.select().join(ModelTag, on=ModelTag.f_t_id == Tag.f_id).where(ModelTag.f_m_id == version)
                .order_by(Tag.f_id))


def model_tag(operation: str, body: dict) -> tuple[str, dict | None]:
    """Tag, untag or list the tags of the model of version ``job_id``; (message, data)."""
    if operation not in MODEL_TAG_OPERATIONS:
        raise OperatingError(f"model_tag/{operation} is not supported: use {', '.join(MODEL_TAG_OPERATIONS)}")
    model = _model(body.get("job_id"))
    version = model.f_model_version
    if operation == "retrieve":
        tags = _tags_of(version)
        return "success", {"tags": [{"name": t.f_name, "description": t.f_desc} for t in tags], "count": len(tags)}
    name = (_text(body, "tag_name", 100) or "").strip()
    if not name:
        raise ArgumentError("tag_name must be a name of 1 to 100 characters")
    if operation == "remove":
        tag = _tag(name)
        if not ModelTag.delete().where((ModelTag.f_m_id == version) & (ModelTag.f_t_id == tag.f_id)).execute():
            raise DataError(f"model {model.f_model_id} {version} has no tag {name!r}")
        return f"tag {name!r} removed from model {model.f_model_id} {version}", None
    with write_transaction():
        tag = Tag.get_or_none(Tag.f_name == name) or Tag.create(f_name=name)
        if ModelTag.get_or_none((ModelTag.f_m_id == version) & (ModelTag.f_t_id == tag.f_id)) is not None:
            raise OperatingError(f"model {model.f_model_id} {version} already has tag {name!r}")
        ModelTag.create(f_m_id=version, f_t_id=tag.f_id)
    return f"tag {name!r} added to the model of job {version}", None


def tag(operation: str, body: dict) -> tuple[str, dict | None]:
    """Create, find, rename, delete or list tags; (message, data)."""
    if operation not in TAG_OPERATIONS:
        raise OperatingError(f"tag/{operation} is not supported: use {', '.join(TAG_OPERATIONS)}")
    name = _text(body, "tag_name", 100)
    if operation == "create":
        if not name:
            raise ArgumentError("tag_name must be a name of 1 to 100 characters")
        try:
            Tag.create(f_name=name, f_desc=_text(body, "tag_desc"))
        except peewee.IntegrityError:
            raise OperatingError(f"tag {name!r} exists already") from None
        return f"tag {name!r} created", None
    if operation == "list":
        limit = min(body["limit"], 1000) if isinstance(body.get("limit"), int) and body["limit"] > 0 else 1000
        tags = list(Tag.select().order_by(Tag.f_id).limit(limit))
        return "success", {"tags": [{"name": t.f_name, "description": t.f_desc, "model_count": ModelTag.select().where(
            ModelTag.f_t_id == t.f_id).count()} for t in tags]}
    if operation == "retrieve" and not body.get("with_model"):
        found = list(Tag.select().where(Tag.f_name.contains(str(name or ""))).order_by(Tag.f_id).limit(1000))
        if not found:
            raise DataError("no tags found")
        return "success", {"tags": [{"name": t.f_name, "description": t.f_desc} for t in found]}
    found = _tag(name)
    if operation == "retrieve":
        models = list(ModelInfo.select().join(ModelTag, on=ModelTag.f_m_id == ModelInfo.f_model_version)
                      .where(ModelTag.f_t_id == found.f_id))
        return "success", {"models": [{"model_id": m.f_model_id, "model_version": m.f_model_version,
                                       "model_size": m.f_size, "role": m.f_role, "party_id": m.f_party_id}
                                      for m in models], "count": len(models)}
    if operation == "update":
        return _update(found, body), None
    with write_transaction():
        ModelTag.delete().where(ModelTag.f_t_id == found.f_id).execute()
        found.delete_instance()
    return f"tag {name!r} deleted", None


def _update(found: Tag, body: dict) -> str:
    new_name, new_desc = _text(body, "new_tag_name", 100), _text(body, "new_tag_desc")
    if (new_name in (None, found.f_name)) and new_desc == found.f_desc:
        raise OperatingError("nothing to update")
    if new_name and new_name != found.f_name:
        if Tag.get_or_none(Tag.f_name == new_name) is not None:
            raise OperatingError(f"tag {new_name!r} exists already")
        found.f_name = new_name
    found.f_desc = new_desc
    found.save()
    return f"tag {body.get('tag_name')!r} updated"
