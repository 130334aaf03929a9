"""``include = "tenants/*.toml"``: connections, pipelines and companies kept in files of their own.

Those who run many companies keep one small file per client in git; the main file includes
them by glob (relative to the main file, in sorted order, so the result does not depend on
the file system's listing order). Included files may define ``[connections.*]``,
``[pipelines.*]`` and a pipeline's per-company tables (``[pipelines.NAME.company.CODE]``), and
may add codes to a pipeline's ``companies`` list; nothing else, so a tenant file cannot
change the database, the server or Slack's credentials.

A thing defined twice — the same connection, pipeline or company in two files, or the same
key set in both — is refused, naming both files: which one should win is the operator's
decision, not the order of a directory listing. Every error names the file it is about.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_connector.errors import ConfigError

INCLUDABLE = ("connections", "pipelines")
# Tables defined as a whole by one file: merging two of them would mix two tenants.
_ENTRIES = (("connections", "*"), ("pipelines", "*", "company", "*"))


@dataclass
class Included:
    """The merged data and, for each thing defined, the file it came from."""

    data: dict[str, Any]
    files: list[Path] = field(default_factory=list)
    origins: dict[tuple[str, ...], Path] = field(default_factory=dict)

    def file_of(self, dotted: str, default: Path) -> Path:
        """The file that defined the longest known prefix of ``dotted`` (a problem's key)."""
        parts = tuple(dotted.split(":", 1)[0].split("."))
        for size in range(len(parts), 0, -1):
            found = self.origins.get(parts[:size])
            if found is not None:
                return found
        return default


def _patterns(value: Any, main: Path) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(
        f"{main}: include: expected a glob like 'tenants/*.toml' or a list of them, got {value!r}"
    )


def _read(file: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(file.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None


def _is_entry(path: tuple[str, ...]) -> bool:
    return any(
        len(path) == len(shape) and all(s in ("*", p) for s, p in zip(shape, path, strict=True))
        for shape in _ENTRIES
    )


def _record(
    origins: dict[tuple[str, ...], Path], data: Any, path: tuple[str, ...], file: Path
) -> None:
    origins.setdefault(path, file)
    if isinstance(data, dict) and len(path) < 4:
        for key, value in data.items():
            _record(origins, value, (*path, str(key)), file)


def _merge(
    into: dict[str, Any],
    extra: dict[str, Any],
    path: tuple[str, ...],
    file: Path,
    origins: dict[tuple[str, ...], Path],
    problems: list[str],
) -> None:
    for key, value in extra.items():
        here = (*path, str(key))
        dotted = ".".join(here)
        if key not in into:
            into[key] = value
            _record(origins, value, here, file)
            continue
        both = f"{origins.get(here, '?')} and {file}"
        current = into[key]
        lists = isinstance(current, list) and isinstance(value, list)
        if here[-1] == "companies" and len(here) == 3 and lists:
            repeated = sorted(set(map(str, current)) & set(map(str, value)))
            if repeated:
                problems.append(
                    f"{file}: {dotted}: {', '.join(repeated)} already listed (in {both})"
                )
            into[key] = [*current, *value]
            continue
        if _is_entry(here) or not (isinstance(current, dict) and isinstance(value, dict)):
            problems.append(f"{file}: {dotted}: defined twice, in {both}; keep one")
            continue
        _merge(current, value, here, file, origins, problems)


def apply_includes(data: dict[str, Any], main: Path) -> Included:
    """``data`` with every included file merged in (the ``include`` key removed)."""
    merged = {k: v for k, v in data.items() if k != "include"}
    result = Included(merged)
    if "include" not in data:
        return result
    base = main.parent
    for key in INCLUDABLE:
        if key in merged:
            _record(result.origins, merged[key], (key,), main)
    problems: list[str] = []
    for pattern in _patterns(data["include"], main):
        if Path(pattern).is_absolute():
            matches = sorted(Path(pattern).parent.glob(Path(pattern).name))
        else:
            matches = sorted(base.glob(pattern))
        files = [m for m in matches if m.is_file() and m.resolve() != main.resolve()]
        if not files:
            problems.append(
                f"{main}: include: {pattern!r} matches no file (relative to {base}); "
                "fix the pattern or remove it"
            )
            continue
        for file in files:
            if file in result.files:
                continue
            result.files.append(file)
            extra = _read(file)
            unknown = sorted(set(extra) - set(INCLUDABLE))
            if unknown:
                problems.append(
                    f"{file}: {', '.join(unknown)}: an included file may hold only "
                    f"{' and '.join(f'[{t}]' for t in INCLUDABLE)}; move the rest to {main}"
                )
                continue
            _merge(merged, extra, (), file, result.origins, problems)
    if problems:
        raise ConfigError(problems[0] if len(problems) == 1 else "\n".join(problems), problems)
    return result
