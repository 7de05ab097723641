// Usage: storage and traffic over time, the most requested entries and
// missing paths, plugin statistics and webhook state, all from `/api`.
import { json, shown, type Listing } from "./api";
import { bytes, h, replace, when } from "./dom";
import type { Session } from "./main";
import { bars, line, type Point } from "./charts";

interface Usage {
  storage: { originals: { count: number; bytes: number }; variants: { count: number; bytes: number } };
  traffic: { requests: number; bytes: number; days: { day: string; requests: number; bytes: number }[] };
  from: string;
  to: string;
}

interface Top {
  entries: { path: string; entry: number; requests: number }[];
  not_found: { path: string; requests: number }[];
}

interface PluginStats {
  name: string;
  kinds: string[];
  api_version: string;
  version: string | null;
  calls: number;
  failures: Record<string, number>;
  p50_ms: number | null;
  p99_ms: number | null;
}

interface Webhook {
  name: string;
  url: string | null;
  events: string[];
  state: string;
  pending: number;
  last_attempt_at: string | null;
  last_outcome: string | null;
}

/** How many listing pages the storage-over-time chart reads at most. */
const MOST_PAGES = 20;

function days(from: string, to: string): string[] {
  const out: string[] = [];
  for (let day = new Date(`${from}T00:00:00Z`); day <= new Date(`${to}T00:00:00Z`); day.setUTCDate(day.getUTCDate() + 1)) {
    out.push(day.toISOString().slice(0, 10));
  }
  return out;
}

function table(headings: string[], rows: (Node | string)[][], empty: string): Node {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell) => h("td", {}, cell)))))));
}

/** Bytes of originals still stored, by the day they were uploaded, summed up to each day of the period. */
async function storedOverTime(period: string[], prefix: string): Promise<Point[]> {
  const perDay = new Map<string, number>();
  let before = 0;
  let cursor: string | null = null;
  for (let page = 0; page < MOST_PAGES; page++) {
    const params = new URLSearchParams({ limit: "1000", prefix });
    if (cursor) params.set("cursor", cursor);
    const listing: Listing = await json<Listing>("GET", `/api/assets?${params}`);
    for (const entry of listing.entries) {
      const day = entry.created_at.slice(0, 10);
      if (day < period[0]!) before += entry.original.bytes;
      else perDay.set(day, (perDay.get(day) ?? 0) + entry.original.bytes);
    }
    cursor = listing.next_cursor;
    if (!cursor) break;
  }
  let total = before;
  return period.map((day) => {
    total += perDay.get(day) ?? 0;
    return { label: day.slice(5), value: total };
  });
}

/** A section's content, or Kiln's reason it cannot be shown to this key. */
function settled<T>(result: PromiseSettledResult<T>, draw: (value: T) => Node): Node {
  if (result.status === "fulfilled") return draw(result.value);
  return h("p", { class: "error" }, shown(result.reason));
}

