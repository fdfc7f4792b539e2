import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ConnState } from "../src/store/state";
import { backoff, closeAction, Transport } from "../src/store/transport";
import { FakeWS } from "./fakeWebSocket";

function setup(opts: { online?: () => boolean; random?: () => number } = {}) {
  FakeWS.all = [];
  const status: Array<[ConnState, number | null]> = [];
  const frames: string[] = [];
  const onOpen = vi.fn();
  const onUnauthorized = vi.fn();
  const t = new Transport({
    WebSocket: FakeWS as any,
    url: "ws://test/ws",
    now: Date.now,
    random: opts.random ?? (() => 0.5),
    online: opts.online ?? (() => true),
    onStatus: (c, at) => status.push([c, at]),
    onOpen,
    onFrame: (d) => frames.push(d),
    onUnauthorized,
  });
  const conn = () => status[status.length - 1]?.[0];
  const retryIn = () => {
    const at = status[status.length - 1]?.[1];
    return at === null || at === undefined ? null : at - Date.now();
  };
  return { t, status, frames, onOpen, onUnauthorized, conn, retryIn };
}

describe("backoff", () => {
  it("grows exponentially with jitter and caps at 15 s", () => {
    expect(backoff(0, () => 0)).toBe(250);
    expect(backoff(0, () => 0.999)).toBeLessThanOrEqual(500);
    expect(backoff(3, () => 0.5)).toBe(3000);
    expect(backoff(20, () => 0.999)).toBeLessThanOrEqual(15000);
    expect(backoff(20, () => 0)).toBe(7500);
  });
});

describe("closeAction", () => {
  it("maps close codes to what the client does", () => {
    expect(closeAction(4401)).toEqual({ kind: "signout" });
    expect(closeAction(1001)).toEqual({ kind: "soon" });
    expect(closeAction(4408)).toEqual({ kind: "soon" });
    expect(closeAction(4429)).toEqual({ kind: "backoff", minAttempt: 4 });
    expect(closeAction(1006)).toEqual({ kind: "backoff", minAttempt: 0 });
    expect(closeAction(4000)).toEqual({ kind: "backoff", minAttempt: 0 });
  });
});

