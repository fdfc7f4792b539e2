// Writes .br (quality 11), .gz (level 9) and .zst (zstd -19) next to every
// compressible file in dist, for Caddy's `file_server { precompressed br zstd gzip }`.
// Node 20 has no zstd in zlib, so .zst comes from the zstd CLI when present.
// A sidecar is kept only when smaller than the original; files under 256 B are skipped.
import { readdirSync, readFileSync, statSync, writeFileSync, unlinkSync } from "node:fs";
import { join, extname } from "node:path";
import { gzipSync, brotliCompressSync, constants } from "node:zlib";
import { execFileSync, spawnSync } from "node:child_process";

const dist = process.argv[2] ?? "dist";
const EXT = new Set([".js", ".mjs", ".css", ".html", ".svg", ".json", ".txt", ".map", ".xml", ".webmanifest", ".wasm"]);
const hasZstd = spawnSync("zstd", ["--version"], { stdio: "ignore" }).status === 0;
if (!hasZstd) console.warn("precompress: no zstd CLI (apt-get install zstd): skipping .zst files");

const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]));

let n = 0;
let saved = 0;
for (const file of walk(dist)) {
  if (!EXT.has(extname(file))) continue;
  const buf = readFileSync(file);
  for (const suffix of [".gz", ".br", ".zst"]) {
    try {
      unlinkSync(file + suffix);
    } catch {
      /* not there */
    }
  }
  if (buf.length < 256) continue;
  const out = {
    ".gz": gzipSync(buf, { level: 9 }),
    ".br": brotliCompressSync(buf, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: buf.length },
    }),
  };
  if (hasZstd) out[".zst"] = execFileSync("zstd", ["-19", "-q", "-c", file], { maxBuffer: 64 << 20 });
  for (const [suffix, data] of Object.entries(out)) {
    if (data.length >= buf.length) continue;
    writeFileSync(file + suffix, data);
    n++;
    if (suffix === ".br") saved += buf.length - data.length;
  }
}
console.log(`precompress: wrote ${n} sidecar files (.br saves ${(saved / 1024).toFixed(1)} KB)`);
void statSync;
