// The transformation playground: a control for every SPEC §3 parameter,
// profiles as presets and the path's plugins drawn from their descriptions;
// a debounced live preview with its size, bytes, format and where the time
// went (Server-Timing); before/after; the URL, signed through the server
// when the path needs it, and responsive-image snippets.
import { assetUrl, entry as loadEntry, image, json, shown, type Entry, type Fetched, type Timing } from "./api";
import { bytes, copy, debounce, h, replace, toast } from "./dom";
import type { Session } from "./main";
import { GROUPS, NATIVE, query, type NativeParam, type PluginDescription, type PluginParam } from "./params";

interface Explained {
  rules: { patterns: string[]; settings: Record<string, unknown> };
}

type Signing = "none" | "transforms" | "all";

/** Widths offered in `srcset`, up to the original's. */
const SRCSET_WIDTHS = [320, 640, 960, 1280, 1920];

interface State {
  values: Map<string, string>;
  fx: string[];
  pluginValues: Map<string, string>;
}

function nativeControl(param: NativeParam, state: State, changed: () => void): Node {
  const id = `param-${param.name}`;
  const set = (value: string) => {
    if (value === "") state.values.delete(param.name);
    else state.values.set(param.name, value);
    changed();
  };
  let input: HTMLInputElement | HTMLSelectElement;
  const control = param.control;
  if (control.kind === "number") {
    input = h("input", { id, type: "number", min: control.min, max: control.max, step: control.step, inputmode: "decimal" });
  } else if (control.kind === "choice") {
    input = h("select", { id }, h("option", { value: "" }, "default"), control.choices.map((c) => h("option", { value: c }, c)));
  } else if (control.kind === "colour") {
    input = h("input", { id, pattern: "[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?", placeholder: "RRGGBB or RRGGBBAA", spellcheck: "false" });
  } else {
    input = h("input", { id, pattern: control.pattern, placeholder: control.placeholder, spellcheck: "false" });
  }
  input.dataset.param = param.name;
  // Values the browser finds out of range still go to Kiln, whose answer
  // names the parameter and says what it takes.
  input.addEventListener("input", () => set(input.value.trim()));
  const extra =
    control.kind === "colour"
      ? h("input", {
          type: "color",
          "aria-label": `${param.label} picker`,
          oninput: (event: Event) => {
            input.value = (event.target as HTMLInputElement).value.slice(1);
            set(input.value);
          },
        })
      : null;
  return h("div", { class: "control" }, h("label", { for: id, title: param.help }, param.label), h("span", { class: "row tight" }, input, extra), param.help ? h("small", { class: "muted" }, param.help) : null);
}

