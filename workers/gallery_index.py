"""The gallery's index (``precomputed/index.json``): what the server's catalog shows about each gallery
surface. Its own module so that reading it needs neither the training code nor torch."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Tier = Literal["cpu", "full", "gpu"]
TIERS: tuple[Tier, ...] = get_args(Tier)


class IndexEntry(BaseModel):
    """One line of ``precomputed/index.json``: what the catalog shows about a gallery surface.

    ``gallery build`` fills every field; the defaults let the server read a hand-written index too.
    """

    model_config = ConfigDict(extra="ignore")
    id: str
    file: str
    title: str
    description: str = ""
    tier: Tier = "cpu"
    pair: str | None = None
    shortcuts: bool | None = None
    epochs: int | None = None
    test_acc: float | None = Field(None, description="the model's accuracy on the whole test split, percent")
    source: str = ""
    model: str = ""
    dataset_label: str = ""
    samples: int | None = None
    grid: str = ""
    status: Literal["complete", "partial"] = "complete"
    landscape_stats: dict[str, Any] | None = None
    checkpoint_sha256: str | None = None


class Index(BaseModel):
    entries: list[IndexEntry]
