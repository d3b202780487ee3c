"""Request and response bodies of the HTTP service (their JSON Schema is the OpenAPI spec)."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    create_model,
    field_validator,
)

K_MAX = 100  # longest list one request may ask for
MAX_HISTORY = 1000  # ids per history / exclude list (the model reads the last `window`)
MAX_NEW_ITEMS = 1000  # items per POST /items

# No "/" (ids are path segments in /items/{id}) and no surrounding whitespace.
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                          pattern=r"^[^/\s](?:[^/]*[^/\s])?$")]
Text = Annotated[str, StringConstraints(max_length=2000)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Strict(BaseModel):
    # a misspelt field is named, not ignored; "10" is not a k, 0 not a bool, false not a number
    model_config = ConfigDict(extra="forbid", strict=True)


class Problem(BaseModel):
    """Every 4xx: one line that names the field, and the field itself."""

    detail: str = Field(examples=["history[2]: unknown item id 'B00X'"])
    field: str | None = Field(None, examples=["history[2]"])


class RecommendRequest(Strict):
    history: list[ItemId] = Field(min_length=1, max_length=MAX_HISTORY,
                                  description="Item ids the user interacted with, oldest first.")
    k: int = Field(10, ge=1, le=K_MAX, description="How many items to return.")
    exclude: list[ItemId] | None = Field(
        None, max_length=MAX_HISTORY,
        description="Ids never to recommend; default: the whole history.")
    explain: bool = Field(False, description="Add each item's semantic-ID path.")
    fresh: int = Field(0, ge=0, le=K_MAX, description=(
        "At most this many of the k slots go to items added after training (TIGER's epsilon; "
        "the beam generates them, scored by the item head and their text); 0: no cap. "
        "At most k."))

    @field_validator("fresh")
    @classmethod
    def _fresh_within_k(cls, fresh: int, info: ValidationInfo) -> int:
        k = info.data.get("k")
        if k is not None and fresh > k:
            raise ValueError(f"{fresh} slots asked for a list of k={k}")
        return fresh


class RecommendedItem(BaseModel):
    id: str
    score: float = Field(description="Joint log-probability of the item's semantic ID (plus "
                         "the item head's, when the run re-ranks); an added item's includes "
                         "its cold-start bonus.")
    title: str
    path: str | None = Field(None, description="Readable semantic-ID path (explain=true).")


class RecommendResponse(BaseModel):
    items: list[RecommendedItem]
    history_used: int = Field(description="History items the model read (its window).")
    truncated: bool = Field(description="True when only the most recent items were read.")
    notes: list[str]
    catalog_version: int = Field(description="The catalogue snapshot that answered.")
    model_version: int


class NewItem(Strict):
    id: ItemId
    title: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"\S")]
    brand: Text | None = None
    categories: list[list[Text]] | None = Field(
        None, max_length=20, description='Category paths, e.g. [["Beauty", "Makeup", "Nails"]].')
    description: Annotated[str, StringConstraints(max_length=20000)] | None = None
    vector: list[Finite] | None = Field(
        None, max_length=8192,
        description="The item's vector, for runs indexed from --vectors instead of text.")


class AddItemsRequest(Strict):
    items: list[NewItem] = Field(min_length=1, max_length=MAX_NEW_ITEMS)


def add_items_request(dim: int | None) -> type[AddItemsRequest]:
    """AddItemsRequest whose `vector` must have the run's quantizer width (`dim`), so the
    OpenAPI schema says exactly what is accepted."""
    if dim is None:
        return AddItemsRequest
    vector = Field(None, min_length=dim, max_length=dim,
                   description=f"The item's {dim}-d vector; without it the text is embedded.")
    item = create_model("NewItem", __base__=NewItem, vector=(list[Finite] | None, vector))
    items = Field(min_length=1, max_length=MAX_NEW_ITEMS)
    return create_model("AddItemsRequest", __base__=AddItemsRequest, items=(list[item], items))


class AddedItem(BaseModel):
    id: str
    semantic_id: list[int]
    restored: bool = Field(description="A removed item listed again (keeps its semantic ID).")
    path: str | None = None


class AddItemsResponse(BaseModel):
    items: list[AddedItem]
    catalog_version: int


class ItemInfo(BaseModel):
    id: str
    title: str
    semantic_id: list[int]
    active: bool = Field(description="False once removed: readable in histories, never "
                                     "recommended.")
    added: bool = Field(description="Added after training.")
    path: str | None = None


class Removed(BaseModel):
    id: str
    removed: bool
    catalog_version: int


class Health(BaseModel):
    status: str
    items: int = Field(description="Catalogue rows, removed ones included.")
    active_items: int
    catalog_version: int
    model_version: int
    window: int = Field(description="History items the model reads.")
    requests: int = Field(description="Recommendation requests decoded since start.")
    batches: int = Field(description="Decodes run since start.")
    mean_batch: float = Field(description="Requests per decode since start.")
    decode_ms: float = Field(description="Mean wall time of one decode since start.")
    run: str | None = Field(None, description="The run folder's name.")
    model: str | None = Field(None, description="The serving model's shape and ID scheme.")
    fresh: bool | None = Field(None, description="POST /recommend accepts fresh > 0.")
    add_items: bool | None = Field(None, description="POST /items can code new items.")


class Reloaded(BaseModel):
    model_version: int
    catalog_version: int
