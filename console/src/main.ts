// The console's shell: sign-in, the navigation the key's scopes allow, and
// a router over the URL fragment (`#/entry/users/1/avatar/3`), so every view
// has a URL of its own and the server serves one page.
import { forgetKey, identify, keepKey, KilnError, shown, storedKey, type KeyInfo, type Scope } from "./api";
import { h, replace } from "./dom";
import { browseView } from "./browse";
import { entryView } from "./entry";
import { explainView } from "./explain";
import { playgroundView } from "./playground";
import { referenceView } from "./reference";
import { uploadView } from "./upload";
import { usageView } from "./usage";

export interface Session {
  key: KeyInfo;
  can(scope: Scope): boolean;
}

interface Route {
  name: string;
  label: string;
  needs: Scope | null;
  view: (session: Session, rest: string, query: URLSearchParams) => Promise<Node>;
  nav: boolean;
}

const ROUTES: Route[] = [
  { name: "browse", label: "Browse", needs: null, view: browseView, nav: true },
  { name: "upload", label: "Upload", needs: "write", view: uploadView, nav: true },
  { name: "explain", label: "Explain a URL", needs: "admin", view: explainView, nav: true },
  { name: "usage", label: "Usage", needs: "admin", view: usageView, nav: true },
  { name: "reference", label: "API reference", needs: null, view: referenceView, nav: true },
  { name: "entry", label: "Entry", needs: null, view: entryView, nav: false },
  { name: "play", label: "Playground", needs: null, view: playgroundView, nav: false },
];

let session: Session | null = null;

function sessionFor(key: KeyInfo): Session {
  return { key, can: (scope) => key.scopes.includes(scope) };
}

/** `#/name/rest?query` */
function current(): { name: string; rest: string; query: URLSearchParams } {
  const fragment = location.hash.replace(/^#\/?/, "");
  const [route = "", search = ""] = fragment.split("?", 2);
  const [name = "", ...rest] = route.split("/");
  return { name: name || "browse", rest: rest.join("/"), query: new URLSearchParams(search) };
}

async function render(): Promise<void> {
  const main = document.getElementById("main");
  if (!main) return;
  const { name, rest, query } = current();
  if (!session && name === "reference") {
    // The reference is the server's public document: readable before signing in.
    drawNav();
    replace(main, await referenceView(null, rest, query).catch((error) => h("p", { class: "error", role: "alert" }, shown(error))));
    return;
  }
  if (!session) {
    replace(main, signIn());
    drawNav();
    return;
  }
  const route = ROUTES.find((r) => r.name === name) ?? ROUTES[0]!;
  drawNav(route.name);
  if (route.needs && !session.can(route.needs)) {
    replace(main, h("section", {}, h("h1", {}, route.label), h("p", { class: "error" }, `The key “${session.key.name}” lacks the ${route.needs} scope this page needs.`)));
    return;
  }
  replace(main, h("p", { class: "muted" }, "Loading…"));
  try {
    replace(main, await route.view(session, decodeURIComponent(rest), query));
  } catch (error) {
    replace(main, h("section", {}, h("h1", {}, route.label), h("p", { class: "error", role: "alert" }, shown(error))));
  }
}

function drawNav(active?: string): void {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!nav || !who) return;
  if (!session) {
    replace(nav);
    replace(who);
    return;
  }
  const allowed = ROUTES.filter((r) => r.nav && (!r.needs || session!.can(r.needs)));
  replace(
    nav,
    allowed.map((r) => h("a", { href: `#/${r.name}`, "aria-current": r.name === active ? "page" : null }, r.label)),
  );
  replace(
    who,
    h("span", { title: `scopes: ${session.key.scopes.join(", ")}; paths under ${session.key.prefix}` }, session.key.name),
    h("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
  );
}

function signIn(): Node {
  const input = h("input", { id: "key", name: "key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const problem = h("p", { class: "error", role: "alert", id: "signin-error" });
  const form = h(
    "form",
    { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to Kiln"),
    h("p", { class: "muted" }, "Paste an API key. It is kept for this tab only and sent as a Bearer header."),
    h("label", { for: "key" }, "API key"),
    input,
    h("button", { type: "submit" }, "Sign in"),
    problem,
    h("p", { class: "muted" }, h("a", { href: "#/reference" }, "Read the HTTP API reference"), " — no key needed."),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    problem.textContent = "";
    try {
      const key = input.value.trim();
      const info = await identify(key);
      keepKey(key);
      session = sessionFor(info);
      if (!location.hash || location.hash === "#/signin") location.hash = "#/browse";
      await render();
    } catch (error) {
      problem.textContent =
        error instanceof KilnError && error.status === 401 ? "That key is not valid for this Kiln." : shown(error);
    }
  });
  queueMicrotask(() => input.focus());
  return form;
}

function signOut(): void {
  forgetKey();
  session = null;
  location.hash = "#/signin";
  void render();
}

async function start(): Promise<void> {
  const key = storedKey();
  if (key) {
    try {
      session = sessionFor(await identify(key));
    } catch {
      forgetKey();
    }
  }
  window.addEventListener("hashchange", () => void render());
  await render();
}

void start();
