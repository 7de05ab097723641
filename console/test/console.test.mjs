// The console in a real browser: Debian's Chromium driven by playwright-core
// against a real `kiln` (kiln.mjs). Each page's screenshot is saved into
// docs/console/ for the documentation.
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { dimensions, startKiln } from "./kiln.mjs";

const fixtures = new URL("../../tests/fixtures/", import.meta.url);
const screenshots = new URL("../../docs/console/", import.meta.url);
const CHROMIUM_FLAGS = ["--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-gpu", "--disable-sync"];

let kiln;
let browser;
let page;
/** Every URL the page asked for: the console must need nothing but Kiln. */
const requested = [];

async function shot(name, target = page) {
  await target.screenshot({ path: new URL(`${name}.png`, screenshots).pathname, fullPage: false });
}

async function signIn(target, key) {
  await target.goto(`${kiln.base}/console`);
  await target.locator("#key").fill(key);
  await target.keyboard.press("Enter");
}

async function api(method, path, body) {
  const response = await fetch(`${kiln.base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${kiln.adminKey}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return response;
}

async function previewDone(target = page) {
  await target.waitForFunction(() => document.querySelector("#result-stats")?.dataset.state === "done");
}

before(async () => {
  await mkdir(screenshots, { recursive: true });
  kiln = await startKiln();
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: CHROMIUM_FLAGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: "light" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: kiln.base });
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on("request", (request) => requested.push(request.url()));
});

after(async () => {
  await browser?.close();
  await kiln?.stop();
});

test("the console is served from the binary, and a wrong key is refused in words", async () => {
  const redirect = await fetch(`${kiln.base}/console`, { redirect: "manual" });
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get("location"), "/console/");
  const index = await fetch(`${kiln.base}/console/`);
  assert.match(index.headers.get("content-security-policy"), /default-src 'none'/);
  const missing = await fetch(`${kiln.base}/console/nothing.js`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error, "not_found");

  await page.goto(`${kiln.base}/console/`);
  await page.locator("#key").waitFor();
  await shot("sign-in");
  await page.locator("#key").fill("kiln_not_a_key");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#signin-error").filter({ hasText: "not valid" }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("kiln.key")), null);
});

test("a key's scopes decide what the page offers", async () => {
  const context = await browser.newContext();
  const other = await context.newPage();
  await signIn(other, kiln.uploaderKey);
  await other.locator("#nav a").first().waitFor();
  const offered = await other.locator("#nav a").allTextContents();
  assert.deepEqual(offered, ["Browse", "Upload", "API reference"]);
  await other.goto(`${kiln.base}/console/#/usage`);
  await other.getByText("lacks the admin scope").waitFor();
  // The key is never put in a URL.
  assert.ok(!other.url().includes(kiln.uploaderKey));
  await context.close();
});

test("sign in with the keyboard", async () => {
  await page.goto(`${kiln.base}/console/`);
  await page.locator("#key").waitFor();
  await page.keyboard.type(kiln.adminKey);
  await page.keyboard.press("Enter");
  await page.locator("#nav a", { hasText: "Usage" }).waitFor();
  assert.deepEqual(await page.locator("#nav a").allTextContents(), ["Browse", "Upload", "Explain a URL", "Usage", "API reference"]);
});

