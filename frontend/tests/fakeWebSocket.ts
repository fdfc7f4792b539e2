// A scriptable stand-in for the browser's WebSocket (unit tests only).
export class FakeWS {
  static all: FakeWS[] = [];
  /** The newest socket. */
  static last(): FakeWS {
    return FakeWS.all[FakeWS.all.length - 1];
  }
  readyState = 0;
  sent: any[] = [];
  closedWith: { code?: number; reason?: string } | null = null;
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(public url: string) {
    FakeWS.all.push(this);
  }
  send(s: string) {
    this.sent.push(JSON.parse(s));
  }
  close(code?: number, reason?: string) {
    this.readyState = 3;
    this.closedWith = { code, reason };
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  push(v: unknown) {
    this.onmessage?.({ data: JSON.stringify(v) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  frames(type: string) {
    return this.sent.filter((f) => f.type === type);
  }
}
