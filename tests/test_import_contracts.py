"""The allowed import directions, checked on every run so that the layout stays the architecture.

Three checks, all static (nothing is imported):

- import-linter's contracts in pyproject.toml (``[tool.importlinter]``): the layers, no cycles,
  the Intacct gateway apart from the pipeline, the agent client apart from the Sage 100
  stages, the two distributions apart, the simulators apart;
- what import-linter cannot say, read here with ``ast``: outside the gateway only the names in
  ``ml_connector.intacct.gateway.__all__`` are imported from it; no gateway module imports
  the gateway package;
- docs/architecture.md's package diagram has exactly the arrows of the real import graph
  (after transitive reduction), so the document cannot drift from the code.

Run this file as a script to print the diagram's arrows for the document:
``.venv/bin/python tests/test_import_contracts.py``.
"""

from __future__ import annotations

import ast
import functools
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"ml_connector": ROOT / "src", "ml_connector_agent": ROOT / "agent" / "src"}
GATEWAY = "ml_connector.intacct.gateway"
DOC = ROOT / "docs" / "architecture.md"

# The modules every layer may use, drawn as one box.
FLOOR = {
    "errors",
    "redact",
    "logging",
    "clock",
    "amounts",
    "money",
    "backoff",
    "wording",
    "json_depth",
}
# Subpackages drawn as two boxes: the reusable client apart from the pipeline on top of it.
SPLIT = {"ml_connector.intacct.gateway", "ml_connector.sage100.agent_client"}


# -- the import graph, from the source text -----------------------------------------------------


