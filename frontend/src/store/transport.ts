// The WebSocket connection: connect, heartbeat, reconnect with backoff and
// jitter, close-code handling, the browser's online/offline events. It knows
// nothing about rooms or messages: frames go out through send() and come in
// through onFrame; the engine resumes rooms and resends in onOpen.
import type { ConnState } from "./state";

const PING_EVERY = 20000;
const DEAD_AFTER = 50000;

/** Exponential backoff with jitter in [0.5, 1) of the step: 0.5 s, 1 s, 2 s … 15 s. */
export function backoff(attempt: number, random: () => number): number {
  const step = Math.min(15000, 500 * 2 ** Math.min(attempt, 10));
  return Math.round(step * (0.5 + random() * 0.5));
}

/** What a close code asks for. */
export type CloseAction =
  | { kind: "signout" } // 4401: the session is gone
  | { kind: "soon" } // 1001 (the instance drains), 4408 (too slow): at once, up to 1 s jitter, attempts reset
  | { kind: "backoff"; minAttempt: number }; // 4429: back off harder; anything else: the usual backoff

export function closeAction(code: number): CloseAction {
  switch (code) {
    case 4401:
      return { kind: "signout" };
    case 1001:
    case 4408:
      return { kind: "soon" };
    case 4429:
      return { kind: "backoff", minAttempt: 4 };
    default:
      return { kind: "backoff", minAttempt: 0 };
  }
}

export interface TransportOptions {
  WebSocket: { new (url: string): WebSocket };
  url: string;
  now: () => number;
  random: () => number;
  online: () => boolean;
  /** The connection state changed (retryAt: when the next attempt starts). */
  onStatus: (conn: ConnState, retryAt: number | null) => void;
  /** A socket opened: resume rooms, resend. */
  onOpen: () => void;
  onFrame: (data: string) => void;
  /** Closed with 4401. */
  onUnauthorized?: () => void;
}

export class Transport {
  private ws: WebSocket | null = null;
  private conn: ConnState = "connecting";
  private attempt = 0;
  private everOpen = false;
  private stopped = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastFrameAt = 0;

  constructor(private o: TransportOptions) {}

  start() {
    this.stopped = false;
    this.connect();
    if (typeof window !== "undefined") {
      window.addEventListener("online", this.onOnline);
      window.addEventListener("offline", this.onOffline);
    }
  }

  stop() {
    this.stopped = true;
    if (typeof window !== "undefined") {
      window.removeEventListener("online", this.onOnline);
      window.removeEventListener("offline", this.onOffline);
    }
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "bye");
    this.marker("closed");
  }

  /** Never reconnect again (signed out); the open socket, if any, stays. */
  halt() {
    this.stopped = true;
  }

  /** Sends a frame on the open socket; false when there is none. */
  send(f: object): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(f));
    return true;
  }

  /** Reconnect now (the banner's "Retry now"). */
  retryNow = () => {
    if (this.conn === "open") return;
    this.attempt = 0;
    this.reconnectSoon(0);
  };

  private status(conn: ConnState, retryAt: number | null) {
    this.conn = conn;
    this.o.onStatus(conn, retryAt);
  }

  private onOnline = () => {
    if (this.conn !== "open") this.reconnectSoon(0);
  };

  private onOffline = () => {
    if (this.conn !== "open") this.status("offline", null);
  };

  private marker(v: string) {
    if (typeof document !== "undefined") document.body.dataset.ws = v;
  }

  private connect() {
    if (this.stopped) return;
    this.reconnectTimer = null;
    this.status(this.everOpen ? "reconnecting" : "connecting", null);
    let ws: WebSocket;
    try {
      ws = new this.o.WebSocket(this.o.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.everOpen = true;
      this.lastFrameAt = this.o.now();
      this.status("open", null);
      this.marker("open");
      this.o.onOpen();
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = setInterval(this.heartbeat, PING_EVERY);
    };
    ws.onmessage = (e: MessageEvent) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = this.o.now();
      this.o.onFrame(String(e.data));
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      this.marker("closed");
      this.onClosed(e.code);
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private heartbeat = () => {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return;
    if (this.o.now() - this.lastFrameAt > DEAD_AFTER) {
      ws.close(4000, "no answer"); // onclose reconnects
      return;
    }
    this.send({ type: "ping" });
  };

  private onClosed(code: number) {
    if (this.stopped) return;
    const a = closeAction(code);
    switch (a.kind) {
      case "signout":
        this.stopped = true;
        this.status("offline", null);
        this.o.onUnauthorized?.();
        return;
      case "soon":
        this.attempt = 0;
        this.reconnectSoon(this.o.random() * 1000);
        return;
      case "backoff":
        this.attempt = Math.max(this.attempt, a.minAttempt);
        this.scheduleReconnect();
    }
  }

  private scheduleReconnect() {
    if (!this.o.online()) {
      this.status("offline", null);
      return; // the online event reconnects
    }
    this.reconnectSoon(backoff(this.attempt++, this.o.random));
  }

  private reconnectSoon(ms: number) {
    if (this.stopped) return;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.status(this.everOpen ? "reconnecting" : "connecting", this.o.now() + ms);
    this.reconnectTimer = setTimeout(() => this.connect(), ms);
  }
}