test("upload photos with progress to 100%, and a refusal in Kiln's words", async () => {
  await page.goto(`${kiln.base}/console/#/upload`);
  await page.getByLabel("Path", { exact: true }).fill("/gallery/cups");
  await page.getByLabel("Alt text").fill("Colourful cups");
  await page.getByLabel("Tags").fill("kitchen, colour");
  await page.locator("#upload-files").setInputFiles(new URL("libwebp/colorfulcups-800.jpg", fixtures).pathname);
  const row = page.locator(".upload").first();
  await row.locator(".outcome a").waitFor();
  assert.equal(await row.locator("progress").evaluate((bar) => bar.value), 1);
  assert.equal(await row.locator(".percent").textContent(), "100%");

  await page.getByLabel("Path", { exact: true }).fill("/signed/boats");
  await page.locator("#upload-files").setInputFiles([
    { name: "bythewater.jpg", mimeType: "image/jpeg", buffer: await readFile(new URL("libwebp/bythewater-800.jpg", fixtures)) },
    { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not an image at all") },
  ]);
  await page.locator(".upload").nth(1).locator(".outcome").filter({ hasText: /./ }).waitFor();
  await page.locator(".upload").nth(2).locator(".outcome").filter({ hasText: /./ }).waitFor();
  const refused = page.locator(".upload .outcome.error");
  assert.equal(await refused.count(), 1);
  assert.match(await refused.textContent(), /415/);
  assert.doesNotMatch(await refused.textContent(), /vips/i);
  // Dropped on the drop zone, as a file dragged from the desktop is.
  await page.getByLabel("Path", { exact: true }).fill("/dropped/kite");
  const photo = (await readFile(new URL("libwebp/kite-800.jpg", fixtures))).toString("base64");
  const dropped = await page.evaluateHandle((base64) => {
    const transfer = new DataTransfer();
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], "kite.jpg", { type: "image/jpeg" }));
    return transfer;
  }, photo);
  await page.locator(".drop").dispatchEvent("drop", { dataTransfer: dropped });
  await page.locator(".upload", { hasText: "kite.jpg" }).locator(".outcome a").waitFor();
  assert.equal(await page.locator(".upload", { hasText: "kite.jpg" }).locator(".percent").textContent(), "100%");

  // A validator's reason, in its words and Kiln's.
  const blank = await page.evaluate(() => {
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 40;
    return canvas.toDataURL("image/png").split(",")[1];
  });
  await page.getByLabel("Path", { exact: true }).fill("/gallery/blank");
  await page.locator("#upload-files").setInputFiles({ name: "blank.png", mimeType: "image/png", buffer: Buffer.from(blank, "base64") });
  const rejected = page.locator(".upload", { hasText: "blank.png" }).locator(".outcome.error");
  await rejected.waitFor();
  assert.match(await rejected.textContent(), /not-blank/);
  assert.match(await rejected.textContent(), /rejected, 422/);
  await shot("upload");
  const stored = await (await api("GET", "/api/assets?prefix=/signed")).json();
  assert.equal(stored.entries.length, 1, "the refused file stored nothing");
});

test("browse the tree and open an entry", async () => {
  await page.goto(`${kiln.base}/console/#/browse`);
  await page.locator(".asset-path", { hasText: "/gallery/cups" }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll("img.thumb:not(.placeholder)").length === 3);
  await shot("browse");
  await page.locator(".asset-path", { hasText: "/gallery/cups" }).click();
  await page.locator("h1", { hasText: "/gallery/cups" }).waitFor();
  await page.getByText("800×500").waitFor();
  await page.waitForFunction(() => document.querySelector("img.preview:not(.placeholder)")?.complete);
  await shot("entry");
});

let copied;

test("playground: the width changes the preview, and the copied URL makes that width", async () => {
  await page.getByRole("link", { name: "Open in the playground" }).click();
  await previewDone();
  await page.getByLabel("Width").fill("300");
  await page.waitForFunction(() => document.querySelector("#result-stats")?.dataset.width === "300");
  await previewDone();
  assert.match(await page.locator("#result-stats").textContent(), /^300 × \d+ · /);
  await page.getByRole("button", { name: "Copy URL" }).click();
  copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, await page.locator("#variant-url").inputValue());
  assert.ok(copied.startsWith(`${kiln.base}/assets/gallery/cups/-/entry/1/content?`), copied);
  const response = await fetch(copied);
  assert.equal(response.status, 200);
  assert.equal(dimensions(await response.arrayBuffer()).width, 300);
  assert.match(await page.locator("#srcset").inputValue(), /w=640[^ ]* 640w/);
  await shot("playground");
});

test("playground: a plugin applied through the controls its description draws", async () => {
  await page.getByLabel("Apply duotone").check();
  await page.getByLabel("duotone: dark").fill("ff0000");
  await page.waitForFunction(() => document.querySelector("#variant-url")?.value.includes("duotone.dark=ff0000"));
  await previewDone();
  const url = await page.locator("#variant-url").inputValue();
  assert.match(url, /fx=duotone/);
  // Duotone maps every pixel between red and its default light colour (fdbb2d): no blue to speak of.
  const blue = await page.evaluate(() => {
    const img = document.querySelector("#result");
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 2; i < pixels.length; i += 4) sum += pixels[i];
    return sum / (pixels.length / 4);
  });
  assert.ok(blue < 60, `mean blue ${blue}`);
  const plain = Buffer.from(await (await fetch(copied)).arrayBuffer());
  const toned = Buffer.from(await (await fetch(url)).arrayBuffer());
  assert.ok(!plain.equals(toned));
  // Values out of a description's type or range are answered in Kiln's words, naming the parameter.
  await page.getByLabel("duotone: dark").fill("zz");
  await page.locator("#preview-error").filter({ hasText: "duotone.dark" }).waitFor();
  assert.match(await page.locator("#preview-error").textContent(), /invalid_param, 400/);
  await page.getByLabel("duotone: dark").fill("ff0000");
  await previewDone();
  await page.getByLabel("Width").fill("0");
  await page.locator("#preview-error").filter({ hasText: "invalid_param" }).waitFor();
  await page.getByLabel("Width").fill("300");
  await previewDone();
  await page.screenshot({ path: new URL("playground-plugin.png", screenshots).pathname });
});

