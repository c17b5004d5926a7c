"""The search settings: ``meilisearch_url`` / ``FULMAR_MEILISEARCH_URL``, ``meilisearch_key``
/ ``FULMAR_MEILISEARCH_KEY``, ``meilisearch_max_hits``; unset, search follows the data role."""

from __future__ import annotations

import asyncio

import pytest

from jmap.config import ConfigError, check_file, load_config
from jmap.store.factory import open_search_index
from jmap.store.meili import MeiliSearchIndex


def test_unset_search_follows_the_data_role():
    config = load_config(environ={})
    assert (config.meilisearch_url, config.meilisearch_key) == (None, None)
    assert open_search_index(config) is None


def test_environment_and_file(tmp_path):
    path = tmp_path / "fulmar.toml"
    path.write_text('meilisearch_url = "http://127.0.0.1:1"\nmeilisearch_max_hits = 50\n')
    environ = {"FULMAR_MEILISEARCH_URL": "https://127.0.0.1:7700", "FULMAR_MEILISEARCH_KEY": "k"}
    config = load_config(path, environ=environ)
    assert config.meilisearch_url == "https://127.0.0.1:7700"  # the environment wins
    assert config.meilisearch_key == "k"
    assert config.meilisearch_max_hits == 50
    index = open_search_index(config)
    assert isinstance(index, MeiliSearchIndex) and index.max_hits == 50
    asyncio.run(index.close())


@pytest.mark.parametrize("value", ["127.0.0.1:7700", "ftp://127.0.0.1", ""])
def test_a_url_must_be_http(tmp_path, value):
    if value:
        with pytest.raises(ConfigError, match="meilisearch_url must start with http"):
            load_config(environ={"FULMAR_MEILISEARCH_URL": value})
    path = tmp_path / "fulmar.toml"
    path.write_text(f'meilisearch_url = "{value}"\n')
    if value:
        with pytest.raises(ConfigError, match="meilisearch_url must start with http"):
            check_file(path)
    else:
        assert open_search_index(check_file(path)[0]) is None
