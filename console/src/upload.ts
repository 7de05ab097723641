// Upload: files dropped or picked, each POSTed with XMLHttpRequest so its
// own progress bar follows the bytes sent; refusals in Kiln's words.
import { upload, type Metadata } from "./api";
import { h } from "./dom";
import type { Session } from "./main";

/** Kiln's path characters (SPEC §2); anything else in a file name becomes `-`. */
function segment(fileName: string): string {
  const stem = fileName.replace(/\.[^.]*$/, "") || fileName;
  const cleaned = stem.replace(/[^A-Za-z0-9._~-]+/g, "-").replace(/^[-.]+|-+$/g, "");
  return cleaned && cleaned !== "-" ? cleaned : "file";
}

/** `k=v, k2=v2` as labels. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(",")) {
    const [key, ...value] = pair.split("=");
    if (key?.trim()) labels[key.trim()] = value.join("=").trim();
  }
  return labels;
}

export function parseTags(text: string): string[] {
  return text.split(",").map((t) => t.trim()).filter(Boolean);
}

export async function uploadView(session: Session, _rest: string, query: URLSearchParams): Promise<Node> {
  const start = query.get("path") ?? (session.key.prefix === "/" ? "" : session.key.prefix);
  const path = h("input", { id: "upload-path", name: "path", required: true, value: start, placeholder: "/users/123/avatar" });
  const perFile = h("input", { id: "per-file", type: "checkbox" });
  const alt = h("input", { id: "upload-alt", name: "alt" });
  const labels = h("input", { id: "upload-labels", name: "labels", placeholder: "team=web, shot=hero" });
  const tags = h("input", { id: "upload-tags", name: "tags", placeholder: "summer, beach" });
  const picker = h("input", { id: "upload-files", type: "file", multiple: true, accept: "image/*" });
  const list = h("ul", { class: "uploads", id: "uploads", "aria-live": "polite" });

  const send = async (files: File[]) => {
    const base = path.value.trim().replace(/^\/+|\/+$/g, "");
    if (!base) {
      path.focus();
      path.reportValidity();
      return;
    }
    const metadata: Metadata = { alt: alt.value.trim() || null, labels: parseLabels(labels.value), tags: parseTags(tags.value) };
    await Promise.all(
      files.map(async (file) => {
        const target = perFile.checked ? `${base}/${segment(file.name)}` : base;
        const bar = h("progress", { max: 1, value: 0, "aria-label": `Upload of ${file.name}` });
        const percent = h("span", { class: "percent" }, "0%");
        const outcome = h("span", { class: "outcome" });
        list.append(h("li", { class: "upload" }, h("span", { class: "file" }, `${file.name} → /${target}`), bar, percent, outcome));
        const result = await upload(target, file, metadata, (fraction) => {
          bar.value = fraction;
          percent.textContent = `${Math.round(fraction * 100)}%`;
        });
        if (result.ok) {
          outcome.replaceChildren(
            h("a", { href: `#/entry/${result.entry.path.slice(1)}?n=${result.entry.entry}` }, `entry ${result.entry.entry}`),
          );
          outcome.classList.add("ok");
        } else {
          outcome.textContent = result.error.shown;
          outcome.classList.add("error");
          outcome.setAttribute("role", "alert");
        }
      }),
    );
  };

  const drop = h(
    "div",
    { class: "drop", tabindex: 0, role: "button", "aria-label": "Drop images here, or press Enter to pick files" },
    h("p", {}, "Drop images here, or ", h("strong", {}, "pick files")),
  );
  drop.addEventListener("click", () => picker.click());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      picker.click();
    }
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    void send([...(event.dataTransfer?.files ?? [])]);
  });
  picker.addEventListener("change", () => {
    void send([...(picker.files ?? [])]);
    picker.value = "";
  });

  return h(
    "section",
    {},
    h("h1", {}, "Upload"),
    h(
      "div",
      { class: "form-grid" },
      h("label", { for: "upload-path" }, "Path"),
      path,
      h("label", { for: "per-file" }, "One path per file"),
      h("span", {}, perFile, h("small", { class: "muted" }, " adds each file's name to the path")),
      h("label", { for: "upload-alt" }, "Alt text"),
      alt,
      h("label", { for: "upload-labels" }, "Labels"),
      labels,
      h("label", { for: "upload-tags" }, "Tags"),
      tags,
      h("label", { for: "upload-files" }, "Files"),
      picker,
    ),
    drop,
    list,
  );
}