describe("Transport", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "setInterval", "clearTimeout", "clearInterval", "Date"] }));
  afterEach(() => vi.useRealTimers());

  it("connects, reports open, passes frames through and sends only while open", () => {
    const s = setup();
    s.t.start();
    expect(FakeWS.last().url).toBe("ws://test/ws");
    expect(s.conn()).toBe("connecting");
    expect(s.t.send({ type: "ping" })).toBe(false);
    FakeWS.last().open();
    expect(s.conn()).toBe("open");
    expect(s.onOpen).toHaveBeenCalledTimes(1);
    expect(s.t.send({ type: "typing", room: 1 })).toBe(true);
    expect(FakeWS.last().sent).toEqual([{ type: "typing", room: 1 }]);
    FakeWS.last().push([{ type: "pong" }]);
    expect(s.frames).toEqual(['[{"type":"pong"}]']);
  });

  it("reconnects with growing backoff after drops, resetting once a socket opens", () => {
    const s = setup();
    s.t.start();
    FakeWS.last().drop(1006); // never opened
    expect(s.conn()).toBe("connecting");
    expect(s.retryIn()).toBe(backoff(0, () => 0.5));
    vi.advanceTimersByTime(backoff(0, () => 0.5));
    expect(FakeWS.all).toHaveLength(2);
    FakeWS.last().drop(1006);
    expect(s.retryIn()).toBe(backoff(1, () => 0.5));
    vi.advanceTimersByTime(backoff(1, () => 0.5) - 1);
    expect(FakeWS.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeWS.all).toHaveLength(3);
    FakeWS.last().open();
    FakeWS.last().drop(1006);
    expect(s.conn()).toBe("reconnecting"); // it was open once
    expect(s.retryIn()).toBe(backoff(0, () => 0.5));
  });

  it("1001 and 4408 reconnect at once with up to 1 s jitter", () => {
    for (const code of [1001, 4408]) {
      const s = setup({ random: () => 0.25 });
      s.t.start();
      FakeWS.last().open();
      FakeWS.last().drop(code);
      expect(s.retryIn()).toBe(250);
      vi.advanceTimersByTime(250);
      expect(FakeWS.all).toHaveLength(2);
      s.t.stop();
    }
  });

  it("4429 backs off at least as long as the fifth attempt", () => {
    const s = setup();
    s.t.start();
    FakeWS.last().open();
    FakeWS.last().drop(4429);
    expect(s.retryIn()).toBe(backoff(4, () => 0.5));
  });

  it("4401 signs out and never reconnects", () => {
    const s = setup();
    s.t.start();
    FakeWS.last().open();
    FakeWS.last().drop(4401);
    expect(s.onUnauthorized).toHaveBeenCalledTimes(1);
    expect(s.conn()).toBe("offline");
    vi.advanceTimersByTime(60000);
    expect(FakeWS.all).toHaveLength(1);
    s.t.retryNow();
    expect(FakeWS.all).toHaveLength(1);
  });

  it("offline waits for the online event instead of retrying", () => {
    let online = false;
    const s = setup({ online: () => online });
    const win = new EventTarget();
    vi.stubGlobal("window", win);
    try {
      s.t.start();
      FakeWS.last().drop(1006);
      expect(s.conn()).toBe("offline");
      vi.advanceTimersByTime(60000);
      expect(FakeWS.all).toHaveLength(1);
      online = true;
      win.dispatchEvent(new Event("online"));
      vi.advanceTimersByTime(0);
      expect(FakeWS.all).toHaveLength(2);
      s.t.stop();
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("retryNow connects at once and resets the backoff", () => {
    const s = setup();
    s.t.start();
    for (let i = 0; i < 4; i++) {
      FakeWS.last().drop(1006);
      vi.runOnlyPendingTimers();
    }
    FakeWS.last().drop(1006);
    expect(s.retryIn()).toBe(backoff(4, () => 0.5));
    s.t.retryNow();
    expect(s.retryIn()).toBe(0);
    vi.advanceTimersByTime(0);
    expect(FakeWS.all).toHaveLength(6);
    FakeWS.last().drop(1006);
    expect(s.retryIn()).toBe(backoff(0, () => 0.5));
  });

  it("pings every 20 s and closes a socket silent for 50 s", () => {
    const s = setup();
    s.t.start();
    const ws = FakeWS.last();
    ws.open();
    vi.advanceTimersByTime(20000);
    expect(ws.frames("ping")).toHaveLength(1);
    vi.advanceTimersByTime(20000);
    ws.push({ type: "pong" }); // a frame keeps it alive
    vi.advanceTimersByTime(40000);
    expect(ws.closedWith).toBeNull();
    vi.advanceTimersByTime(20000); // 60 s since the last frame
    expect(ws.closedWith).toEqual({ code: 4000, reason: "no answer" });
  });

  it("ignores events of a socket it has replaced, and stop() closes with 1000", () => {
    const s = setup();
    s.t.start();
    const old = FakeWS.last();
    old.open();
    s.t.retryNow(); // open: nothing to do
    expect(FakeWS.all).toHaveLength(1);
    old.drop(1006);
    vi.advanceTimersByTime(backoff(0, () => 0.5));
    const next = FakeWS.last();
    expect(next).not.toBe(old);
    old.onclose?.({ code: 4401 }); // late event of the old one
    old.push({ type: "pong" });
    expect(s.onUnauthorized).not.toHaveBeenCalled();
    expect(s.frames).toHaveLength(0);
    next.open();
    s.t.stop();
    expect(next.closedWith).toEqual({ code: 1000, reason: "bye" });
    vi.advanceTimersByTime(60000);
    expect(FakeWS.all).toHaveLength(2);
  });

  it("halt() keeps the socket but never reconnects", () => {
    const s = setup();
    s.t.start();
    FakeWS.last().open();
    s.t.halt();
    expect(s.t.send({ type: "ping" })).toBe(true);
    FakeWS.last().drop(1006);
    vi.advanceTimersByTime(60000);
    expect(FakeWS.all).toHaveLength(1);
  });
});
