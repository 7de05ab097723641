"""naming-policy: a Kiln validator written in Python, built with componentize-py.

It enforces a naming and metadata policy on uploads:

- every segment of the asset path is lower-case words joined by `-`
  (`/users/7/profile-photo`, not `/Users/7/IMG_0042`);
- with `require-alt = true` in its config, the upload carries alt text;
- with `required-labels = "owner,licence"`, it carries those labels.

A misconfigured policy fails the upload (`422 plugin_failed`) rather than
letting it through. Build: `make plugins` (see the plugin guide,
sdk/README.md, "Python").
"""

import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

SEGMENT = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def flag(config, key):
    value = config.get(key, "false")
    if value not in ("true", "false"):
        raise Err(types.Error_Failed(f"config `{key}` must be true or false, not {value!r}"))
    return value == "true"


class Validation(exports.Validation):
    def describe(self) -> types.Description:
        return types.Description(
            name="naming-policy",
            version="0.1.0",
            kind=types.Kind.VALIDATOR,
            summary="Refuses uploads whose path or metadata break the naming policy",
            params=[],
        )

    def validate(self, upload, info, preview, config) -> types.Verdict:
        settings = dict(config)
        require_alt = flag(settings, "require-alt")
        required_labels = [label.strip() for label in settings.get("required-labels", "").split(",") if label.strip()]
        for segment in info.path.strip("/").split("/"):
            if not SEGMENT.match(segment):
                return types.Verdict_Reject(
                    f"the path segment {segment!r} breaks the naming policy: "
                    "use lower-case letters and digits, words joined by -"
                )
        if require_alt and not (info.alt or "").strip():
            return types.Verdict_Reject("alt text is required at this path")
        given = {key for key, _ in info.labels}
        missing = [label for label in required_labels if label not in given]
        if missing:
            return types.Verdict_Reject(f"the labels {', '.join(missing)} are required at this path")
        return types.Verdict_Accept()