export async function usageView(session: Session, _rest: string, query: URLSearchParams): Promise<Node> {
  const span = Number(query.get("days")) || 30;
  const to = new Date().toISOString().slice(0, 10);
  const fromDate = new Date();
  fromDate.setUTCDate(fromDate.getUTCDate() - (span - 1));
  const from = fromDate.toISOString().slice(0, 10);
  const period = new URLSearchParams({ from, to });
  // A key confined to a prefix sees the usage under it; the rankings,
  // plugins and webhooks belong to the whole server and need a key for "/".
  const scoped = new URLSearchParams(period);
  if (session.key.prefix !== "/") scoped.set("prefix", session.key.prefix);
  const usage = await json<Usage>("GET", `/api/usage?${scoped}`);
  const [top, plugins, webhooks] = await Promise.allSettled([
    json<Top>("GET", `/api/usage/top?${period}&limit=10`),
    json<{ plugins: PluginStats[] }>("GET", "/api/plugins"),
    json<{ webhooks: Webhook[] }>("GET", "/api/webhooks"),
  ]);
  const all = days(usage.from, usage.to);
  const byDay = new Map(usage.traffic.days.map((d) => [d.day, d]));
  const requests = all.map((day) => ({ label: day.slice(5), value: byDay.get(day)?.requests ?? 0 }));
  const served = all.map((day) => ({ label: day.slice(5), value: byDay.get(day)?.bytes ?? 0 }));
  const storage = h("div", {}, h("p", { class: "muted" }, "Reading the catalog…"));
  storedOverTime(all, session.key.prefix)
    .then((points) => replace(storage, line("Bytes of originals stored, by upload day", points, bytes), h("p", { class: "muted" }, "Originals still stored, summed by the day they were uploaded.")))
    .catch(() => replace(storage, h("p", { class: "muted" }, "Storage over time is not available.")));

  const choose = h("select", { id: "usage-days", "aria-label": "Period" }, [7, 30, 90, 365].map((d) => h("option", { value: d, selected: d === span }, `last ${d} days`)));
  choose.addEventListener("change", () => (location.hash = `#/usage?days=${choose.value}`));
  const s = usage.storage;
  return h(
    "section",
    { class: "usage" },
    h("h1", {}, "Usage ", session.key.prefix !== "/" ? h("span", { class: "muted" }, `under ${session.key.prefix} `) : null, choose),
    h(
      "div",
      { class: "cards" },
      h("div", { class: "card" }, h("h2", {}, "Originals"), h("p", { class: "big", id: "originals-count" }, String(s.originals.count)), h("p", { class: "muted" }, bytes(s.originals.bytes))),
      h("div", { class: "card" }, h("h2", {}, "Variants"), h("p", { class: "big", id: "variants-count" }, String(s.variants.count)), h("p", { class: "muted" }, bytes(s.variants.bytes))),
      h("div", { class: "card" }, h("h2", {}, "Requests"), h("p", { class: "big", id: "requests-count" }, usage.traffic.requests.toLocaleString()), h("p", { class: "muted" }, `${bytes(usage.traffic.bytes)} served, ${usage.from} to ${usage.to}`)),
    ),
    h("h2", {}, "Requests per day"),
    bars("Requests per day", requests, (n) => Math.round(n).toLocaleString()),
    h("h2", {}, "Bytes served per day"),
    bars("Bytes served per day", served, bytes),
    h("h2", {}, "Storage over time"),
    storage,
    h("h2", {}, "Most requested entries"),
    settled(top, (top) => table(["Path", "Entry", "Requests"], top.entries.map((e) => [h("a", { href: `#/entry/${e.path.replace(/^\//, "")}?n=${e.entry}` }, e.path), String(e.entry), e.requests.toLocaleString()]), "No requests counted in this period yet.")),
    h("h2", {}, "Paths not found most often"),
    settled(top, (top) => table(["Path", "Requests"], top.not_found.map((m) => [m.path, m.requests.toLocaleString()]), "None.")),
    h("h2", {}, "Plugins"),
    settled(plugins, (plugins) => table(
      ["Plugin", "Kinds", "API", "Calls", "Failures", "p50", "p99"],
      plugins.plugins.map((p) => [
        p.name,
        p.kinds.join(", "),
        p.api_version,
        p.calls.toLocaleString(),
        Object.entries(p.failures).map(([kind, n]) => `${kind}: ${n}`).join(", ") || "none",
        p.p50_ms === null ? "–" : `${p.p50_ms} ms`,
        p.p99_ms === null ? "–" : `${p.p99_ms} ms`,
      ]),
      "No plugins are configured.",
    )),
    h("h2", {}, "Webhooks"),
    settled(webhooks, (webhooks) => table(
      ["Endpoint", "URL", "State", "Pending", "Last attempt", "Outcome"],
      webhooks.webhooks.map((w) => [w.name, w.url ?? "", w.state, String(w.pending), w.last_attempt_at ? when(w.last_attempt_at) : "never", w.last_outcome ?? "–"]),
      "No webhooks are configured.",
    )),
  );
}
