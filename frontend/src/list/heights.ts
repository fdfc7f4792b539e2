// Row heights for react-window v2 keyed by message key, not by index, so a
// prepended page or a pending→stored swap keeps every measured height on its
// own row. The object duck-types react-window's DynamicRowHeight; offsetOf()
// and indexAt() use the same sums react-window positions rows with, so anchor
// math matches the DOM exactly.
//
// Unmeasured rows count as a fixed estimate (learned once from the first
// measurements, then frozen), not a running average: a row measuring exactly
// the estimate then moves nothing and costs no re-layout, and the per-index
// array makes react-window's offset walk over 100,000 rows a plain array read.

export class IdHeights {
  private measured = new Map<string, number>();
  private keys: readonly string[] = [];
  private index: Map<string, number> | null = null;
  /** Height used for row i: measured, else the estimate. */
  private h: Float64Array = new Float64Array(0);
  /** prefix[i] = top of row i; built lazily, patched in place on measurement. */
  private prefix: Float64Array | null = null;
  private estimate: number;
  private frozen = false;
  private listeners = new Set<() => void>();
  private observer: ResizeObserver | null = null;
  version = 0;

  constructor(defaultHeight: number) {
    this.estimate = defaultHeight;
  }

  /** The rows in display order. Cheap when unchanged. */
  setKeys(keys: readonly string[]) {
    if (keys === this.keys) return;
    this.keys = keys;
    this.index = null;
    this.prefix = null;
    const h = new Float64Array(keys.length);
    for (let i = 0; i < keys.length; i++) h[i] = this.measured.get(keys[i]) ?? this.estimate;
    this.h = h;
  }

  get count() {
    return this.keys.length;
  }

  keyAt(i: number): string | undefined {
    return this.keys[i];
  }

  indexOf(key: string): number {
    if (!this.index) {
      const m = new Map<string, number>();
      for (let i = 0; i < this.keys.length; i++) m.set(this.keys[i], i);
      this.index = m;
    }
    return this.index.get(key) ?? -1;
  }

  /** The height unmeasured rows are laid out with. */
  average(): number {
    return this.estimate;
  }

  heightOfKey(key: string): number | undefined {
    return this.measured.get(key);
  }

  heightAt(i: number): number | undefined {
    return i >= 0 && i < this.h.length ? this.h[i] : undefined;
  }

  /** Records a measured height; true when a row moved (layout must be redone). */
  set(key: string, px: number): boolean {
    if (!(px > 0)) return false;
    const old = this.measured.get(key);
    if (old !== undefined && Math.abs(old - px) < 0.5) return false;
    this.measured.set(key, px);
    const i = this.indexOf(key);
    if (i < 0) return false; // not shown now: used when it is
    const d = px - this.h[i];
    if (Math.abs(d) < 0.5) return false; // measured what we assumed: nothing moves
    this.h[i] = px;
    const p = this.prefix;
    if (p) for (let j = i + 1; j < p.length; j++) p[j] += d;
    return true;
  }

  /** Freezes the estimate at the median of the first measurements (once). */
  private learn(samples: number[]) {
    if (this.frozen || samples.length < 3) return false;
    this.frozen = true;
    const s = samples.sort((a, b) => a - b);
    const est = Math.round(s[s.length >> 1]);
    if (est === this.estimate) return false;
    this.estimate = est;
    for (let i = 0; i < this.keys.length; i++) if (!this.measured.has(this.keys[i])) this.h[i] = est;
    this.prefix = null;
    return true;
  }

  private buildPrefix(): Float64Array {
    const n = this.keys.length;
    const p = new Float64Array(n + 1);
    const h = this.h;
    for (let i = 0; i < n; i++) p[i + 1] = p[i] + h[i];
    this.prefix = p;
    return p;
  }

  /** Top of row i (equals its translateY). */
  offsetOf(i: number): number {
    const p = this.prefix ?? this.buildPrefix();
    return p[Math.max(0, Math.min(i, this.keys.length))];
  }

  total(): number {
    return this.offsetOf(this.keys.length);
  }

  /** The row covering offset y. */
  indexAt(y: number): number {
    const n = this.keys.length;
    if (n === 0) return -1;
    const p = this.prefix ?? this.buildPrefix();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (p[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  subscribe(l: () => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private bump() {
    this.version++;
    for (const l of this.listeners) l();
  }

  /** Applies one batch of measurements; bumps the version if anything moved. */
  measure(batch: Array<[string, number]>) {
    let changed = false;
    if (!this.frozen) changed = this.learn(batch.map(([, px]) => px));
    for (const [key, px] of batch) if (this.set(key, px)) changed = true;
    if (changed) this.bump();
  }

  /** Measures rendered rows: one ResizeObserver, the row's data-key names the message. */
  observe(elements: Element[] | NodeListOf<Element>): () => void {
    if (typeof ResizeObserver === "undefined") return () => {};
    if (!this.observer) {
      this.observer = new ResizeObserver((entries) => {
        const batch: Array<[string, number]> = [];
        for (const e of entries) {
          const key = (e.target as HTMLElement).dataset.key;
          if (!key) continue;
          batch.push([key, e.borderBoxSize?.[0]?.blockSize ?? (e.target as HTMLElement).offsetHeight]);
        }
        if (batch.length) this.measure(batch);
      });
    }
    const obs = this.observer;
    const list = Array.from(elements);
    for (const el of list) obs.observe(el);
    return () => {
      for (const el of list) obs.unobserve(el);
    };
  }
}
