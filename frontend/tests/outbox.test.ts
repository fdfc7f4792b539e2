import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { addMessages, emptyChat, itemsOf, toItem, type Chat } from "../src/store/chat";
import { Outbox, resendFrames } from "../src/store/outbox";
import { initialState, Store } from "../src/store/state";
import type { Item } from "../src/types";

const ME = { id: 1, name: "me" };

function setup(open = true) {
  const store = new Store(initialState(ME), () => {}, () => {});
  const sent: any[] = [];
  let n = 0;
  let isOpen = open;
  const box = new Outbox({
    store,
    send: (f) => {
      if (!isOpen) return false;
      sent.push(f);
      return true;
    },
    now: () => Date.parse("2025-01-01T00:00:00Z"),
    random: () => 0.5,
    newCid: () => "id" + ++n,
  });
  const chat = (room = 10) => store.getState().chats[room];
  return { store, box, sent, chat, setOpen: (v: boolean) => (isOpen = v) };
}

const pending = (cid: string, room = 10, state: Item["state"] = "sending"): Item => ({
  room,
  seq: 0,
  user: ME,
  body: "b" + cid,
  cid,
  ts: "2025-01-01T00:00:00.000Z",
  key: "c" + cid,
  state,
});

describe("resendFrames", () => {
  it("lists every unacked send with its cid, skipping failed ones", () => {
    const chats: Record<number, Chat> = {
      10: { ...emptyChat(10), pending: [pending("a"), pending("b", 10, "failed"), pending("c")] },
      11: { ...emptyChat(11), pending: [pending("d", 11)] },
    };
    expect(resendFrames(chats)).toEqual([
      { type: "send", room: 10, body: "ba", cid: "a" },
      { type: "send", room: 10, body: "bc", cid: "c" },
      { type: "send", room: 11, body: "bd", cid: "d" },
    ]);
    expect(resendFrames({})).toEqual([]);
  });
});

describe("Outbox", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] }));
  afterEach(() => vi.useRealTimers());

  it("a send becomes a pending row keyed c<cid> and a send frame; blank bodies are ignored", () => {
    const s = setup();
    s.box.send(10, "   ");
    expect(s.chat()).toBeUndefined();
    s.box.send(10, "hi");
    expect(s.chat().pending).toEqual([{ ...pending("id1"), body: "hi" }]);
    expect(s.sent).toEqual([{ type: "send", room: 10, body: "hi", cid: "id1" }]);
  });

  it("a send while disconnected waits; resendAll sends it with the same cid", () => {
    const s = setup(false);
    s.box.send(10, "x");
    expect(s.sent).toHaveLength(0);
    s.setOpen(true);
    s.box.resendAll();
    s.box.resendAll(); // another socket: again, same cid
    expect(s.sent.map((f) => f.cid)).toEqual(["id1", "id1"]);
  });

  it("an ack stores the row under the same key; a duplicate ack and the echo change nothing", () => {
    const s = setup();
    s.box.send(10, "x");
    s.box.ack(10, "id1", 7);
    const after = s.chat();
    expect(after.pending).toHaveLength(0);
    expect(itemsOf(after).map((m) => [m.key, m.seq])).toEqual([["cid1", 7]]);
    s.box.ack(10, "id1", 7); // duplicate:true after a resend
    expect(s.chat()).toBe(after);
    const echo = toItem({ room: 10, seq: 7, user: ME, body: "x", cid: "id1", ts: after.msgs[0].ts }, ME.id);
    expect(addMessages(after, [echo])).toBe(after);
    s.box.resendAll();
    expect(s.sent).toHaveLength(1); // nothing left to resend
  });

  it("rate_limited resends by itself after 1-2 s, only while still pending", () => {
    const s = setup();
    s.box.send(10, "x");
    s.box.refused(10, "id1", "rate_limited", "slow down");
    expect(s.chat().pending[0].state).toBe("sending");
    vi.advanceTimersByTime(1499);
    expect(s.sent).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(s.sent.map((f) => f.cid)).toEqual(["id1", "id1"]);
    // Refused again, but acked before the timer: no resend.
    s.box.refused(10, "id1", "rate_limited", "slow down");
    s.box.ack(10, "id1", 3);
    vi.advanceTimersByTime(5000);
    expect(s.sent).toHaveLength(2);
  });

  it("other refusals mark the row failed; retry sends the same cid, discard drops it", () => {
    const s = setup();
    s.box.send(10, "x");
    s.box.send(10, "y");
    s.box.refused(10, "id1", "too_large", "too big");
    expect(s.chat().pending.map((p) => [p.key, p.state, p.error])).toEqual([
      ["cid1", "failed", "too big"],
      ["cid2", "sending", undefined],
    ]);
    s.box.resendAll(); // a failed row waits for Retry
    expect(s.sent.map((f) => f.cid)).toEqual(["id1", "id2", "id2"]);
    s.box.retry(10, "cid1");
    expect(s.chat().pending[0].state).toBe("sending");
    expect(s.chat().pending[0].error).toBeUndefined();
    expect(s.sent.map((f) => f.cid)).toEqual(["id1", "id2", "id2", "id1"]);
    s.box.discard(10, "cid2");
    expect(s.chat().pending.map((p) => p.key)).toEqual(["cid1"]);
    s.box.retry(10, "cid2"); // gone: nothing happens
    expect(s.sent).toHaveLength(4);
  });
});
