// Shared helpers for the browser tests: a private gateway process, Postgres
// seeding, and Debian's chromium through playwright-core.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const FRONTEND = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = resolve(FRONTEND, "..");
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const CHROME_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

const PG_HOST = process.env.CHATGATE_E2E_PGHOST || "127.0.0.1";
const PG_PORT = process.env.CHATGATE_E2E_PGPORT || "5432";
export const DB = process.env.CHATGATE_E2E_DB || "chatgate_e2e_web";

/** A scratch dir shared by one e2e run (set by run.mjs), or a new one. */
export function workDir() {
  if (!process.env.CHATGATE_E2E_DIR) {
    const dir = mkdtempSync(join(tmpdir(), "chatgate-web-e2e-"));
    process.env.CHATGATE_E2E_DIR = dir;
    // Made here (a test file run on its own): removed when this process ends.
    if (!process.env.CHATGATE_E2E_KEEP) process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return process.env.CHATGATE_E2E_DIR;
}

/** The gateway binary, copied privately so a rebuild can't pull it from under us. */
export function gatewayBinary() {
  if (process.env.CHATGATE_E2E_BIN && existsSync(process.env.CHATGATE_E2E_BIN)) return process.env.CHATGATE_E2E_BIN;
  const src = process.env.CHATGATE_BINARY || join(REPO, "caddy");
  if (!existsSync(src)) throw new Error(`no gateway binary at ${src}: build it first (make build)`);
  const dst = join(workDir(), "caddy");
  copyFileSync(src, dst);
  execFileSync("chmod", ["+x", dst]);
  process.env.CHATGATE_E2E_BIN = dst;
  return dst;
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the gateway with the shipped Caddyfile on private ports, serving
 * frontend/dist. Returns { url, port, stop(signal), restart() }.
 */
export async function startGateway({ port } = {}) {
  const bin = gatewayBinary();
  const dir = workDir();
  const dist = process.env.CHATGATE_E2E_WEB_ROOT || join(FRONTEND, "dist");
  if (!existsSync(join(dist, "index.html"))) throw new Error("frontend/dist is missing: run npm run build");
  port ??= await freePort();
  const admin = await freePort();
  const ops = await freePort();
  const data = join(dir, "data");
  mkdirSync(data, { recursive: true });
  const env = {
    ...process.env,
    CHATGATE_ADDR: `:${port}`,
    CHATGATE_ADMIN: `127.0.0.1:${admin}`,
    // Each gateway its own operator listener (/metrics), or two collide.
    CHATGATE_OPS_ADDR: `127.0.0.1:${ops}`,
    CHATGATE_WEB_ROOT: dist,
    CHATGATE_DATA_DIR: data,
    CHATGATE_POSTGRES: `postgres://postgres@${PG_HOST}:${PG_PORT}/${DB}?sslmode=disable`,
    CHATGATE_REDIS: "",
    // The tests sign in many times from one address.
    CHATGATE_AUTH_IP_RATE: "off",
    XDG_CONFIG_HOME: join(dir, "xdg-config"),
    XDG_DATA_HOME: join(dir, "xdg-data"),
  };
  const gw = { port, url: `http://127.0.0.1:${port}`, proc: null };
  const log = join(dir, `gateway-${port}.log`);
  gw.start = async () => {
    const out = openSync(log, "a");
    gw.proc = spawn(bin, ["run", "--config", join(REPO, "Caddyfile")], { cwd: REPO, env, stdio: ["ignore", out, out] });
    const deadline = Date.now() + 30000;
    for (;;) {
      if (gw.proc.exitCode !== null) throw new Error(`gateway exited (${gw.proc.exitCode}); see ${log}`);
      try {
        const r = await fetch(gw.url + "/readyz");
        if (r.ok) return;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error(`gateway not ready in 30 s; see ${log}`);
      await sleep(100);
    }
  };
  gw.stop = async (signal = "SIGTERM") => {
    const p = gw.proc;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.once("exit", r));
    p.kill(signal);
    const t = setTimeout(() => p.kill("SIGKILL"), 15000);
    await done;
    clearTimeout(t);
  };
  gw.restart = async (signal = "SIGKILL", downMs = 0) => {
    await gw.stop(signal);
    if (downMs) await sleep(downMs);
    await gw.start();
  };
  await gw.start();
  return gw;
}

/** Drops the test database; the next gateway start creates and migrates it. */
export function dropDatabase() {
  const r = spawnSync("psql", ["-h", PG_HOST, "-p", PG_PORT, "-U", "postgres", "-d", "postgres", "-qAt", "-c", `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`cannot reach Postgres as postgres@${PG_HOST}:${PG_PORT}: ${r.stderr || r.error}`);
}

export function psql(sql) {
  const r = spawnSync("psql", ["-h", PG_HOST, "-p", PG_PORT, "-U", "postgres", "-d", DB, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** A user made over REST; returns { user, cookie, email, password }. */
export async function apiUser(base, name) {
  const email = `${name.toLowerCase().replace(/\W+/g, "")}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}@example.test`;
  const password = "correct horse battery";
  const r = await fetch(base + "/api/auth/register", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name, email, password }),
  });
  if (r.status !== 201) throw new Error(`register ${r.status}: ${await r.text()}`);
  const body = await r.json();
  return { user: body.user, token: body.token, email, password };
}

export async function apiCall(base, token, path, body, method) {
  const r = await fetch(base + path, {
    method: method ?? (body === undefined ? "GET" : "POST"),
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${path} ${r.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Seeds n messages into a room straight in Postgres (no gateway has loaded it yet). */
export function seedMessages(room, user, n, imageUrl) {
  psql(`INSERT INTO messages (room_id, seq, user_id, body, client_id, created_at)
        SELECT ${room}, g, ${user},
          CASE WHEN g % 997 = 0 AND ${imageUrl ? "true" : "false"} THEN '${imageUrl ?? ""}'
               WHEN g % 11 = 0 THEN 'Message ' || g || E'\\nwith a second line\\nand a third'
               ELSE 'Message ' || g || ' ' || repeat('lorem ipsum dolor ', (g * 7919) % 13) END,
          NULL, now() - make_interval(secs => ${n} - g)
        FROM generate_series(1, ${n}) g;
        UPDATE rooms SET last_seq = ${n} WHERE id = ${room};`);
}

export async function launch() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: CHROMIUM, args: CHROME_ARGS, headless: true });
}

/** Signs a new context in with the cookie of an API user, so tests start in the app. */
export async function contextFor(browser, base, u) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.addCookies([{ name: "chatgate_token", value: u.token, url: base }]);
  await ctx.addInitScript(() => localStorage.setItem("chatgate_user", "1"));
  return ctx;
}

/** Collects page errors and console errors for the test to assert on. */
export function watchErrors(page, into = []) {
  page.on("pageerror", (e) => into.push("pageerror: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error") into.push("console: " + m.text());
  });
  return into;
}

export const wsOpen = (page) => page.waitForSelector('body[data-ws="open"]', { timeout: 30000 });

/** Bodies of the messages the page holds for a room, in order, and how many are unacked. */
export function pageMessages(page, room) {
  return page.evaluate((room) => {
    const c = window.__chatgate.getState().chats[room];
    return c ? { bodies: c.msgs.map((m) => m.body), seqs: c.msgs.map((m) => m.seq), pending: c.pending.length } : null;
  }, room);
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
