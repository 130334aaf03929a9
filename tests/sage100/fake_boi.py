"""A stand-in for Sage 100's COM objects that keeps the documented BOI conventions.

Return codes 1 success / 0 failure with ``sLastErrorMsg`` / -1 warning; ByRef outputs come
back from pywin32 as ``(return value, out…)``; nGetResultSets joins values with 'Š'.
"""

from __future__ import annotations

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


class FakeTable:
    def __init__(self, world: World, name: str) -> None:
        self.world = world
        self.rows = world.tables.get(name, [])
        self.view = list(self.rows)
        self.pos = 0
        self.sLastErrorMsg = ""

    @property
    def nEOF(self) -> int:
        return 1 if self.pos >= len(self.view) else 0

    def _locked(self) -> bool:
        if self.world.lock_failures > 0:
            self.world.lock_failures -= 1
            self.sLastErrorMsg = LOCKED
            return True
        return False

    def nSetBrowseFilter(self, prefix: str) -> int:
        self.view = [r for r in self.rows if str(r.get("PurchaseOrderNo", "")).startswith(prefix)]
        return 1

    def nMoveFirst(self) -> int:
        if self._locked():
            return 0
        self.pos = 0
        return 1 if self.view else 0

    def nMoveNext(self) -> int:
        self.pos += 1
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
