// A real `kiln` for the browser tests: started from TEST_KILN_BIN on a port of
// its own, on SQLite and files in a temporary directory, with two API keys,
// a signing key, and the duotone and not-blank plugins from TEST_KILN_WASM.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

const here = new URL(".", import.meta.url).pathname;
const root = resolve(here, "../..");

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

export async function startKiln() {
  const bin = process.env.TEST_KILN_BIN ?? join(root, "target/debug/kiln");
  const wasm = process.env.TEST_KILN_WASM ?? join(root, "target/wasm/wasm32-wasip2/release");
  const dir = await mkdtemp(join(tmpdir(), "kiln-console-"));
  const adminKey = `kiln_console_admin_${randomBytes(12).toString("hex")}`;
  const uploaderKey = `kiln_console_uploader_${randomBytes(12).toString("hex")}`;
  const galleryKey = `kiln_console_gallery_${randomBytes(12).toString("hex")}`;
  const config = `
data-dir = "${dir}/data"

[database]
url = "sqlite://${dir}/data/kiln.db"

[storage]
kind = "fs"
root = "${dir}/data/objects"

[signing]
keys = ["${randomBytes(32).toString("hex")}"]

[[api-keys]]
name = "console-admin"
sha256 = "${sha256(adminKey)}"
scopes = ["read", "write", "delete", "admin"]

[[api-keys]]
name = "uploader"
sha256 = "${sha256(uploaderKey)}"
scopes = ["write"]
prefix = "/uploads"

[[api-keys]]
name = "gallery-admin"
sha256 = "${sha256(galleryKey)}"
scopes = ["read", "admin"]
prefix = "/gallery"

[profiles.thumb]
w = 160
h = 160
fit = "cover"

[plugins.duotone]
path = "${wasm}/duotone.wasm"

[plugins.not-blank]
path = "${wasm}/not_blank.wasm"

[[paths]]
pattern = "/**"
lqip = ["thumbhash"]
allowed-fx = ["duotone"]

[[paths]]
pattern = "/gallery/**"
validators = ["not-blank"]

[[paths]]
pattern = "/signed/**"
signing = "transforms"
`;
  const file = join(dir, "kiln.toml");
  await writeFile(file, config);
  const child = spawn(bin, ["--config", file, "serve"], {
    cwd: dir,
    // kiln reads every KILN_* variable as configuration: none from outside.
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("KILN_"))),
      KILN_SERVER__LISTEN: "127.0.0.1:0",
      KILN_LOG: process.env.TEST_KILN_LOG ?? "warn",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const base = await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error("kiln did not start within 180 s")), 180_000);
    child.once("exit", (code) => reject(new Error(`kiln exited with ${code} before listening`)));
    lines.on("line", (line) => {
      if (line.startsWith("kiln listening on ")) {
        clearTimeout(timer);
        resolvePromise(line.slice("kiln listening on ".length).trim());
      }
    });
  });
  return {
    base,
    adminKey,
    uploaderKey,
    galleryKey,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Width and height of a JPEG, PNG or WebP from its bytes. */
export function dimensions(bytes) {
  const b = Buffer.from(bytes);
  if (b.subarray(1, 4).toString() === "PNG") return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  if (b.subarray(0, 4).toString() === "RIFF" && b.subarray(8, 12).toString() === "WEBP") {
    const chunk = b.subarray(12, 16).toString();
    if (chunk === "VP8 ") return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
    if (chunk === "VP8L") {
      const bits = b.readUInt32LE(21);
      return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
    }
    if (chunk === "VP8X") return { width: 1 + b.readUIntLE(24, 3), height: 1 + b.readUIntLE(27, 3) };
  }
  if (b[0] === 0xff && b[1] === 0xd8) {
    let at = 2;
    while (at < b.length) {
      const marker = b[at + 1];
      const length = b.readUInt16BE(at + 2);
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { height: b.readUInt16BE(at + 5), width: b.readUInt16BE(at + 7) };
      }
      at += 2 + length;
    }
  }
  throw new Error("not a JPEG, PNG or WebP");
}
