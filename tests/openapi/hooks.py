"""Schemathesis hooks for Kiln (SCHEMATHESIS_HOOKS=tests/openapi/hooks.py).

Upload bodies declared as image types get real images from the test fixtures
as often as arbitrary bytes, so that uploads succeed and the stateful phase
has entries to follow its links to; arbitrary bytes test the refusals.
"""

import pathlib

import schemathesis
from hypothesis import strategies as st

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"


def images(*names: str) -> st.SearchStrategy[bytes]:
    real = [(FIXTURES / name).read_bytes() for name in names]
    return st.one_of(st.sampled_from(real), st.binary(max_size=256))


schemathesis.openapi.media_type("image/jpeg", images("path-64.jpg", "exif6-fallenleaf.jpg"))
schemathesis.openapi.media_type("image/png", images("path-64.png", "alpha-cups-64.png"))
schemathesis.openapi.media_type("image/webp", images("path-64.webp"))
schemathesis.openapi.media_type("image/gif", images("boats-8frames.gif"))
schemathesis.openapi.media_type("image/avif", images("path-64.avif"))
