"""Open readByQuery result sets, continued with ``readMore`` until ``numremaining`` is 0.

A result set is a snapshot of the matching records taken when readByQuery ran: "Using the result
ID ensures that your paged results are from the same originating readByQuery call"
(https://developer.intacct.com/web-services/queries/). How long a result ID lives is not
documented (research §8 item 3); the simulator drops one after ``ttl`` idle seconds and once it
is exhausted, the stricter reading, so clients cannot rely on reading a finished set again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ml_connector.sim.intacct.objects import ObjectSchema, Record


@dataclass
class ResultSet:
    result_id: str
    companyid: str
    schema: ObjectSchema
    records: list[Record]
    fields: tuple[str, ...]
    pagesize: int
    position: int
    last_used: float

    @property
    def remaining(self) -> int:
        return len(self.records) - self.position

    def next_page(self) -> list[Record]:
        page = self.records[self.position : self.position + self.pagesize]
        self.position += len(page)
        return page


class ResultSetStore:
    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self._clock = clock
        self._sets: dict[str, ResultSet] = {}

    def __len__(self) -> int:
        return len(self._sets)

    def create(
        self,
        companyid: str,
        schema: ObjectSchema,
        records: list[Record],
        fields: tuple[str, ...],
        pagesize: int,
    ) -> ResultSet:
        self._drop_idle()
        # Same look as the documented example id "7765623332WU1hh8CoA4QAAHxI9i8AAAAA5".
        result_id = secrets.token_hex(5) + secrets.token_urlsafe(19).replace("-", "A")
        result = ResultSet(
            result_id, companyid, schema, records, fields, pagesize, 0, self._clock()
        )
        self._sets[result_id] = result
        return result

    def get(self, result_id: str, companyid: str) -> ResultSet | None:
        self._drop_idle()
        result = self._sets.get(result_id)
        if result is None or result.companyid != companyid:
            return None
        result.last_used = self._clock()
        return result

    def latest(self, companyid: str, object_name: str) -> ResultSet | None:
        """The company's most recent open result set on ``object_name`` (readMore by object)."""
        self._drop_idle()
        for result in reversed(list(self._sets.values())):
            if result.companyid == companyid and result.schema.name == object_name:
                result.last_used = self._clock()
                return result
        return None

    def ids(self) -> list[str]:
        return list(self._sets)

    def discard(self, result_id: str) -> None:
        self._sets.pop(result_id, None)

    def _drop_idle(self) -> None:
        horizon = self._clock() - self.ttl
        for result_id in [r.result_id for r in self._sets.values() if r.last_used < horizon]:
            del self._sets[result_id]
