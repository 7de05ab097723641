// Kiln's HTTP API as the console uses it. The API key lives in this tab's
// sessionStorage only and travels as a Bearer header, never in a URL.

const KEY = "kiln.key";

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY);
}

export function keepKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}

/** An error as Kiln answers it (SPEC §7), or the network's. */
export class KilnError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null = null,
  ) {
    super(message);
  }

  /** The words to show: Kiln's own message, with its code. */
  get shown(): string {
    return this.status ? `${this.message} (${this.code}, ${this.status})` : this.message;
  }
}

/** What to show of any error: Kiln's own words where it answered. */
export function shown(error: unknown): string {
  return error instanceof KilnError ? error.shown : String(error);
}

async function errorFrom(response: Response): Promise<KilnError> {
  try {
    const body = (await response.json()) as { error?: string; message?: string; request_id?: string };
    return new KilnError(response.status, body.error ?? "error", body.message ?? response.statusText, body.request_id ?? null);
  } catch {
    return new KilnError(response.status, "error", `the server answered ${response.status} ${response.statusText}`);
  }
}

function authorized(headers: HeadersInit = {}): Headers {
  const all = new Headers(headers);
  const key = storedKey();
  if (key) all.set("Authorization", `Bearer ${key}`);
  return all;
}

interface Options {
  body?: unknown;
  /** Another key than the tab's: the one being signed in with. */
  key?: string;
  accept?: string;
  /** "no-store" where the answer's own headers matter (the playground's preview). */
  cache?: RequestCache;
}

/** A request with the key; throws `KilnError` for any answer that is not 2xx. */
export async function call(method: string, url: string, { body, key, accept, cache }: Options = {}): Promise<Response> {
  const headers = authorized(body === undefined ? {} : { "Content-Type": "application/json" });
  if (key) headers.set("Authorization", `Bearer ${key}`);
  if (accept) headers.set("Accept", accept);
  let response: Response;
  try {
    response = await fetch(url, { method, headers, cache, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new KilnError(0, "network", "Kiln could not be reached; is the server running?");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function json<T>(method: string, url: string, body?: unknown): Promise<T> {
  return (await (await call(method, url, { body })).json()) as T;
}

export type Scope = "read" | "write" | "delete" | "admin";

export interface KeyInfo {
  name: string;
  scopes: Scope[];
  prefix: string;
}

/** Checks a key: who it is and what it may do. */
export async function identify(key: string): Promise<KeyInfo> {
  return (await (await call("GET", "/api/key", { key })).json()) as KeyInfo;
}

export interface Lqip {
  blurhash?: string;
  thumbhash?: string;
}

export interface EntrySummary {
  path: string;
  entry: number;
  alt: string | null;
  labels: Record<string, string>;
  tags: string[];
  created_at: string;
  modified_at: string;
  original: { content_type: string; width: number; height: number; bytes: number; sha256: string };
  lqip: Lqip | null;
}

export interface Variant {
  transformation: string;
  content_type: string;
  width: number;
  height: number;
  bytes: number;
  created_at: string;
}

export interface Entry extends EntrySummary {
  variants: Variant[];
}

export interface Listing {
  entries: EntrySummary[];
  next_cursor: string | null;
}

export interface Metadata {
  alt?: string | null;
  labels?: Record<string, string>;
  tags?: string[];
}

/** `/assets/{path}` with each segment as it is (paths hold only URL-safe characters). */
export function assetUrl(path: string, selectors = "", query = ""): string {
  const base = `/assets/${path.replace(/^\/+/, "")}`;
  return `${base}${selectors ? `/-/${selectors}` : ""}${query ? `?${query}` : ""}`;
}

export function entry(path: string, n: number): Promise<Entry> {
  return json<Entry>("GET", assetUrl(path, `entry/${n}/metadata`));
}

/** A finished upload, or Kiln's refusal. */
export type Uploaded = { ok: true; entry: EntrySummary } | { ok: false; error: KilnError };

/**
 * Uploads one file with XMLHttpRequest, whose `upload` events give progress
 * (fetch has none for request bodies): multipart with a `file` part and, when
 * there is any, a `metadata` part.
 */
export function upload(path: string, file: File, metadata: Metadata, progress: (fraction: number) => void): Promise<Uploaded> {
  const form = new FormData();
  form.append("file", file, file.name);
  if (metadata.alt || Object.keys(metadata.labels ?? {}).length || (metadata.tags ?? []).length) {
    form.append("metadata", new Blob([JSON.stringify(metadata)], { type: "application/json" }));
  }
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", assetUrl(path));
    const key = storedKey();
    if (key) request.setRequestHeader("Authorization", `Bearer ${key}`);
    request.responseType = "text";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(request.responseText) as Record<string, unknown>;
      } catch {
        // Not JSON: described by the status below.
      }
      if (request.status === 201) {
        progress(1);
        resolve({ ok: true, entry: body as unknown as EntrySummary });
      } else {
        const message = typeof body.message === "string" ? body.message : `the server answered ${request.status}`;
        resolve({ ok: false, error: new KilnError(request.status, String(body.error ?? "error"), message) });
      }
    });
    const failed = () => resolve({ ok: false, error: new KilnError(0, "network", "the upload was cut off before Kiln answered") });
    request.addEventListener("error", failed);
    request.addEventListener("abort", failed);
    request.send(form);
  });
}

/** What a browser's `<img>` asks for, so `format=auto` answers as it would for a page. */
const IMAGE_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";

export interface Fetched {
  blob: Blob;
  url: string;
  contentType: string;
  cache: string | null;
  serverTiming: Timing[];
  elapsedMs: number;
}

export interface Timing {
  name: string;
  ms: number;
}

/** `Server-Timing: decode;dur=1.2, resize;dur=3.4` as stages. */
export function parseServerTiming(header: string | null): Timing[] {
  if (!header) return [];
  return header
    .split(",")
    .map((part) => {
      const [name, ...fields] = part.trim().split(";");
      const duration = fields.map((f) => f.trim()).find((f) => f.startsWith("dur="));
      return { name: (name ?? "").trim(), ms: duration ? Number(duration.slice(4)) : 0 };
    })
    .filter((timing) => timing.name && Number.isFinite(timing.ms));
}

/**
 * An image through the API, with the key (which stands in for a signature
 * where the key has `read`), as an object URL the page can show. `fresh`
 * asks Kiln every time, so that `Kiln-Cache` and `Server-Timing` describe
 * this answer rather than one the browser kept.
 */
export async function image(url: string, fresh = false): Promise<Fetched> {
  const started = performance.now();
  const response = await call("GET", url, { accept: IMAGE_ACCEPT, cache: fresh ? "no-store" : "default" });
  const blob = await response.blob();
  return {
    blob,
    url: URL.createObjectURL(blob),
    contentType: response.headers.get("Content-Type") ?? blob.type,
    cache: response.headers.get("Kiln-Cache"),
    serverTiming: parseServerTiming(response.headers.get("Server-Timing")),
    elapsedMs: performance.now() - started,
  };
}