function pluginControl(plugin: PluginDescription, param: PluginParam, state: State, changed: () => void): Node {
  const key = `${plugin.name}.${param.name}`;
  const id = `plugin-${plugin.name}-${param.name}`;
  const label = `${plugin.name}: ${param.name}`;
  let input: HTMLInputElement | HTMLSelectElement;
  const fallback = param.default === undefined || param.default === null ? "" : String(param.default);
  switch (param.type) {
    case "int":
    case "float":
      input = h("input", { id, type: "number", min: param.min ?? null, max: param.max ?? null, step: param.type === "int" ? 1 : "any", placeholder: fallback });
      break;
    case "bool":
      input = h("select", { id }, h("option", { value: "" }, `default (${fallback || "false"})`), h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
      break;
    case "enum":
      input = h("select", { id }, h("option", { value: "" }, `default (${fallback})`), (param.choices ?? []).map((c) => h("option", { value: c }, c)));
      break;
    case "colour":
      input = h("input", { id, pattern: "#?[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?", placeholder: fallback || "RRGGBB" });
      break;
    default:
      input = h("input", { id, maxlength: param.max_length ?? null, placeholder: fallback });
  }
  input.addEventListener("input", () => {
    const value = input.value.trim().replace(/^#/, "");
    if (value) state.pluginValues.set(key, value);
    else state.pluginValues.delete(key);
    changed();
  });
  return h("div", { class: "control" }, h("label", { for: id }, label), input, param.doc ? h("small", { class: "muted" }, param.doc) : null);
}

function pluginFieldset(plugins: PluginDescription[], allowed: string[] | null, state: State, changed: () => void): Node {
  const usable = plugins.filter((p) => allowed === null || allowed.includes(p.name));
  const fieldset = h("fieldset", { id: "plugins" }, h("legend", {}, "Plugins"));
  if (!usable.length) {
    fieldset.append(h("p", { class: "muted" }, allowed === null ? "No transform plugins are configured." : "This path's allowed-fx names no plugin."));
    return fieldset;
  }
  for (const plugin of usable) {
    const toggle = h("input", { type: "checkbox", id: `fx-${plugin.name}` });
    toggle.addEventListener("change", () => {
      state.fx = state.fx.filter((name) => name !== plugin.name);
      if (toggle.checked) state.fx.push(plugin.name);
      changed();
    });
    fieldset.append(
      h(
        "div",
        { class: "plugin" },
        h("label", { class: "check" }, toggle, ` Apply ${plugin.name}`, plugin.version ? h("small", { class: "muted" }, ` ${plugin.version}`) : null),
        plugin.summary ? h("p", { class: "muted" }, plugin.summary) : null,
        plugin.params.map((param) => pluginControl(plugin, param, state, changed)),
      ),
    );
  }
  return fieldset;
}

function timingBars(timings: Timing[], cache: string | null, elapsedMs: number): Node {
  if (!timings.length) {
    return h("p", { class: "muted", id: "timings" }, cache === "hit" ? `Served from the cache in ${elapsedMs.toFixed(0)} ms; purge the entry's variants to see the stages again.` : "No stage timings for this answer.");
  }
  const longest = Math.max(...timings.map((t) => t.ms), 0.001);
  return h(
    "ol",
    { class: "timings", id: "timings", "aria-label": "Where the time went" },
    timings.map((t) => {
      // Through the CSSOM: the console's policy refuses style attributes.
      const bar = h("span", { class: "bar" });
      bar.style.inlineSize = `${Math.max(1, (t.ms / longest) * 100)}%`;
      return h("li", {}, h("span", { class: "stage" }, t.name), h("span", { class: "track" }, bar), h("span", { class: "ms" }, `${t.ms.toFixed(1)} ms`));
    }),
  );
}

export async function playgroundView(session: Session, path: string, search: URLSearchParams): Promise<Node> {
  const n = Number(search.get("n"));
  const found: Entry = Number.isInteger(n) && n > 0 ? await loadEntry(path, n) : await json<Entry>("GET", assetUrl(path, "metadata"));
  const entryPath = found.path.slice(1);
  const contentUrl = (q: string) => assetUrl(entryPath, `entry/${found.entry}/content`, q);

  const [profiles, plugins, explained] = await Promise.all([
    json<Record<string, Record<string, unknown>>>("GET", "/profiles"),
    json<{ plugins: PluginDescription[] }>("GET", "/plugins").then((p) => p.plugins),
    session.can("admin") ? json<Explained>("GET", `/api/explain?url=${encodeURIComponent(assetUrl(entryPath))}`) : Promise.resolve(null),
  ]);
  const settings = explained?.rules.settings ?? null;
  const signing = (settings?.signing as Signing | undefined) ?? null;
  const allowedFx = settings ? ((settings["allowed-fx"] as string[] | undefined) ?? []) : null;

  const state: State = { values: new Map(), fx: [], pluginValues: new Map() };
  for (const [key, value] of search) {
    if (key === "n") continue;
    if (key === "fx") state.fx = value.split(",").filter(Boolean);
    else if (key.includes(".")) state.pluginValues.set(key, value);
    else state.values.set(key, value);
  }

  // The preview and what is known of it.
  const result = h("img", { id: "result", class: "result", alt: "The variant these settings make" });
  const before = h("img", { class: "before", alt: "The original" });
  const after = h("img", { class: "after", alt: "" });
  const original = h("img", { id: "original", class: "original", alt: `${found.path}, entry ${found.entry}`, draggable: "false" });
  const marker = h("div", { class: "marker", hidden: true });
  const cropBox = h("div", { class: "crop-box", hidden: true });
  const stats = h("p", { id: "result-stats", class: "stats", "aria-live": "polite" }, "Making the preview…");
  const problem = h("p", { id: "preview-error", class: "error", role: "alert" });
  const timings = h("div", {});
  const urlBox = h("input", { id: "variant-url", readonly: true, "aria-label": "URL of this variant", spellcheck: "false" });
  const ttl = h(
    "select",
    { id: "ttl", "aria-label": "Signed URL lifetime", hidden: !signing || signing === "none" },
    h("option", { value: "" }, "never expires"),
    h("option", { value: "3600" }, "expires in 1 hour"),
    h("option", { value: "86400" }, "expires in 1 day"),
    h("option", { value: "604800" }, "expires in 7 days"),
  );
  const copyUrl = h("button", { type: "button", id: "copy-url" }, "Copy URL");
  const srcset = h("textarea", { id: "srcset", readonly: true, rows: 4, "aria-label": "img with srcset" });
  const picture = h("textarea", { id: "picture", readonly: true, rows: 7, "aria-label": "picture element" });
  const signNote = h("p", { class: "muted" });

  let latest: Fetched | null = null;
  let sequence = 0;

  const needsSignature = (q: string) => signing === "all" || (signing === "transforms" && q !== "");
  const shareable = async (q: string): Promise<string> => {
    const url = `${location.origin}${contentUrl(q)}`;
    if (!needsSignature(q)) return url;
    if (!session.can("admin")) return url;
    const body: { url: string; ttl?: number } = { url };
    if (ttl.value) body.ttl = Number(ttl.value);
    return (await json<{ url: string }>("POST", "/api/sign", body)).url;
  };

  const snippets = async (q: string) => {
    const params = new URLSearchParams(q);
    const w = Number(params.get("w")) || 0;
    const hgt = Number(params.get("h")) || 0;
    const widths = SRCSET_WIDTHS.filter((x) => x <= found.original.width);
    if (!widths.length) widths.push(found.original.width);
    const at = async (width: number, format?: string) => {
      const p = new URLSearchParams(params);
      p.set("w", String(width));
      if (hgt && w) p.set("h", String(Math.round((hgt * width) / w)));
      else if (hgt) p.delete("h");
      if (format) p.set("format", format);
      return `${await shareable(p.toString().replaceAll("%2C", ","))} ${width}w`;
    };
    const list = async (format?: string) => (await Promise.all(widths.map((x) => at(x, format)))).join(",\n    ");
    const alt = (found.alt ?? "").replaceAll('"', "&quot;");
    const largest = widths[widths.length - 1]!;
    const height = Math.round((found.original.height * largest) / found.original.width);
    const fallback = (await at(largest, params.get("format") === "auto" || !params.get("format") ? "jpeg" : undefined)).replace(/ \d+w$/, "");
    srcset.value = `<img src="${fallback}"\n  srcset="${await list(params.get("format") === "auto" ? "jpeg" : undefined)}"\n  sizes="100vw" width="${largest}" height="${height}" alt="${alt}">`;
    picture.value = `<picture>\n  <source type="image/avif" srcset="${await list("avif")}">\n  <source type="image/webp" srcset="${await list("webp")}">\n  <img src="${fallback}" sizes="100vw" width="${largest}" height="${height}" alt="${alt}">\n</picture>`;
  };

  const refresh = debounce(async () => {
    const mine = ++sequence;
    const q = query(state.values, state.fx, state.pluginValues);
    history.replaceState(null, "", `#/play/${entryPath}?${new URLSearchParams([["n", String(found.entry)], ...new URLSearchParams(q)])}`.replaceAll("%2C", ","));
    problem.textContent = "";
    stats.textContent = "Making the preview…";
    stats.dataset.state = "busy";
    try {
      const fetched = await image(contentUrl(q), true);
      if (mine !== sequence) return;
      if (latest) URL.revokeObjectURL(latest.url);
      latest = fetched;
      result.src = fetched.url;
      after.src = fetched.url;
      await result.decode().catch(() => undefined);
      const made = fetched.serverTiming.reduce((sum, t) => sum + t.ms, 0);
      stats.dataset.width = String(result.naturalWidth);
      stats.dataset.height = String(result.naturalHeight);
      stats.dataset.state = "done";
      stats.textContent =
        `${result.naturalWidth} × ${result.naturalHeight} · ${bytes(fetched.blob.size)} · ${fetched.contentType}` +
        (fetched.cache === "miss" ? ` · made in ${made.toFixed(1)} ms` : fetched.cache === "hit" ? " · from the cache" : "") +
        ` · ${fetched.elapsedMs.toFixed(0)} ms in all`;
      replace(timings, timingBars(fetched.serverTiming, fetched.cache, fetched.elapsedMs));
      urlBox.value = await shareable(q);
      signNote.textContent = needsSignature(q)
        ? session.can("admin")
          ? "Signed by the server: this path needs a signature."
          : "This path needs a signature; a key with the admin scope signs it here."
        : "";
      await snippets(q);
    } catch (error) {
      if (mine !== sequence) return;
      stats.dataset.state = "error";
      stats.textContent = "No preview.";
      problem.textContent = shown(error);
    }
  }, 300);

  // Controls, grouped as SPEC §3 reads.
  const controls = h("form", { class: "controls", id: "controls", "aria-label": "Transformation" });
  controls.addEventListener("submit", (event) => event.preventDefault());
  const profileSelect = h("select", { id: "param-profile" }, h("option", { value: "" }, "none"), Object.keys(profiles).map((name) => h("option", { value: name }, name)));
  profileSelect.addEventListener("change", () => {
    if (profileSelect.value) state.values.set("profile", profileSelect.value);
    else state.values.delete("profile");
    refresh();
  });
  controls.append(h("div", { class: "control" }, h("label", { for: "param-profile" }, "Profile"), profileSelect, h("small", { class: "muted" }, "a preset; the values below override it")));
  for (const group of GROUPS) {
    controls.append(h("fieldset", {}, h("legend", {}, group), NATIVE.filter((p) => p.group === group).map((p) => nativeControl(p, state, refresh))));
  }
  controls.append(pluginFieldset(plugins, allowedFx, state, refresh));
  const transforms = (settings?.transforms as string[] | undefined) ?? [];
  if (transforms.length) controls.append(h("p", { class: "muted" }, `Every variant here also runs: ${transforms.join(", ")}.`));
  const reset = h("button", { type: "reset", class: "secondary" }, "Reset");
  reset.addEventListener("click", () => {
    state.values.clear();
    state.fx = [];
    state.pluginValues.clear();
    queueMicrotask(refresh);
  });
  controls.append(reset);
  // Values from the URL into their controls.
  for (const [name, value] of state.values) {
    const input = controls.querySelector<HTMLInputElement | HTMLSelectElement>(`#param-${CSS.escape(name)}`);
    if (input) input.value = value;
  }
  for (const name of state.fx) {
    const toggle = controls.querySelector<HTMLInputElement>(`#fx-${CSS.escape(name)}`);
    if (toggle) toggle.checked = true;
  }
  for (const [key, value] of state.pluginValues) {
    const [plugin = "", param = ""] = key.split(".", 2);
    const input = controls.querySelector<HTMLInputElement | HTMLSelectElement>(`#plugin-${CSS.escape(plugin)}-${CSS.escape(param)}`);
    if (input) input.value = value;
  }
  ttl.addEventListener("change", refresh);

  // The original, for picking a focal point or drawing a crop.
  image(contentUrl("w=1200&format=webp"))
    .then((fetched) => {
      original.src = fetched.url;
      before.src = fetched.url;
    })
    .catch(() => original.classList.add("unavailable"));
  const mode = h("select", { id: "pick-mode", "aria-label": "What a click or drag on the original does" }, h("option", { value: "fp" }, "Click: focal point"), h("option", { value: "crop" }, "Drag: crop"));
  const setParam = (name: string, value: string) => {
    state.values.set(name, value);
    const input = controls.querySelector<HTMLInputElement>(`#param-${name}`);
    if (input) input.value = value;
    refresh();
  };
  const frame = h("div", { class: "pick" }, original, marker, cropBox);
  let dragFrom: { x: number; y: number } | null = null;
  const local = (event: PointerEvent) => {
    const box = original.getBoundingClientRect();
    return { x: Math.min(Math.max(event.clientX - box.left, 0), box.width), y: Math.min(Math.max(event.clientY - box.top, 0), box.height), box };
  };
  frame.addEventListener("pointerdown", (event) => {
    const at = local(event);
    if (mode.value === "fp") {
      const fx = (at.x / at.box.width).toFixed(2);
      const fy = (at.y / at.box.height).toFixed(2);
      marker.hidden = false;
      marker.style.left = `${at.x}px`;
      marker.style.top = `${at.y}px`;
      if (!state.values.get("fit")) setParam("fit", "cover");
      setParam("fp", `${fx},${fy}`);
      return;
    }
    dragFrom = { x: at.x, y: at.y };
    frame.setPointerCapture(event.pointerId);
    cropBox.hidden = false;
    Object.assign(cropBox.style, { left: `${at.x}px`, top: `${at.y}px`, width: "0px", height: "0px" });
  });
  frame.addEventListener("pointermove", (event) => {
    if (!dragFrom) return;
    const at = local(event);
    Object.assign(cropBox.style, {
      left: `${Math.min(at.x, dragFrom.x)}px`,
      top: `${Math.min(at.y, dragFrom.y)}px`,
      width: `${Math.abs(at.x - dragFrom.x)}px`,
      height: `${Math.abs(at.y - dragFrom.y)}px`,
    });
  });
  frame.addEventListener("pointerup", (event) => {
    if (!dragFrom) return;
    const at = local(event);
    const scale = found.original.width / at.box.width;
    const x = Math.round(Math.min(at.x, dragFrom.x) * scale);
    const y = Math.round(Math.min(at.y, dragFrom.y) * scale);
    const w = Math.round(Math.abs(at.x - dragFrom.x) * scale);
    const hh = Math.round(Math.abs(at.y - dragFrom.y) * scale);
    dragFrom = null;
    if (w > 0 && hh > 0) setParam("crop", `${x},${y},${w},${hh}`);
  });

  // Before and after: the original under the result, a slider between them.
  const slider = h("input", { type: "range", min: 0, max: 100, value: 50, id: "compare", "aria-label": "Before and after: how much of the original shows" });
  const compare = h("div", { class: "compare" }, before, after);
  const setSplit = () => compare.style.setProperty("--split", `${slider.value}%`);
  slider.addEventListener("input", setSplit);
  setSplit();

  copyUrl.addEventListener("click", async () => {
    await copy(urlBox.value);
    toast("URL copied.");
  });
  const copySnippet = (area: HTMLTextAreaElement, what: string) =>
    h("button", { type: "button", class: "secondary", onclick: async () => { await copy(area.value); toast(`${what} copied.`); } }, `Copy ${what}`);

  refresh();
  return h(
    "section",
    { class: "playground" },
    h("h1", {}, "Playground ", h("span", { class: "muted" }, `${found.path}, entry ${found.entry}`)),
    h("p", {}, h("a", { href: `#/entry/${entryPath}?n=${found.entry}` }, "Back to the entry")),
    h(
      "div",
      { class: "play" },
      controls,
      h(
        "div",
        { class: "stage" },
        h("figure", { class: "result-frame" }, result, h("figcaption", {}, stats, problem)),
        h("h2", {}, "Where the time went"),
        timings,
        h("h2", {}, "URL"),
        h("div", { class: "row" }, urlBox, ttl, copyUrl),
        signNote,
        h("h2", {}, "Before and after"),
        compare,
        slider,
        h("h2", {}, "Focal point and crop"),
        h("p", { class: "row" }, mode, h("small", { class: "muted" }, `Picks in the original's ${found.original.width}×${found.original.height} pixels.`)),
        frame,
        h("h2", {}, "Responsive images"),
        srcset,
        copySnippet(srcset, "img"),
        picture,
        copySnippet(picture, "picture"),
      ),
    ),
  );
}

