"""DataLoaders, built fresh for every request (and every subscription event) by `Loaders.create`."""

from __future__ import annotations

from dataclasses import dataclass

from db.stores import Stores


@dataclass(frozen=True)
class Loaders:
    """One attribute per loader; each batches its keys into one store round trip."""

    @classmethod
    def create(cls, stores: Stores) -> Loaders:
        return cls()
