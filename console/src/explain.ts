// The URL explainer: any Kiln URL read as a fetch would read it, through
// `GET /api/explain` — the entry it selects, its canonical transformation,
// its signature, whether the variant is made, and the path's merged rules.
import { json, shown } from "./api";
import { copy, h, replace, toast, when } from "./dom";
import type { EntrySummary } from "./api";
import type { Session } from "./main";

interface Explanation {
  path: string;
  rules: { patterns: string[]; settings: Record<string, unknown>; max_upload_bytes: number };
  signature?: { required: boolean; signed: boolean; valid: boolean | null; expires: number | null; problem: string | null; message: string | null };
  sign_url?: string | null;
  entry?: EntrySummary | null;
  variant?: { transformation: string; original: boolean; width: number; height: number; format: string; negotiated: boolean; cached: boolean | null };
  error?: { error: string; message: string };
}

function facts(rows: [string, Node | string][]): Node {
  return h("dl", { class: "facts" }, rows.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function signatureText(signature: NonNullable<Explanation["signature"]>): string {
  const expiry = signature.expires ? ` until ${when(new Date(signature.expires * 1000).toISOString())}` : "";
  if (signature.valid === true) return `valid${expiry || ", never expires"}`;
  if (signature.valid === false) return `${signature.problem ?? "invalid"}: ${signature.message ?? ""}`;
  return signature.required ? "required, not given" : "not needed";
}

function render(answer: Explanation): Node {
  const parts: Node[] = [];
  if (answer.error) {
    parts.push(h("p", { class: "error", id: "explain-error" }, `Kiln would answer ${answer.error.error}: ${answer.error.message}`));
  }
  if (answer.entry) {
    const e = answer.entry;
    parts.push(
      h("h2", {}, "Entry"),
      facts([
        ["Selected", h("a", { href: `#/entry/${e.path.slice(1)}?n=${e.entry}` }, `${e.path}, entry ${e.entry}`)],
        ["Original", `${e.original.content_type}, ${e.original.width}×${e.original.height}`],
        ["Created", when(e.created_at)],
      ]),
    );
  }
  if (answer.variant) {
    const v = answer.variant;
    parts.push(
      h("h2", {}, "Variant"),
      facts([
        ["Transformation", h("code", { id: "explain-transformation" }, v.original ? "(the original itself)" : v.transformation || "(none)")],
        ["Result", `${v.width}×${v.height} ${v.format}${v.negotiated ? " (negotiated from Accept)" : ""}`],
        ["Cached", h("span", { id: "explain-cached" }, v.cached === null ? "unknown" : v.cached ? "yes, already made" : "no, made on first request")],
      ]),
    );
  }
  if (answer.signature) {
    parts.push(h("h2", {}, "Signature"), facts([["Signature", h("span", { id: "explain-signature" }, signatureText(answer.signature))]]));
  }
  if (answer.sign_url) {
    const line = answer.sign_url;
    parts.push(h("p", { class: "row" }, h("code", { class: "wrap", id: "explain-sign-url" }, line), h("button", { type: "button", class: "secondary", onclick: async () => { await copy(line); toast("Command copied."); } }, "Copy")));
  }
  parts.push(
    h("h2", {}, "Path rules"),
    h("p", {}, "Matching patterns, less specific first: ", answer.rules.patterns.map((p) => h("code", {}, p)).flatMap((c, i) => (i ? [", ", c] : [c]))),
    h("pre", { id: "explain-rules" }, JSON.stringify(answer.rules.settings, null, 2)),
  );
  return h("div", { id: "explanation" }, parts);
}

export async function explainView(_session: Session, _rest: string, query: URLSearchParams): Promise<Node> {
  const input = h("input", { id: "explain-url", name: "url", required: true, placeholder: "https://images.example.com/assets/users/1/avatar/-/content?w=256&format=webp", value: query.get("url") ?? "" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "row wide", role: "search" }, h("label", { for: "explain-url" }, "Kiln URL"), input, h("button", { type: "submit" }, "Explain"));
  const explain = async () => {
    try {
      const answer = await json<Explanation>("GET", `/api/explain?url=${encodeURIComponent(input.value.trim())}`);
      replace(out, render(answer));
    } catch (error) {
      replace(out, h("p", { class: "error", role: "alert" }, shown(error)));
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    history.replaceState(null, "", `#/explain?url=${encodeURIComponent(input.value.trim())}`);
    void explain();
  });
  if (input.value) void explain();
  return h("section", {}, h("h1", {}, "Explain a URL"), h("p", { class: "muted" }, "Paste any Kiln URL: what it selects, what it makes, whether its signature holds, and the rules of its path. Nothing is made."), form, out);
}
