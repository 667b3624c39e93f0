"""Fixtures for the contract tests: callers' view of /work/shared/API.md, through HTTP and the CLI only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def admin(auth: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of an admin key named ``contract-admin``."""
    return auth("admin", name="contract-admin")


@pytest.fixture
def api(client: Any, admin: dict[str, str]) -> Callable[..., Any]:
    """Call the API with the admin key: api("POST", "/v1/bans", json=...)."""

    def call(method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return client.open(url, method=method, headers=headers or admin, **kwargs)

    return call


@pytest.fixture
def make_account(api: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """Create an account over HTTP and return its body."""

    def make(account_id: str, **body: Any) -> dict[str, Any]:
        body.setdefault("username", f"user_{account_id}")
        response = api("POST", "/v1/accounts", json={"id": account_id, **body})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def make_ban(api: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """Create a ban over HTTP and return its body."""

    def make(**body: Any) -> dict[str, Any]:
        body.setdefault("reason", "spam ring")
        body.setdefault("rule", "R3.2")
        response = api("POST", "/v1/bans", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def check(api: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """Run POST /v1/check and return the body (asserting 200 and the response shape)."""

    def run(**body: Any) -> dict[str, Any]:
        body.setdefault("username", "someone_new")
        response = api("POST", "/v1/check", json=body)
        assert response.status_code == 200, response.get_json()
        result = response.get_json()
        assert result["decision"] in ("allow", "review", "deny")
        assert isinstance(result["check_id"], str) and result["check_id"]
        assert isinstance(result["reasons"], list)
        for reason in result["reasons"]:
            assert isinstance(reason["code"], str)
        return result

    return run
