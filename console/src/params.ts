// SPEC §3's transformation parameters, as the playground draws and writes
// them. Each control edits one parameter; the query is built from the
// non-empty ones in this order, so the URL reads as the controls do.

export type Control =
  | { kind: "number"; min: number; max: number; step: number }
  | { kind: "choice"; choices: string[] }
  | { kind: "text"; pattern: string; placeholder: string }
  | { kind: "colour" };

export interface NativeParam {
  name: string;
  label: string;
  group: "Size" | "Crop and focus" | "Orientation" | "Effects" | "Padding" | "Output";
  control: Control;
  help: string;
}

const num = (min: number, max: number, step = 1): Control => ({ kind: "number", min, max, step });
const choice = (...choices: string[]): Control => ({ kind: "choice", choices });
const text = (pattern: string, placeholder: string): Control => ({ kind: "text", pattern, placeholder });

export const NATIVE: NativeParam[] = [
  { name: "w", label: "Width", group: "Size", control: num(1, 16384), help: "pixels; alone, keeps the aspect ratio" },
  { name: "h", label: "Height", group: "Size", control: num(1, 16384), help: "pixels; alone, keeps the aspect ratio" },
  { name: "dpr", label: "Device pixel ratio", group: "Size", control: num(1, 4, 0.5), help: "multiplies width and height" },
  { name: "fit", label: "Fit", group: "Size", control: choice("inside", "cover", "contain", "fill", "outside"), help: "as CSS object-fit; contain pads with the background" },
  { name: "g", label: "Gravity", group: "Crop and focus", control: choice("center", "north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest", "entropy", "attention"), help: "where cover crops" },
  { name: "fp", label: "Focal point", group: "Crop and focus", control: text("(0(\\.\\d+)?|1(\\.0+)?),(0(\\.\\d+)?|1(\\.0+)?)", "x,y in 0..1"), help: "for cover; click the original to pick it" },
  { name: "crop", label: "Crop", group: "Crop and focus", control: text("\\d+,\\d+,\\d+,\\d+", "x,y,w,h"), help: "source pixels, before resizing; drag on the original to draw it" },
  { name: "r", label: "Rotate", group: "Orientation", control: choice("0", "90", "180", "270"), help: "degrees clockwise, after EXIF orientation" },
  { name: "f", label: "Flip", group: "Orientation", control: choice("h", "v", "hv"), help: "horizontal, vertical or both" },
  { name: "blur", label: "Blur", group: "Effects", control: num(0.3, 150, 0.1), help: "Gaussian sigma" },
  { name: "sharpen", label: "Sharpen", group: "Effects", control: num(0.5, 10, 0.1), help: "sigma" },
  { name: "filter", label: "Filter", group: "Effects", control: choice("grayscale", "sepia", "bw"), help: "" },
  { name: "pad", label: "Padding", group: "Padding", control: text("\\d+(,\\d+,\\d+,\\d+)?", "n or t,r,b,l"), help: "pixels, filled with the background" },
  { name: "bg", label: "Background", group: "Padding", control: { kind: "colour" }, help: "padding, and flattening alpha" },
  { name: "format", label: "Format", group: "Output", control: choice("auto", "jpeg", "png", "webp", "avif", "jxl", "heic", "gif"), help: "auto: the best the browser accepts" },
  { name: "q", label: "Quality", group: "Output", control: num(1, 100), help: "defaults: JPEG 80, WebP 80, AVIF 50, JXL 75, HEIC 50" },
  { name: "lossless", label: "Lossless", group: "Output", control: choice("true", "false"), help: "" },
  { name: "progressive", label: "Progressive", group: "Output", control: choice("true", "false"), help: "" },
  { name: "strip", label: "Strip metadata", group: "Output", control: choice("all", "none", "exif", "xmp", "iptc", "gps"), help: "all is the default for variants" },
  { name: "cs", label: "Colour space", group: "Output", control: choice("srgb", "p3", "gray", "origin"), help: "" },
  { name: "anim", label: "Animation", group: "Output", control: choice("true", "false"), help: "keep every frame for GIF and WebP" },
];

export const GROUPS = ["Size", "Crop and focus", "Orientation", "Effects", "Padding", "Output"] as const;

/** A plugin parameter as `GET /plugins` describes it. */
export interface PluginParam {
  name: string;
  type: "int" | "float" | "bool" | "colour" | "enum" | "string";
  min?: number | null;
  max?: number | null;
  choices?: string[] | null;
  max_length?: number | null;
  default?: unknown;
  doc?: string | null;
}

export interface PluginDescription {
  name: string;
  api_version: string;
  version: string | null;
  summary: string | null;
  params: PluginParam[];
}

/** The query for the chosen values: native ones, then `fx`, then each plugin's. */
export function query(values: Map<string, string>, fx: string[], pluginValues: Map<string, string>): string {
  const pairs: [string, string][] = [];
  const profile = values.get("profile");
  if (profile) pairs.push(["profile", profile]);
  for (const param of NATIVE) {
    const value = values.get(param.name);
    if (value) pairs.push([param.name, value]);
  }
  if (fx.length) pairs.push(["fx", fx.join(",")]);
  for (const [key, value] of pluginValues) {
    if (value && fx.includes(key.split(".")[0] ?? "")) pairs.push([key, value]);
  }
  return new URLSearchParams(pairs).toString().replaceAll("%2C", ",");
}