def module_files(src: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``src``, by dotted name."""
    files: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


@functools.cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def imports_of(name: str, path: Path) -> Iterator[tuple[str, int, str | None]]:
    """``(module, line, imported name)`` for each import in the file, at any depth (also under
    ``TYPE_CHECKING`` and inside functions); the name is ``None`` for ``import a.b``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, None
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            for alias in node.names:
                yield module, node.lineno, alias.name


def module_graph(sources: dict[str, Path] = SOURCES) -> dict[str, set[str]]:
    """Importer → imported modules of our own packages (``from a import b`` names the module
    ``a.b`` where that is one)."""
    files = {
        name: path
        for package, src in sources.items()
        for name, path in module_files(src, package).items()
    }
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in files.items():
        for module, _line, imported in imports_of(name, path):
            if module.partition(".")[0] not in sources:
                continue
            target = f"{module}.{imported}"
            graph[name].add(target if target in files else module)
    return graph


def box(module: str) -> str | None:
    """The diagram's box for a module (``None``: the root package, which holds the version)."""
    if module == "ml_connector_agent" or module.startswith("ml_connector_agent."):
        return "agent"
    for split in SPLIT:
        if module == split or module.startswith(split + "."):
            return split.removeprefix("ml_connector.")
    parts = module.split(".")
    if len(parts) == 1:
        return None
    if parts[1] == "__main__":
        return "cli"
    return "floor" if parts[1] in FLOOR else parts[1]


def ignored_imports() -> set[tuple[str, str]]:
    """Every ``ignore_imports`` entry of the contracts, as (importer, imported)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pairs = set()
    for contract in config["tool"]["importlinter"]["contracts"]:
        for entry in contract.get("ignore_imports", []):
            importer, _, imported = (part.strip() for part in entry.partition("->"))
            pairs.add((importer, imported))
    return pairs


def box_graph() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The diagram's arrows: the transitive reduction of the box graph without the ignored
    imports, and, apart, the ignored imports that cross boxes (drawn dotted)."""
    ignored = ignored_imports()
    edges: set[tuple[str, str]] = set()
    dotted: set[tuple[str, str]] = set()
    for importer, imported in module_graph().items():
        for target in imported:
            a, b = box(importer), box(target)
            if a is None or b is None or a == b:
                continue
            ignored_pair = any(
                importer == i and (target == t or target.startswith(t + ".")) for i, t in ignored
            )
            (dotted if ignored_pair else edges).add((a, b))
    # An ignored import whose arrow the layers allow anyway (web's /metrics naming the
    # gateway's metrics module) is an ordinary arrow; the rest run against the layers.
    along = {(a, b) for a, b in dotted if b in reachable(edges, a)}
    return reduce(edges | along), dotted - edges - along


def reachable(edges: set[tuple[str, str]], start: str) -> set[str]:
    """The boxes ``start`` reaches by one or more arrows."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        node = todo.pop()
        for a, b in edges:
            if a == node and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def reduce(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Drop each arrow that a longer path already implies (the graph has no cycles: the
    contracts say so), so the diagram shows the layering rather than every import."""
    return {(a, b) for a, b in edges if b not in reachable(edges - {(a, b)}, a)}


def node_id(name: str) -> str:
    return name.replace(".", "_")


def doc_arrows() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The solid and dotted arrows of the ``import-graph`` mermaid block in the document."""
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"```mermaid\n%% import-graph.*?\n(.*?)```", text, re.DOTALL)
    assert block, f"{DOC.name}: no ```mermaid block starting with '%% import-graph'"
    ids: dict[str, str] = {}
    solid: set[tuple[str, str]] = set()
    dotted: set[tuple[str, str]] = set()
    for line in block.group(1).splitlines():
        if m := re.fullmatch(r'\s*(\w+)\["([^"]+)"\]\s*', line):
            ids[m.group(1)] = m.group(2).split("<br/>")[0].replace("/", ".")
        elif m := re.fullmatch(r"\s*(\w+)\s*(-->|-\.->)\s*(\w+)\s*", line):
            (solid if m.group(2) == "-->" else dotted).add((m.group(1), m.group(3)))

    def named(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {(ids.get(a, a), ids.get(b, b)) for a, b in pairs}

    return named(solid), named(dotted)


def mermaid_arrows() -> str:
    edges, dotted = box_graph()
    lines = [f"  {node_id(a)} --> {node_id(b)}" for a, b in sorted(edges)]
    lines += [f"  {node_id(a)} -.-> {node_id(b)}" for a, b in sorted(dotted)]
    return "\n".join(lines)


# -- the checks -----------------------------------------------------------------------------------


def lint_imports(
    cwd: Path = ROOT, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = None
    if pythonpath is not None:
        import os

        env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("lint-imports")),
            "--no-cache",
            "--no-logo",
            str(ROOT / "pyproject.toml"),
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def gateway_public_names(src: Path = SOURCES["ml_connector"]) -> set[str]:
    init = src / "ml_connector" / "intacct" / "gateway" / "__init__.py"
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{init}: no __all__")


def layout_problems(src: Path = SOURCES["ml_connector"]) -> list[str]:
    """What import-linter cannot check: outside the gateway, public names only; inside it, no
    import of the package. (The agent loaded by name, which neither sees, is
    tests/sage100/pipeline/test_credentials.py's test_the_connector_never_imports_the_agent.)"""
    public = gateway_public_names(src)
    files = module_files(src, "ml_connector")
    problems = []
    for name, path in files.items():
        where = path.relative_to(src)
        inside = name == GATEWAY or name.startswith(GATEWAY + ".")
        for module, line, imported in imports_of(name, path):
            if module != GATEWAY:
                continue
            if inside and name != GATEWAY:
                problems.append(
                    f"{where}:{line}: imports the gateway package it is part of; import the "
                    "module that defines the name (the package imports every module)"
                )
            elif f"{GATEWAY}.{imported}" in files:
                continue  # a module, not a name: the contract gateway-public judges it
            elif not inside and (imported is None or imported not in public):
                problems.append(
                    f"{where}:{line}: imports {imported or 'the package'} from {GATEWAY}, which "
                    "is not in its __all__; use a public name (or add it to __all__)"
                )
    return problems


def test_import_linter_contracts_are_kept() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_only_public_gateway_names_are_imported() -> None:
    assert layout_problems() == []


def test_architecture_diagram_has_the_real_arrows() -> None:
    edges, dotted = box_graph()
    solid_doc, dotted_doc = doc_arrows()
    fix = "redraw them with: .venv/bin/python tests/test_import_contracts.py"
    assert solid_doc == edges, (
        f"docs/architecture.md lacks {sorted(edges - solid_doc)} and draws "
        f"{sorted(solid_doc - edges)} that the code does not have; {fix}"
    )
    assert dotted_doc == dotted, f"dotted arrows differ: {sorted(dotted ^ dotted_doc)}; {fix}"


def test_every_path_the_architecture_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:[\w.-]+/)+[\w.-]*\.(?:py|pyx|json|md))`", text))
    named |= set(re.findall(r"\b((?:[a-z_0-9]+/)+[a-z_0-9]+\.py)\b", text))
    assert len(named) > 30, named
    roots = (ROOT, ROOT / "src" / "ml_connector", ROOT / "src" / "ml_connector" / "intacct")
    missing = sorted(p for p in named if not any((root / p).exists() for root in roots))
    assert missing == [], f"docs/architecture.md names paths that do not exist: {missing}"


@pytest.fixture
def source_copy(tmp_path: Path) -> Path:
    """Both distributions' sources (the .py files), to break on purpose."""
    for package, src in SOURCES.items():
        shutil.copytree(
            src / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"),
        )
    return tmp_path


# Each adds an arrow that some check must refuse.
BREAKAGES = [
    ("intacct/gateway/client.py", "from ml_connector.intacct.pipeline import IntacctPipeline"),
    ("intacct/reads.py", "from ml_connector.intacct.gateway.client import Batch"),
    ("sage100/agent_client/tls.py", "import ml_connector.sage100.write.messages"),
    ("store/engine.py", "from ml_connector.delivery import outbox"),
    ("intacct/summaries.py", "from ml_connector.intacct.gateway import COMPILED"),
    ("intacct/gateway/parse.py", "from ml_connector.intacct.gateway import Query"),
]


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_checks_catch_a_broken_layout(source_copy: Path) -> None:
    """Each kind of wrong arrow, added to a copy of the sources, is reported."""
    package = source_copy / "ml_connector"
    for where, line in BREAKAGES:
        add_line(package / where, line)

    report = lint_imports(cwd=source_copy, pythonpath=str(source_copy)).stdout
    assert str(source_copy) in lint_imports_origin(source_copy), "the copy was not the one read"
    broken = report.partition("Broken contracts")[2]
    for contract in (
        "The Intacct gateway client imports nothing pipeline-side",
        "Outside the gateway, only its public names (the package) are imported",
        "The Sage 100 agent client imports no pipeline stage, nor Slack or delivery",
        "The connector's packages layer from the CLI down to the floor modules",
        "No import cycles between the subpackages, at any depth",
    ):
        assert contract in broken, report
    assert "ml_connector.intacct.gateway.client -> ml_connector.intacct.pipeline" in report

    problems = "\n".join(layout_problems(source_copy))
    assert "intacct/summaries.py" in problems and "COMPILED" in problems, problems
    assert "intacct/gateway/parse.py" in problems, problems


def lint_imports_origin(source_copy: Path) -> str:
    """Where a Python started as lint-imports is started finds ``ml_connector``."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util as u; print(u.find_spec('ml_connector').origin)",
        ],
        cwd=source_copy,
        env={"PYTHONPATH": str(source_copy), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


if __name__ == "__main__":
    print(mermaid_arrows())
