// Prints every built chunk with raw, gzip and brotli sizes, and fails the build
// when the initial JS (the entry and everything it imports statically, i.e.
// what index.html loads and modulepreloads) is over the budget.
//   node scripts/size-report.mjs dist [budgetKB]
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";

const dist = process.argv[2] ?? "dist";
const budget = Number(process.argv[3] ?? process.env.CHATGATE_INITIAL_JS_BUDGET_KB ?? 80) * 1024;
const manifestPath = join(dist, ".vite", "manifest.json");
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));

const sizes = (file) => {
  const buf = readFileSync(join(dist, file));
  return {
    raw: buf.length,
    gzip: gzipSync(buf, { level: 9 }).length,
    br: brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
};

// Initial = the entry chunk plus the closure of its static imports.
const entryKey = Object.keys(manifest).find((k) => manifest[k].isEntry);
const initial = new Set();
const initialCss = new Set();
const walk = (key) => {
  const c = manifest[key];
  if (!c || initial.has(c.file)) return;
  initial.add(c.file);
  for (const css of c.css ?? []) initialCss.add(css);
  for (const imp of c.imports ?? []) walk(imp);
};
walk(entryKey);

const files = new Map();
for (const c of Object.values(manifest)) {
  files.set(c.file, c.name ?? c.src ?? c.file);
  for (const css of c.css ?? []) files.set(css, "css");
}
const kb = (n) => (n / 1024).toFixed(1).padStart(7) + " KB";
const rows = [...files.keys()].sort().map((f) => ({ f, ...sizes(f), init: initial.has(f) || initialCss.has(f) }));
console.log("\nchunk".padEnd(52) + "raw".padStart(10) + "gzip".padStart(11) + "brotli".padStart(11) + "  loaded");
for (const r of rows) {
  console.log(r.f.padEnd(51) + kb(r.raw) + " " + kb(r.gzip) + " " + kb(r.br) + "  " + (r.init ? "initial" : "lazy"));
}
const sum = (pick) => rows.filter((r) => initial.has(r.f)).reduce((a, r) => a + r[pick], 0);
const initGz = sum("gzip");
console.log(`\ninitial JS: ${initial.size} files, ${kb(sum("raw")).trim()} raw, ${kb(initGz).trim()} gzip, ${kb(sum("br")).trim()} brotli (budget ${kb(budget).trim()} gzip)`);
const html = statSync(join(dist, "index.html")).size;
console.log(`index.html: ${html} B`);
rmSync(join(dist, ".vite"), { recursive: true, force: true }); // not for serving
if (initGz > budget) {
  console.error(`FAIL: initial JS is ${kb(initGz).trim()} gzip, over the ${kb(budget).trim()} budget`);
  process.exit(1);
}
