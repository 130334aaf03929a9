"""Companies in the config file: lists, per-company tables, entities and `include` (#22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_connector.cli.init import example_config
from ml_connector.companies import (
    intacct_channels,
    pipeline_companies,
    sage100_currency,
    sage100_streams,
    with_stored,
)
from ml_connector.config import Sage100Pipeline, load_config
from ml_connector.errors import ConfigError

TENANT = """
[pipelines.sage100.company.{code}]
currency = "CAD"
[pipelines.sage100.company.{code}.streams.ap_invoices]
channel = "C0{code}AP001"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def main_file(tmp_path: Path, extra: str = "") -> Path:
    text = example_config().replace(
        '[pipelines.sage100]\ntype = "sage100"\n',
        '[pipelines.sage100]\ntype = "sage100"\ncompanies = ["ABC"]\n',
    )
    return write(tmp_path / "ml-connector.toml", f'include = "tenants/*.toml"\n{extra}{text}')


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def test_the_single_company_form_is_one_company_under_the_pipelines_own_name(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path / "c.toml", example_config()))
    [abc] = pipeline_companies(config, "sage100")
    assert (abc.code, abc.key) == ("ABC", "sage100")
    [intacct] = pipeline_companies(config, "intacct")
    assert (intacct.code, intacct.key, intacct.entity) == ("acme-distribution", "intacct", None)


def test_included_tenants_add_companies_with_their_own_settings(tmp_path: Path) -> None:
    path = main_file(tmp_path)
    write(tmp_path / "tenants" / "xyz.toml", TENANT.format(code="XYZ"))
    write(tmp_path / "tenants" / "def.toml", TENANT.format(code="DEF"))
    config = load_config(path)
    assert [p.name for p in config.included] == ["def.toml", "xyz.toml"]
    companies = pipeline_companies(config, "sage100")
    assert [(c.code, c.key) for c in companies] == [
        ("ABC", "sage100"),  # the connection's own company keeps the pipeline's keys
        ("DEF", "sage100@DEF"),
        ("XYZ", "sage100@XYZ"),
    ]
    settings = config.pipelines["sage100"]
    assert isinstance(settings, Sage100Pipeline)
    xyz = sage100_streams(settings, "XYZ")
    assert xyz["ap_invoices"].channel == "C0XYZAP001"
    assert xyz["purchase_orders"].channel == "C0PURCHS01"  # inherited from the pipeline
    assert sage100_streams(settings, "ABC")["ap_invoices"].channel == "C0APINVC01"
    assert (sage100_currency(settings, "XYZ"), sage100_currency(settings, "ABC")) == ("CAD", "USD")


def test_a_company_in_two_files_is_refused_naming_both(tmp_path: Path) -> None:
    path = main_file(tmp_path)
    a = write(tmp_path / "tenants" / "a.toml", TENANT.format(code="XYZ"))
    b = write(tmp_path / "tenants" / "b.toml", TENANT.format(code="XYZ"))
    assert problems(path) == [
        f"{b}: pipelines.sage100.company.XYZ: defined twice, in {a} and {b}; keep one"
    ]


def test_a_pipeline_defined_in_the_main_file_and_a_tenant_file_is_refused(
    tmp_path: Path,
) -> None:
    path = main_file(tmp_path)
    other = write(
        tmp_path / "tenants" / "dup.toml",
        '[pipelines.sage100]\ntype = "sage100"\n',
    )
    assert problems(path) == [
        f"{other}: pipelines.sage100.type: defined twice, in {path} and {other}; keep one"
    ]