test("playground: a profile as a preset, a focal point by clicking, a crop by dragging", async () => {
  await page.goto(`${kiln.base}/console/#/play/gallery/cups?n=1`);
  await previewDone();
  await page.getByLabel("Width").fill("");
  await page.getByLabel("Apply duotone").uncheck();
  await page.getByLabel("Profile").selectOption("thumb");
  await page.waitForFunction(() => document.querySelector("#variant-url")?.value.includes("profile=thumb"));
  await previewDone();
  assert.match(await page.locator("#result-stats").textContent(), /^160 × 160 /);

  // The original is drawn at its own aspect; a click a quarter of the way across sets fp.
  const original = page.locator("#original");
  await page.waitForFunction(() => document.querySelector("#original")?.naturalWidth > 0);
  await original.scrollIntoViewIfNeeded();
  let box = await original.boundingBox();
  await page.mouse.click(box.x + box.width * 0.25, box.y + box.height * 0.5);
  await page.waitForFunction(() => document.querySelector("#variant-url")?.value.includes("fp=0.25,0.50"));
  assert.equal(await page.getByLabel("Focal point").inputValue(), "0.25,0.50");
  await previewDone();

  // Dragging from (10%, 20%) to (60%, 70%) of the shown original crops those source pixels (800x500).
  await page.getByLabel("Focal point").fill("");
  await page.locator("#pick-mode").selectOption("crop");
  await original.scrollIntoViewIfNeeded();
  box = await original.boundingBox();
  await page.mouse.move(box.x + box.width * 0.1, box.y + box.height * 0.2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.5, { steps: 4 });
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.7, { steps: 4 });
  await page.mouse.up();
  await page.waitForFunction(() => /crop=\d+,\d+,\d+,\d+/.test(document.querySelector("#variant-url")?.value ?? ""));
  const [x, y, w, h] = (await page.getByLabel("Crop").inputValue()).split(",").map(Number);
  for (const [got, want] of [[x, 80], [y, 100], [w, 400], [h, 250]]) assert.ok(Math.abs(got - want) <= 4, `${[x, y, w, h]}`);
  await page.getByLabel("Profile").selectOption("");
  await page.getByLabel("Fit").selectOption("");
  await page.waitForFunction(() => {
    const url = document.querySelector("#variant-url")?.value ?? "";
    return url.includes("crop=") && !url.includes("profile=") && !url.includes("fit=");
  });
  await previewDone();
  const cropped = (await page.locator("#result-stats").textContent()).match(/^(\d+) × (\d+)/);
  assert.ok(Math.abs(Number(cropped[1]) - w) <= 1 && Math.abs(Number(cropped[2]) - h) <= 1, cropped[0]);
});

test("playground: where signing is on, the URL is signed by the server", async () => {
  await page.goto(`${kiln.base}/console/#/play/signed/boats?n=1`);
  await previewDone();
  await page.getByLabel("Width").fill("200");
  await page.waitForFunction(() => document.querySelector("#variant-url")?.value.includes("w=200"));
  await previewDone();
  const url = await page.locator("#variant-url").inputValue();
  assert.match(url, /[?&]s=/);
  const signed = await fetch(url);
  assert.equal(signed.status, 200);
  assert.equal(dimensions(await signed.arrayBuffer()).width, 200);
  const tampered = await fetch(url.replace("w=200", "w=201"));
  assert.equal(tampered.status, 403);
  assert.equal((await tampered.json()).error, "invalid_signature");
});

test("explain a URL", async () => {
  await page.goto(`${kiln.base}/console/#/explain`);
  await page.getByLabel("Kiln URL").fill(copied);
  await page.getByRole("button", { name: "Explain" }).click();
  await page.locator("#explain-cached").waitFor();
  assert.match(await page.locator("#explain-cached").textContent(), /yes/);
  assert.match(await page.locator("#explain-transformation").textContent(), /300/);
  assert.match(await page.locator("#explain-rules").textContent(), /"allowed-fx"/);
  await shot("explain");
});

