"""The service's outside: health, OpenAPI, error shape, settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry import create_app
from registry.settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_answers_without_a_key(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_openapi_document_is_served_and_documents_bearer_auth(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    assert spec["paths"]["/v1/accounts"]["post"]["security"] == [{"bearerAuth": []}]


def test_interactive_docs_page(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()


def test_committed_openapi_matches_the_code(client):
    """Regenerate with `registry schemas` (writes schemas/openapi.json and the file schemas)."""
    committed = json.loads((ROOT / "schemas" / "openapi.json").read_text())
    assert client.get("/openapi.json").json == committed


@pytest.mark.parametrize("path", ["/nope", "/v1/nope"])
def test_unknown_route_is_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json["code"] == 404
    assert response.json["status"] == "Not Found"
    assert response.json["message"]


def test_wrong_method_is_json_405(client, auth):
    response = client.delete("/v1/accounts", headers=auth())
    assert response.status_code == 405
    assert response.json["code"] == 405


def test_oversized_body_is_json_413(app_factory, auth):
    app = app_factory(max_body_bytes=1000)
    client = app.test_client()
    headers = {"Content-Type": "application/json", **auth(app=app)}
    response = client.post("/v1/accounts", data="x" * 5000, headers=headers)
    assert response.status_code == 413
    assert response.json["code"] == 413


def test_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    assert client.get("/healthz").headers["X-Request-Id"]


def test_production_without_pii_key_fails_fast(tmp_path):
    with pytest.raises(ConfigError, match="REGISTRY_PII_KEY"):
        Settings.from_env({"REGISTRY_ENV": "production"}, instance_path=tmp_path)


def test_development_key_is_generated_once_and_kept(tmp_path):
    first = Settings.from_env({}, instance_path=tmp_path)
    second = Settings.from_env({}, instance_path=tmp_path)
    assert first.pii_key == second.pii_key
    assert len(first.pii_key) >= 32
    assert (tmp_path / "pii.key").stat().st_mode & 0o077 == 0


def test_default_database_is_an_embedded_sqlite_file(tmp_path):
    settings = Settings.from_env({}, instance_path=tmp_path)
    assert settings.database_url.startswith("sqlite:///")
    assert str(tmp_path) in settings.database_url


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"REGISTRY_SWEEP_BATCH_SIZE": "many"}, "REGISTRY_SWEEP_BATCH_SIZE"),
        ({"REGISTRY_ENV": "staging"}, "REGISTRY_ENV"),
        ({"REGISTRY_TIERS": "gold,silver", "REGISTRY_DEFAULT_TIER": "bronze"}, "REGISTRY_DEFAULT_TIER"),
        ({"REGISTRY_PII_KEY": "short"}, "REGISTRY_PII_KEY"),
        ({"REGISTRY_RULES_FILE": "/no/such/file.json"}, "REGISTRY_RULES_FILE"),
    ],
)
def test_bad_settings_name_the_variable(tmp_path, env, needle):
    with pytest.raises(ConfigError, match=needle):
        Settings.from_env(env, instance_path=tmp_path)


def test_tiers_come_from_configuration(tmp_path):
    settings = Settings.from_env(
        {"REGISTRY_TIERS": "gold, silver ,bronze", "REGISTRY_DEFAULT_TIER": "silver"}, instance_path=tmp_path
    )
    assert settings.tiers == ("gold", "silver", "bronze")


def test_create_app_rejects_bad_configuration(tmp_path):
    with pytest.raises(ConfigError):
        create_app({"database_url": f"sqlite:///{tmp_path}/x.db", "env": "production", "pii_key": ""})


def test_the_command_line_reports_bad_configuration_in_one_line(tmp_path):
    from click.testing import CliRunner

    from registry.cli import main

    env = {"REGISTRY_PII_KEY": "short", "REGISTRY_INSTANCE_PATH": str(tmp_path)}
    result = CliRunner().invoke(main, ["keys", "list"], env=env)
    assert result.exit_code == 2
    assert "REGISTRY_PII_KEY must be at least 16 characters" in result.output
    assert "Traceback" not in result.output
