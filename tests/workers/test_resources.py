"""Finding the viewer and the gallery in a checkout, an installed wheel's share/ directory, or where an
environment variable points (#16)."""

from __future__ import annotations

import sys

import pytest

from workers import resources
from workers.gallery import load_manifest


def test_checkout_then_installed_share_then_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("LOSSATLAS_GALLERY_DIR", raising=False)
    assert resources.resource_dir("frontend") == resources.REPO / "frontend"  # this checkout
    monkeypatch.setattr(resources, "REPO", tmp_path / "site-packages")  # as installed: nothing beside the code
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    share = tmp_path / "venv" / "share" / "lossatlas"
    assert (
        resources.resource_dir("precomputed") == tmp_path / "site-packages" / "precomputed"
    )  # not found: where expected
    (share / "precomputed").mkdir(parents=True)
    (share / "precomputed" / "index.json").write_text("{}")
    assert resources.resource_dir("precomputed") == share / "precomputed"
    monkeypatch.setenv("LOSSATLAS_GALLERY_DIR", str(tmp_path / "mine"))
    assert resources.resource_dir("precomputed") == share / "precomputed"  # the variable names no gallery
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "index.json").write_text("{}")
    assert resources.resource_dir("precomputed") == tmp_path / "mine"


def test_a_missing_gallery_says_where_to_get_it(tmp_path):
    with pytest.raises(ValueError) as e:
        load_manifest(tmp_path)
    assert str(e.value) == f"no gallery manifest at {tmp_path / 'manifest.json'}: {resources.GALLERY_SOURCE}"
