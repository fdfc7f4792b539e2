import { describe, expect, it, vi } from "vitest";
import { emptyChat } from "../src/store/chat";
import { initialState, Store } from "../src/store/state";
import type { ServerEvent } from "../src/types";

function setup() {
  const queue: (() => void)[] = [];
  const applied: ServerEvent[][] = [];
  let store!: Store;
  store = new Store(
    initialState({ id: 1, name: "me" }),
    (fn) => queue.push(fn),
    (events) => {
      applied.push(events);
      store.set({ roomsError: "applied " + events.length }); // changes while flushing don't schedule again
    },
  );
  const run = () => {
    while (queue.length) queue.shift()!();
  };
  return { store, queue, applied, run };
}

describe("Store", () => {
  it("batches changes and frames into one flush per frame and notifies once", () => {
    const s = setup();
    const l = vi.fn();
    const unsub = s.store.subscribe(l);
    s.store.set({ conn: "open" });
    s.store.receive(JSON.stringify({ type: "pong" }));
    s.store.receive(JSON.stringify([{ type: "typing", room: 1, user: 2 }, { type: "pong" }]));
    s.store.receive("not json");
    expect(s.queue).toHaveLength(1);
    expect(l).not.toHaveBeenCalled();
    expect(s.store.getState().conn).toBe("open"); // the snapshot moves at once; subscribers hear at the flush
    s.run();
    expect(s.applied).toEqual([[{ type: "pong" }, { type: "typing", room: 1, user: 2 }, { type: "pong" }]]);
    expect(s.store.getState().roomsError).toBe("applied 3");
    expect(s.queue).toHaveLength(0);
    expect(l).toHaveBeenCalledTimes(1);
    unsub();
    s.store.set({ conn: "offline" });
    s.run();
    expect(l).toHaveBeenCalledTimes(1);
  });

  it("keeps references of untouched slices (selectors stay stable)", () => {
    const s = setup();
    s.store.set({ rooms: [{ id: 1, name: "a", is_private: false, member_count: 1, last_seq: 0, joined: true }], chats: { 1: emptyChat(1) } });
    const before = s.store.getState();
    s.store.setRoom(1, { last_seq: 5 });
    const after = s.store.getState();
    expect(after.chats).toBe(before.chats);
    expect(after.rooms).not.toBe(before.rooms);
    expect(s.store.room(1)?.last_seq).toBe(5);
    s.store.setChat(1, (c) => c); // no change, no new state
    expect(s.store.getState()).toBe(after);
    s.store.setChat(2, () => emptyChat(2)); // not cached: ignored
    s.store.setRoom(2, { last_seq: 1 }); // not listed: ignored
    expect(s.store.getState()).toBe(after);
  });
});