test("usage: storage and requests drawn as charts", async () => {
  await page.goto(`${kiln.base}/console/#/usage`);
  await page.locator("#originals-count").waitFor();
  assert.equal(await page.locator("#originals-count").textContent(), "3");
  assert.ok(Number(await page.locator("#variants-count").textContent()) >= 3);
  assert.ok((await page.locator("svg.chart").count()) >= 2);
  await page.getByRole("cell", { name: "duotone" }).waitFor();
  await shot("usage");
});

test("a key confined to a prefix sees the usage under it, and why it sees no more", async () => {
  const context = await browser.newContext();
  const other = await context.newPage();
  await signIn(other, kiln.galleryKey);
  await other.locator("#nav a", { hasText: "Usage" }).waitFor();
  await other.goto(`${kiln.base}/console/#/usage`);
  await other.locator("#originals-count").waitFor();
  assert.equal(await other.locator("#originals-count").textContent(), "1");
  await other.getByText("may only touch paths under /gallery").first().waitFor();
  await other.goto(`${kiln.base}/console/#/browse`);
  await other.locator(".asset-path", { hasText: "/gallery/cups" }).waitFor();
  assert.equal(await other.locator(".asset-path").count(), 1);
  await context.close();
});

test("entry: edit metadata, purge its variants, delete it", async () => {
  await page.goto(`${kiln.base}/console/#/entry/gallery/cups?n=1`);
  await page.locator("#variants tbody tr").first().waitFor();
  await page.waitForFunction(() => document.querySelector("img.preview:not(.placeholder)")?.complete);
  await page.locator("#edit-alt").fill("Cups on a shelf");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved.").waitFor();
  const edited = await (await api("GET", "/assets/gallery/cups/-/entry/1/metadata")).json();
  assert.equal(edited.alt, "Cups on a shelf");
  assert.deepEqual(edited.tags, ["kitchen", "colour"]);

  await page.getByRole("button", { name: "Purge variants" }).click();
  await page.locator("#no-variants").waitFor();
  const left = await (await api("GET", "/api/assets/gallery/cups/-/entry/1/variants")).json();
  assert.deepEqual(left.variants, []);

  await page.getByRole("button", { name: "Delete this entry…" }).click();
  await page.getByRole("dialog").waitFor();
  await page.locator("#confirm-delete").click();
  await page.waitForURL(/#\/browse/);
  assert.equal((await api("GET", "/assets/gallery/cups/-/entry/1/metadata")).status, 404);
});

test("dark mode by preference, readable at phone width", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark", deviceScaleFactor: 2 });
  const phone = await context.newPage();
  phone.on("request", (request) => requested.push(request.url()));
  await signIn(phone, kiln.adminKey);
  await phone.locator("#nav a").first().waitFor();
  await phone.goto(`${kiln.base}/console/#/play/signed/boats?n=1`);
  await previewDone(phone);
  const background = await phone.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = background.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, background);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await shot("playground-phone-dark", phone);
  await context.close();
});

test("the API reference is drawn from the server's OpenAPI document, before signing in", async () => {
  const context = await browser.newContext();
  const other = await context.newPage();
  const asked = [];
  other.on("request", (request) => asked.push(request.url()));
  await other.goto(`${kiln.base}/console/`);
  await other.getByRole("link", { name: "Read the HTTP API reference" }).click();
  await other.locator("#op-list_assets").waitFor();
  const document = await (await fetch(`${kiln.base}/openapi.json`)).json();
  // Every operation but the HEADs (listed with their GETs) is drawn, and no more.
  const operations = Object.values(document.paths).flatMap((item) =>
    Object.entries(item).filter(([method]) => method !== "head").map(([, op]) => op.operationId),
  );
  assert.equal(await other.locator(".reference-op").count(), operations.length);
  for (const id of ["upload", "get_entry", "make_variants", "sign", "explain", "health"]) {
    assert.ok(operations.includes(id), id);
    await other.locator(`#op-${id}`).waitFor();
  }
  assert.match(await other.locator("#op-upload").locator("xpath=..").textContent(), /multipart\/form-data/);
  assert.equal(await other.locator("#openapi-raw").getAttribute("href"), "/openapi.json");
  await shot("reference", other);
  await other.getByRole("link", { name: "EntryView" }).first().click();
  await other.locator("#schema-EntryView").getByText("With every field of").waitFor();
  assert.ok(asked.every((url) => url.startsWith(kiln.base)), asked.join("\n"));
  await context.close();
});

test("the console asked nothing of any other origin", () => {
  const elsewhere = requested.filter((url) => !url.startsWith(kiln.base) && !url.startsWith("blob:") && !url.startsWith("data:"));
  assert.deepEqual(elsewhere, []);
  assert.ok(requested.length > 10);
});
