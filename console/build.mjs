// Builds the console into dist/: one bundled, minified script (esbuild, from
// src/main.ts and the two placeholder decoders), the stylesheet and the page.
// kiln embeds dist/ when it is compiled (host/build.rs). Type checking is
// `tsc --noEmit`, which `npm run build` runs first.
import { build } from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";

const dist = new URL("./dist/", import.meta.url);
await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  outfile: "dist/console.js",
  legalComments: "none",
  logLevel: "warning",
});
await copyFile(new URL("./src/index.html", import.meta.url), new URL("index.html", dist));
await copyFile(new URL("./src/style.css", import.meta.url), new URL("style.css", dist));
await copyFile(new URL("./src/icon.svg", import.meta.url), new URL("icon.svg", dist));