def test_bad_includes_name_the_file(tmp_path: Path) -> None:
    path = main_file(tmp_path)
    broken = write(tmp_path / "tenants" / "broken.toml", "[pipelines.sage100.company.XYZ\n")
    [problem] = problems(path)
    assert problem.startswith(f"{broken}: not valid TOML:")
    broken.unlink()
    server = write(tmp_path / "tenants" / "server.toml", "[server]\nport = 1\n")
    assert problems(path) == [
        f"{server}: server: an included file may hold only [connections] and [pipelines]; "
        f"move the rest to {path}"
    ]
    server.unlink()
    bad = write(
        tmp_path / "tenants" / "bad.toml",
        '[pipelines.sage100.company.XYZ.streams.ap_invoices]\nchannel = "general"\n',
    )
    assert problems(path) == [
        f"{bad}: pipelines.sage100.company.XYZ.streams.ap_invoices.channel: expected a Slack "
        "channel id like C0123ABCD, got 'general'"
    ]
    bad.unlink()
    assert problems(path) == [
        f"{path}: include: 'tenants/*.toml' matches no file (relative to {tmp_path}); fix the "
        "pattern or remove it"
    ]


def test_tenant_files_may_add_whole_connections_and_pipelines(tmp_path: Path) -> None:
    path = main_file(tmp_path)
    write(
        tmp_path / "tenants" / "client42.toml",
        """
[connections.client42]
type = "intacct"
sender_id = "acme_sender"
sender_password = "intacct.sender_password"
company_id = "client42"
user_id = "mlc_api"
user_password = "client42.user_password"
entities = ["E100", "E200"]

[pipelines.client42]
type = "intacct"
connection = "client42"
channels = { gl = "C0C42GL001", payments = "C0C42PAY01", alerts = "C0C42ALR01" }
[pipelines.client42.company.E200]
channels = { alerts = "C0C42E2001" }
""",
    )
    config = load_config(path)
    companies = pipeline_companies(config, "client42")
    assert [(c.code, c.key, c.entity) for c in companies] == [
        ("E100", "client42@E100", "E100"),
        ("E200", "client42@E200", "E200"),
    ]
    settings = config.pipelines["client42"]
    assert intacct_channels(settings, "E200").alerts == "C0C42E2001"  # type: ignore[arg-type]
    assert intacct_channels(settings, "E200").gl == "C0C42GL001"  # type: ignore[arg-type]


def test_stored_companies_merge_but_never_override_the_file(tmp_path: Path) -> None:
    path = main_file(tmp_path)
    write(tmp_path / "tenants" / "xyz.toml", TENANT.format(code="XYZ"))
    config = load_config(path)
    merged = with_stored(
        config,
        {
            "sage100": {
                "QRS": {"streams": {"ap_invoices": {"channel": "C0QRSAP001"}}},
                "XYZ": {"currency": "EUR"},
            },
            "gone": {"ABC": {}},
        },
    )
    codes = [c.code for c in pipeline_companies(merged, "sage100")]
    assert codes == ["ABC", "XYZ", "QRS"]
    settings = merged.pipelines["sage100"]
    assert isinstance(settings, Sage100Pipeline)
    assert sage100_currency(settings, "XYZ") == "CAD"
    assert sage100_streams(settings, "QRS")["ap_invoices"].channel == "C0QRSAP001"


def test_a_bad_route_in_a_tenant_file_is_reported_against_that_file(tmp_path: Path) -> None:
    from ml_connector.companies import pipeline_problems

    path = main_file(tmp_path)
    tenant = write(
        tmp_path / "tenants" / "xyz.toml",
        "[pipelines.sage100.company.XYZ.streams.ap_invoices]\n"
        'routes = [{ when = [{ field = "Amount", value = 1 }], channel = "C0XYZBIG01" }]\n',
    )
    config = load_config(path)
    [problem] = pipeline_problems(config, "sage100")
    assert problem.startswith(
        "pipelines.sage100.company.XYZ.streams.ap_invoices.routes[0].when[0].field: 'Amount' "
        "is not a field of AP invoices"
    )
    assert config.file_of(problem) == tenant.resolve()
    assert config.file_of("pipelines.sage100.streams.ap_invoices") == path.resolve()
