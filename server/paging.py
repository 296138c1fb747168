"""Paging of the list endpoints (GET /api/jobs, GET /api/surfaces): the same ``limit`` and ``offset``
parameters, and the same ``next_offset`` in the answer. (No ``from __future__ import annotations``: the
parameters' annotations name the closure's ``noun`` and ``default``, which FastAPI must see evaluated.)"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Query

MAX_PAGE = 1000  # items per page at most
MAX_OFFSET = 2**63 - 1  # SQLite's largest integer

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def cut(self, rest: Sequence[T]) -> tuple[list[T], int | None]:
        """This page out of ``rest``, the items from ``offset`` on (at least ``limit + 1`` of them when
        there are more), and the offset of the next page (None: this is the last)."""
        return list(rest[: self.limit]), self.offset + self.limit if len(rest) > self.limit else None


def paging(noun: str, default: int) -> Callable[..., Page]:
    """The dependency that reads a page of ``noun`` (``limit`` of them by default) from the query."""

    def page(
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"{noun} per page, at most {MAX_PAGE}")] = default,
        offset: Annotated[
            int, Query(ge=0, le=MAX_OFFSET, description=f"{noun} to skip (next_offset of the page before)")
        ] = 0,
    ) -> Page:
        return Page(limit, offset)

    return page
