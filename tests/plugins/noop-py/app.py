"""A no-op transform in Python: the cost of the plugin boundary for a
componentize-py component (`make bench-plugins`)."""

from wit_world import exports
from wit_world.imports import types


class Transformer(exports.Transformer):
    def describe(self) -> types.Description:
        return types.Description(
            name="noop-py", version="0.1.0", kind=types.Kind.TRANSFORM,
            summary="Returns its input untouched", params=[],
        )

    def transform(self, input, params, config) -> types.Image:
        return input
