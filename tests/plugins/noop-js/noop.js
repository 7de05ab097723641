// A no-op transform in JavaScript: the cost of the plugin boundary for a
// componentize-js component (`make bench-plugins`).
export const transformer = {
  describe() {
    return { name: "noop-js", version: "0.1.0", kind: "transform", summary: "Returns its input untouched", params: [] };
  },
  transform(input, _params, _config) {
    return input;
  },
};
