// Browse: entries under a prefix from `GET /api/assets`, a page at a time,
// drawn as the tree of their paths; every path shows its entries.
import { json, type EntrySummary, type Listing } from "./api";
import { h, replace, bytes } from "./dom";
import type { Session } from "./main";
import { thumbnail } from "./preview";

const PAGE = 100;

interface Folder {
  name: string;
  folders: Map<string, Folder>;
  /** Entries stored exactly at this path, newest last. */
  entries: EntrySummary[];
}

function folder(name: string): Folder {
  return { name, folders: new Map(), entries: [] };
}

function place(root: Folder, entry: EntrySummary, under: string): void {
  const relative = entry.path.slice(under.length).replace(/^\/+/, "");
  let node = root;
  for (const segment of relative ? relative.split("/") : []) {
    let next = node.folders.get(segment);
    if (!next) {
      next = folder(segment);
      node.folders.set(segment, next);
    }
    node = next;
  }
  node.entries.push(entry);
}

function drawEntries(entries: EntrySummary[]): Node {
  const newest = entries[entries.length - 1]!;
  return h(
    "div",
    { class: "asset" },
    h("a", { href: `#/entry/${newest.path.slice(1)}?n=${newest.entry}`, class: "asset-thumb" }, thumbnail(newest)),
    h(
      "div",
      {},
      h("a", { href: `#/entry/${newest.path.slice(1)}?n=${newest.entry}`, class: "asset-path" }, newest.path),
      h(
        "p",
        { class: "muted" },
        `${entries.length} ${entries.length === 1 ? "entry" : "entries"} · newest ${newest.original.width}×${newest.original.height}, ${bytes(newest.original.bytes)}`,
      ),
      h(
        "p",
        { class: "entries" },
        entries.map((e) => h("a", { href: `#/entry/${e.path.slice(1)}?n=${e.entry}`, title: e.created_at }, `#${e.entry}`)),
      ),
    ),
  );
}

function drawFolder(node: Folder, depth: number): Node {
  const children = [...node.folders.values()].sort((a, b) => a.name.localeCompare(b.name));
  const body = [node.entries.length ? drawEntries(node.entries) : null, ...children.map((child) => drawFolder(child, depth + 1))];
  if (depth === 0) return h("div", { class: "tree" }, body);
  return h("details", { open: depth < 4 }, h("summary", {}, `${node.name}/`), h("div", { class: "tree" }, body));
}

export async function browseView(session: Session, _rest: string, query: URLSearchParams): Promise<Node> {
  const keyPrefix = session.key.prefix === "/" ? "" : session.key.prefix;
  const trimmed = (query.get("prefix") ?? keyPrefix).replace(/^\/+|\/+$/g, "");
  const prefix = trimmed ? `/${trimmed}` : "";
  const open = h("form", { class: "row", role: "search" },
    h("label", { for: "open-path" }, "Open a path"),
    h("input", { id: "open-path", name: "path", placeholder: "/users/123/avatar", required: true }),
    h("button", { type: "submit" }, "Open"),
  );
  open.addEventListener("submit", (event) => {
    event.preventDefault();
    const path = new FormData(open).get("path")?.toString().trim().replace(/^\/+/, "") ?? "";
    if (path) location.hash = `#/entry/${path}`;
  });
  const section = h("section", {}, h("h1", {}, "Browse"), open);
  if (!session.can("admin")) {
    section.append(h("p", { class: "muted" }, "Listing entries needs a key with the admin scope; this key can open a path it knows."));
    return section;
  }
  const filter = h("form", { class: "row" },
    h("label", { for: "prefix" }, "Prefix"),
    h("input", { id: "prefix", name: "prefix", value: prefix || "/", placeholder: "/" }),
    h("button", { type: "submit" }, "List"),
  );
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = new FormData(filter).get("prefix")?.toString().trim() ?? "";
    location.hash = `#/browse?prefix=${encodeURIComponent(value.replace(/\/+$/, ""))}`;
  });
  const root = folder("");
  const tree = h("div", { id: "tree" });
  const status = h("p", { class: "muted", id: "listing-status" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  let cursor: string | null = null;
  let count = 0;
  const load = async () => {
    more.disabled = true;
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (prefix) params.set("prefix", prefix);
    if (cursor) params.set("cursor", cursor);
    const page = await json<Listing>("GET", `/api/assets?${params}`);
    page.entries.forEach((entry) => place(root, entry, prefix));
    count += page.entries.length;
    cursor = page.next_cursor;
    replace(tree, count ? drawFolder(root, 0) : h("p", {}, "No entries here yet. ", h("a", { href: `#/upload?path=${encodeURIComponent(prefix)}` }, "Upload one.")));
    status.textContent = `${count} ${count === 1 ? "entry" : "entries"} under ${prefix || "/"}${cursor ? ", more to load" : ""}`;
    more.hidden = !cursor;
    more.disabled = false;
  };
  more.addEventListener("click", () => void load());
  await load();
  section.append(filter, status, tree, more);
  return section;
}
