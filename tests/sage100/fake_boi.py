"""A stand-in for Sage 100's COM objects that keeps the documented BOI conventions.

Return codes 1 success / 0 failure with ``sLastErrorMsg`` / -1 warning; ByRef outputs come
back from pywin32 as ``(return value, out…)``; nGetResultSets joins values with 'Š'.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

SEP = "Š"
LOCKED = "The record is in use by another user."


@dataclass
class World:
    tables: dict[str, list[dict[str, Any]]]
    companies: set[str] = field(default_factory=lambda: {"ABC"})
    password: str = "secret"
    lock_failures: int = 0
    calls: list[str] = field(default_factory=list)
    dropped: int = 0
    created: int = 0
    #: index name → the column its key begins with (what nSetBrowseIndex can choose)
    indexes: dict[str, str] = field(default_factory=dict)
    #: records the browse landed on (nMoveFirst/nMoveNext onto a row): the cost of a read
    rows_touched: int = 0
    _sorted: dict[tuple[int, str], tuple[int, list[str], list[dict[str, Any]]]] = field(
        default_factory=dict
    )

    def index_of(
        self, rows: list[dict[str, Any]], column: str
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The rows in ``column`` order and their keys (rebuilt when rows were added)."""
        cached = self._sorted.get((id(rows), column))
        if cached is None or cached[0] != len(rows):
            ordered = sorted(rows, key=lambda r: str(r.get(column) or ""))
            cached = (len(rows), [str(r.get(column) or "") for r in ordered], ordered)
            self._sorted[(id(rows), column)] = cached
        return cached[1], cached[2]


class FakeTable:
    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.rows = world.tables.get(name, [])
        self.view = self.rows  # replaced, never changed, by nSetBrowseFilter
        self.pos = 0
        self.sLastErrorMsg = ""
        self.index: str | None = None

    @property
    def nEOF(self) -> int:
        return 1 if self.pos >= len(self.view) else 0

    def _locked(self) -> bool:
        if self.world.lock_failures > 0:
            self.world.lock_failures -= 1
            self.sLastErrorMsg = LOCKED
            return True
        return False

    def nSetBrowseIndex(self, index: str, key: str) -> int:
        if index not in self.world.indexes:
            self.sLastErrorMsg = f"Invalid index {index}"
            return 0
        self.index = index
        return 1

    def nSetBrowseFilter(self, prefix: str) -> int:
        # The filter is a prefix of the current index's key (the primary key by default); a
        # real index is a B-tree, so only the matching range is visited: the view models that.
        if self.index is None:
            column = "PurchaseOrderNo"
            self.view = [r for r in self.rows if str(r.get(column, "")).startswith(prefix)]
        else:
            keys, ordered = self.world.index_of(self.rows, self.world.indexes[self.index])
            start = bisect.bisect_left(keys, prefix)
            end = bisect.bisect_left(keys, prefix + "\uffff")
            self.view = ordered[start:end]
        return 1

    def nMoveFirst(self) -> int:
        if self._locked():
            return 0
        self.pos = 0
        if self.view:
            self.world.rows_touched += 1
        return 1 if self.view else 0

    def nMoveNext(self) -> int:
        self.pos += 1
        if self.pos < len(self.view):
            self.world.rows_touched += 1
        return 1

    def nGetValue(self, column: str, default: Any) -> tuple[int, Any]:
        row = self.view[self.pos]
        name = column.rstrip("$")
        if name not in row:
            self.sLastErrorMsg = f"Column {column} not found"
            return 0, default
        return 1, row[name]

    def nGetResultSets(self, desc: str, key: str, *_: str) -> tuple[int, str, str]:
        if self._locked():
            return 0, "", ""
        values = "".join(f"{r[desc.rstrip('$')]}{SEP}" for r in self.rows)
        keys = "".join(f"{r[key.rstrip('$')]}{SEP}" for r in self.rows)
        return 1, values, keys

    def DropObject(self) -> None:
        self.world.dropped += 1


class FakeSession:
    def __init__(self, world: World) -> None:
        self.world = world
        self.sLastErrorMsg = ""
        self.user: str | None = None

    def nSetUser(self, user: str, password: str) -> int:
        self.world.calls.append("nSetUser")
        if password != self.world.password:
            self.sLastErrorMsg = "Invalid password"
            return 0
        self.user = user
        return 1

    def nLogon(self) -> int:
        self.sLastErrorMsg = "Windows logon not enabled"
        return 0

    def nSetCompany(self, code: str) -> int:
        self.world.calls.append(f"nSetCompany:{code}")
        if code not in self.world.companies:
            self.sLastErrorMsg = f"Company {code} does not exist"
            return 0
        return 1

    def nSetDate(self, module: str, day: str) -> int:
        assert len(day) == 8 and day.isdigit()
        return 1

    def nSetModule(self, module: str) -> int:
        return 1

    def nLookupTask(self, task: str) -> int:
        return 100 + len(task)

    def nSetProgram(self, task_id: int) -> int:
        return 1 if task_id else 0

    def nCleanup(self) -> int:
        return 1

    def DropObject(self) -> None:
        self.world.dropped += 1


class FakeProvideX:
    def __init__(self, world: World) -> None:
        self.world = world
        self.home: str | None = None

    def Init(self, home: str) -> None:
        self.home = home

    def NewObject(self, name: str, session: Any = None) -> Any:
        if name == "SY_Session":
            assert self.home is not None, "Init must be called first"
            self.world.created += 1
            return FakeSession(self.world)
        assert isinstance(session, FakeSession) and session.user, "needs a logged-on session"
        return FakeTable(self.world, name)
