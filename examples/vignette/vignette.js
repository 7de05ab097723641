// vignette: a Kiln transform written in JavaScript, built with
// componentize-js (jco). It darkens the image toward its edges, blending
// each pixel toward `vignette.colour` by its distance from the centre.
//
// Parameters (declared in `describe`, so Kiln checks them before a call):
// `strength` 0..1 (default 0.5), `colour` (default 000000), `shape`
// `ellipse` (default) or `circle`. An image smaller than 8 pixels a side
// is refused (422 plugin_failed): there is no edge to darken.

const PARAMS = [
  {
    name: "strength",
    accepts: { tag: "float", val: { min: 0, max: 1 } },
    default: "0.5",
    doc: "How dark the corners get: 0 leaves the image, 1 reaches the colour",
  },
  {
    name: "colour",
    accepts: { tag: "colour" },
    default: "000000",
    doc: "The colour the edges fade to",
  },
  {
    name: "shape",
    accepts: { tag: "choice", val: ["ellipse", "circle"] },
    default: "ellipse",
    doc: "ellipse follows the image's sides, circle keeps the fade round",
  },
];

// What a failed call throws: componentize-js turns the `payload` of a
// thrown error into the `err` of the result.
class PluginFailure extends Error {
  constructor(payload) {
    super(payload.tag);
    this.payload = payload;
  }
}

function failed(message) {
  return new PluginFailure({ tag: "failed", val: message });
}

function hex(text) {
  return [0, 2, 4].map((i) => parseInt(text.slice(i, i + 2), 16));
}

export const transformer = {
  describe() {
    return {
      name: "vignette",
      version: "0.1.0",
      kind: "transform",
      summary: "Darkens the image toward its edges",
      params: PARAMS,
    };
  },

  transform(input, params, _config) {
    const given = Object.fromEntries(params);
    const strength = Number(given.strength);
    const [r, g, b] = hex(given.colour);
    const { width, height } = input;
    if (width < 8 || height < 8) {
      throw failed(`the image is ${width}x${height}; a vignette needs at least 8x8`);
    }
    const pixels = input.pixels;
    const cx = (width - 1) / 2;
    const cy = (height - 1) / 2;
    const radius = Math.max(cx, cy);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const dx = given.shape === "circle" ? (x - cx) / radius : (x - cx) / cx;
        const dy = given.shape === "circle" ? (y - cy) / radius : (y - cy) / cy;
        const d = Math.min(1, Math.sqrt(dx * dx + dy * dy) / Math.SQRT2);
        const t = strength * d * d;
        const i = (y * width + x) * 4;
        pixels[i] = Math.round(pixels[i] + (r - pixels[i]) * t);
        pixels[i + 1] = Math.round(pixels[i + 1] + (g - pixels[i + 1]) * t);
        pixels[i + 2] = Math.round(pixels[i + 2] + (b - pixels[i + 2]) * t);
      }
    }
    return { width, height, layout: "rgba8", pixels };
  },
};
