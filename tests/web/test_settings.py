"""The page's address: under PUBLIC_BASE_URL (a reverse proxy), else the ops endpoint itself."""

from __future__ import annotations

import pytest

from bot_entry.config import ConfigError, load_settings


def test_the_page_url_is_under_the_public_base_url() -> None:
    settings = load_settings({"PUBLIC_BASE_URL": "https://boards.example.org/lb/"}, env_file=None)
    assert settings.web_page_url(123) == "https://boards.example.org/lb/g/123"


def test_without_a_public_base_url_the_page_is_on_the_ops_endpoint() -> None:
    assert load_settings({}, env_file=None).web_page_url(5) == "http://127.0.0.1:8787/g/5"
    ipv6 = load_settings({"OPS_HOST": "::1", "OPS_PORT": "9000"}, env_file=None)
    assert ipv6.web_page_url(5) == "http://[::1]:9000/g/5"


@pytest.mark.parametrize("raw", ["boards.example.org", "ftp://x.org", "https://x.org/?a=1", "https:// x"])
def test_a_public_base_url_that_is_not_one_is_refused_naming_the_setting(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"^PUBLIC_BASE_URL: .* is not an http\(s\) URL"):
        load_settings({"PUBLIC_BASE_URL": raw}, env_file=None)
