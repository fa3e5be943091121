"""JSON Schema of sugo's file formats, generated from the models that load them."""

from typing import Any, Literal

from pydantic import BaseModel

from sugo.config.devices import DevicesConfig
from sugo.config.payload import Payload
from sugo.config.settings import Settings

Kind = Literal["payload", "devices", "settings"]

_MODELS: dict[str, type[BaseModel]] = {
    "payload": Payload,
    "devices": DevicesConfig,
    "settings": Settings,
}


def json_schema(kind: Kind) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one file kind, for editors and validators."""
    try:
        model = _MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(_MODELS)})") from None
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"sugo {kind} file"
    return schema
