// The browser test suite in one command: `npm run e2e`.
// Uses the built frontend/dist and the gateway binary ../caddy (copied to a
// private temp dir), a fresh Postgres database, and Debian's chromium. Each
// test file starts and stops its own gateway; files run one at a time so the
// frame-time and Lighthouse measurements have the CPU to themselves.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CHROMIUM, dropDatabase, FRONTEND, gatewayBinary, workDir } from "./lib.mjs";

const die = (msg) => {
  console.error("e2e: " + msg);
  process.exit(1);
};
if (!existsSync(join(FRONTEND, "dist", "index.html"))) die("frontend/dist is missing: run `npm run build` first");
if (!existsSync(CHROMIUM)) die(`no chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
const dir = workDir();
gatewayBinary();

// A fresh database for every run; the gateway creates and migrates it.
try {
  dropDatabase();
} catch (e) {
  die(e.message);
}

const files = (process.argv.slice(2).length ? process.argv.slice(2) : ["chat", "ux", "restart", "bigroom", "lighthouse", "security"]).map((f) =>
  join(FRONTEND, "e2e", f.endsWith(".mjs") ? f : `${f}.test.mjs`),
);
const t0 = Date.now();
const r = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...files], {
  stdio: "inherit",
  env: process.env,
  cwd: FRONTEND,
});
if (!process.env.CHATGATE_E2E_KEEP) rmSync(dir, { recursive: true, force: true });
console.log(`e2e: ${r.status === 0 ? "passed" : "FAILED"} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
process.exit(r.status ?? 1);
