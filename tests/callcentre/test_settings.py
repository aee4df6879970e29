"""Settings from the environment: embedded defaults, _FILE secrets, and the production checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from callcentre.env import env_bool, env_list, env_str

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "HOTLINE_PII_KEY": "production-pii-key",
    "DJANGO_ALLOWED_HOSTS": "hotline.example.org",
}


def test_secret_can_come_from_a_file(tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("HOTLINE_TEST_SECRET", raising=False)
    monkeypatch.setenv("HOTLINE_TEST_SECRET_FILE", str(secret))
    assert env_str("HOTLINE_TEST_SECRET") == "from-a-file"


def test_bad_boolean_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HOTLINE_TEST_FLAG", "maybe")
    with pytest.raises(ValueError, match="HOTLINE_TEST_FLAG must be a boolean"):
        env_bool("HOTLINE_TEST_FLAG", False)


def test_list_is_comma_separated(monkeypatch):
    monkeypatch.setenv("HOTLINE_TEST_LIST", "a.example, b.example,")
    assert env_list("HOTLINE_TEST_LIST", []) == ["a.example", "b.example"]


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_on_sqlite_and_memory_layer_fails_the_deploy_check():
    result = manage("check", "--deploy", **PRODUCTION)
    assert result.returncode != 0
    assert "hotline.E001" in result.stderr and "hotline.E002" in result.stderr


def test_production_with_postgres_and_redis_passes_check_deploy_with_no_warnings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/0",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_on_sqlite_refuses_every_command_not_just_check_deploy():
    result = manage("migrate", "--check", **PRODUCTION)
    assert result.returncode != 0
    assert "hotline.E001" in result.stderr
