"""The committed gallery (precomputed/) loads in the catalog with its index metadata, and every mesh
is what the file holds and small on the wire."""

import gzip
import json

import numpy as np
import pytest

from server.catalog import Catalog
from workers.gallery import GALLERY_DIR
from workers.gallery_index import Index
from workers.h5io import read_surface

INDEX = Index.model_validate_json((GALLERY_DIR / "index.json").read_text())


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return Catalog(GALLERY_DIR, tmp_path_factory.mktemp("user"))


def test_every_index_entry_is_in_the_catalog_with_its_metadata(catalog):
    summaries = {s.id: s for s in catalog.summaries()}
    assert set(summaries) == {e.id for e in INDEX.entries}
    for e in INDEX.entries:
        s = summaries[e.id]
        assert s.source == "gallery" and s.status == "complete"
        assert s.dataset_label == "CIFAR-10 (JPEG q75 copy)"
        assert s.gallery.pair == e.pair and s.gallery.tier == e.tier and s.gallery.test_acc == e.test_acc
        assert s.landscape_stats["nonconvex_share"] == e.landscape_stats["nonconvex_share"]
        assert e.pair is None or summaries[e.pair].gallery.pair == e.id  # pairs point at each other


@pytest.mark.parametrize("entry", INDEX.entries, ids=lambda e: e.id)
def test_gallery_mesh_is_the_file_and_under_100_kb_gzipped(catalog, entry):
    body = catalog.mesh(catalog.get(entry.id))
    assert len(body.gzip) < 100_000
    mesh = json.loads(gzip.decompress(body.gzip))
    surface = read_surface(GALLERY_DIR / entry.file)
    np.testing.assert_allclose(mesh["x"], surface.xcoordinates)
    np.testing.assert_allclose(
        np.array(mesh["metrics"]["train_loss"], dtype=float), surface.metrics["train_loss"], rtol=1e-6
    )
