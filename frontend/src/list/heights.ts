// Row heights for react-window v2 keyed by message key, not by index, so a
// prepended page or a pending→stored swap keeps every measured height on its
// own row. The object duck-types react-window's DynamicRowHeight; offsetOf()
// and indexAt() use the same sums react-window positions rows with, so anchor
// math matches the DOM exactly.

export class IdHeights {
  private heights = new Map<string, number>();
  private sum = 0;
  private keys: readonly string[] = [];
  private index: Map<string, number> | null = null;
  private prefix: Float64Array | null = null;
  private prefixAvg = 0;
  private listeners = new Set<() => void>();
  private observer: ResizeObserver | null = null;
  version = 0;

  constructor(public defaultHeight: number) {}

  /** The rows in display order. Cheap when unchanged. */
  setKeys(keys: readonly string[]) {
    if (keys === this.keys) return;
    this.keys = keys;
    this.index = null;
    this.prefix = null;
  }

  get count() {
    return this.keys.length;
  }

  keyAt(i: number): string | undefined {
    return this.keys[i];
  }

  indexOf(key: string): number {
    if (!this.index) {
      this.index = new Map();
      for (let i = 0; i < this.keys.length; i++) this.index.set(this.keys[i], i);
    }
    return this.index.get(key) ?? -1;
  }

  average(): number {
    return this.heights.size ? this.sum / this.heights.size : this.defaultHeight;
  }

  heightOfKey(key: string): number | undefined {
    return this.heights.get(key);
  }

  heightAt(i: number): number | undefined {
    const k = this.keys[i];
    return k === undefined ? undefined : this.heights.get(k);
  }

  /** Records a measured height; true when it changed. */
  set(key: string, px: number): boolean {
    if (!(px > 0)) return false;
    const old = this.heights.get(key);
    if (old !== undefined && Math.abs(old - px) < 0.5) return false;
    this.sum += px - (old ?? 0);
    this.heights.set(key, px);
    this.prefix = null;
    return true;
  }

  private buildPrefix() {
    const n = this.keys.length;
    const avg = this.average();
    const p = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) p[i + 1] = p[i] + (this.heights.get(this.keys[i]) ?? avg);
    this.prefix = p;
    this.prefixAvg = avg;
    return p;
  }

  /** Top of row i (equals its translateY). */
  offsetOf(i: number): number {
    const p = this.prefix && this.prefixAvg === this.average() ? this.prefix : this.buildPrefix();
    return p[Math.max(0, Math.min(i, this.keys.length))];
  }

  total(): number {
    return this.offsetOf(this.keys.length);
  }

  /** The row covering offset y. */
  indexAt(y: number): number {
    const n = this.keys.length;
    if (n === 0) return -1;
    this.offsetOf(0);
    const p = this.prefix!;
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

  /** Measures rendered rows: one ResizeObserver, the row's data-key names the message. */
  observe(elements: Element[] | NodeListOf<Element>): () => void {
    if (typeof ResizeObserver === "undefined") return () => {};
    if (!this.observer) {
      this.observer = new ResizeObserver((entries) => {
        let changed = false;
        for (const e of entries) {
          const key = (e.target as HTMLElement).dataset.key;
          if (!key) continue;
          const px = e.borderBoxSize?.[0]?.blockSize ?? (e.target as HTMLElement).offsetHeight;
          if (this.set(key, px)) changed = true;
        }
        if (changed) this.bump();
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
