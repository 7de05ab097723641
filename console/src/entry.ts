// One entry: its original's metadata, its made variants (purge), its alt,
// labels and tags (edit), and delete behind a confirmation.
import { assetUrl, call, entry as loadEntry, image, json, shown, type Entry, type Listing, type Variant } from "./api";
import { bytes, h, replace, toast, when } from "./dom";
import { placeholder } from "./lqip";
import type { Session } from "./main";
import { parseLabels, parseTags } from "./upload";

function variantsTable(variants: Variant[]): Node {
  if (!variants.length) return h("p", { class: "muted", id: "no-variants" }, "No variants made yet.");
  return h(
    "table",
    { id: "variants" },
    h("thead", {}, h("tr", {}, ["Transformation", "Type", "Size", "Bytes", "Made"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      variants.map((v) =>
        h("tr", {}, h("td", {}, h("code", {}, v.transformation)), h("td", {}, v.content_type), h("td", {}, `${v.width}×${v.height}`), h("td", {}, bytes(v.bytes)), h("td", {}, when(v.created_at))),
      ),
    ),
  );
}

export async function entryView(session: Session, path: string, query: URLSearchParams): Promise<Node> {
  const n = Number(query.get("n"));
  const found: Entry = Number.isInteger(n) && n > 0 ? await loadEntry(path, n) : await json<Entry>("GET", assetUrl(path, "metadata"));
  const entryPath = found.path.slice(1);
  const self = assetUrl(entryPath, `entry/${found.entry}`);
  const section = h("section", { class: "entry" });
  const heading = h("h1", {}, `${found.path} `, h("span", { class: "muted" }, `entry ${found.entry}`));

  const preview = h("img", {
    class: "preview placeholder",
    alt: found.alt ?? "",
    width: found.original.width,
    height: found.original.height,
    src: placeholder(found.lqip, found.original.width / Math.max(1, found.original.height)),
  });
  image(assetUrl(entryPath, `entry/${found.entry}/content`, "w=800&format=webp"))
    .then((fetched) => {
      preview.src = fetched.url;
      preview.classList.remove("placeholder");
    })
    .catch(() => preview.classList.add("unavailable"));

  const original = found.original;
  const facts = h(
    "dl",
    { class: "facts" },
    [
      ["Type", original.content_type],
      ["Dimensions", `${original.width}×${original.height}`],
      ["Bytes", `${bytes(original.bytes)} (${original.bytes.toLocaleString()})`],
      ["SHA-256", h("code", { class: "wrap" }, original.sha256)],
      ["Created", when(found.created_at)],
      ["Modified", when(found.modified_at)],
      ["Placeholder", found.lqip ? Object.keys(found.lqip).join(", ") : "none"],
    ].flatMap(([term, value]) => [h("dt", {}, term as string), h("dd", {}, value as Node | string)]),
  );

  const actions = h(
    "p",
    { class: "row" },
    h("a", { class: "button", href: `#/play/${entryPath}?n=${found.entry}` }, "Open in the playground"),
    session.can("admin") ? h("a", { class: "button secondary", href: `#/explain?url=${encodeURIComponent(assetUrl(entryPath, `entry/${found.entry}`))}` }, "Explain its URL") : null,
  );

  // Variants: the management API where the key has admin, else what metadata says.
  const variantList = h("div", {}, variantsTable(found.variants));
  const variantsUrl = `/api${self}/variants`;
  const refreshVariants = async () => {
    const listed = session.can("admin") ? await json<{ variants: Variant[] }>("GET", variantsUrl) : await loadEntry(entryPath, found.entry);
    replace(variantList, variantsTable(listed.variants));
  };
  const purge = h("button", { type: "button", class: "secondary", hidden: !session.can("admin") }, "Purge variants");
  purge.addEventListener("click", async () => {
    try {
      await call("DELETE", variantsUrl);
      await refreshVariants();
      toast("Variants purged; each is made again when next asked for.");
    } catch (error) {
      toast(shown(error), "error");
    }
  });

  section.append(
    heading,
    h("div", { class: "split" }, h("figure", {}, preview, found.alt ? h("figcaption", {}, found.alt) : null), h("div", {}, facts, actions)),
    h("h2", {}, "Variants ", purge),
    variantList,
  );

  if (session.can("write")) section.append(h("h2", {}, "Alt, labels and tags"), editForm(found, self));
  if (session.can("admin")) section.append(h("h2", {}, "Entries at this path"), await siblings(found));
  if (session.can("delete")) section.append(h("h2", {}, "Delete"), deleteControl(found, self));
  return section;
}

function editForm(found: Entry, self: string): Node {
  const alt = h("input", { id: "edit-alt", value: found.alt ?? "" });
  const labels = h("input", { id: "edit-labels", value: Object.entries(found.labels).map(([k, v]) => `${k}=${v}`).join(", ") });
  const tags = h("input", { id: "edit-tags", value: found.tags.join(", ") });
  const problem = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "form-grid", id: "edit" },
    h("label", { for: "edit-alt" }, "Alt text"),
    alt,
    h("label", { for: "edit-labels" }, "Labels"),
    labels,
    h("label", { for: "edit-tags" }, "Tags"),
    tags,
    h("span", {}),
    h("button", { type: "submit" }, "Save"),
    problem,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.textContent = "";
    try {
      await json("PUT", self, { alt: alt.value.trim() || null, labels: parseLabels(labels.value), tags: parseTags(tags.value) });
      toast("Saved.");
    } catch (error) {
      problem.textContent = shown(error);
    }
  });
  return form;
}

async function siblings(found: Entry): Promise<Node> {
  const params = new URLSearchParams({ prefix: found.path, limit: "1000" });
  const listed = await json<Listing>("GET", `/api/assets?${params}`);
  const here = listed.entries.filter((e) => e.path === found.path);
  return h(
    "p",
    { class: "entries" },
    here.map((e) =>
      e.entry === found.entry
        ? h("strong", { "aria-current": "true" }, `#${e.entry}`)
        : h("a", { href: `#/entry/${e.path.slice(1)}?n=${e.entry}`, title: e.created_at }, `#${e.entry}`),
    ),
  );
}

function deleteControl(found: Entry, self: string): Node {
  const confirmButton = h("button", { type: "button", class: "danger", id: "confirm-delete" }, `Delete entry ${found.entry}`);
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
  const dialog = h(
    "dialog",
    { "aria-labelledby": "delete-title" },
    h("h2", { id: "delete-title" }, `Delete ${found.path}, entry ${found.entry}?`),
    h("p", {}, "The original and every variant made from it go; this cannot be undone."),
    h("p", { class: "row" }, cancel, confirmButton),
  );
  cancel.addEventListener("click", () => dialog.close());
  confirmButton.addEventListener("click", async () => {
    try {
      await call("DELETE", self);
      dialog.close();
      toast(`Deleted ${found.path}, entry ${found.entry}.`);
      const parent = found.path.split("/").slice(0, -1).join("/");
      location.hash = `#/browse?prefix=${encodeURIComponent(parent)}`;
    } catch (error) {
      dialog.close();
      toast(shown(error), "error");
    }
  });
  const open = h("button", { type: "button", class: "danger" }, "Delete this entry…");
  open.addEventListener("click", () => dialog.showModal());
  return h("div", {}, open, dialog);
}
