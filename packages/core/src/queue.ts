/**
 * A FIFO queue with O(1) push and shift: an array read from a moving head,
 * compacted once the consumed prefix is both large and most of the array
 * (Array.prototype.shift is O(n) per call, which made a deep queue
 * quadratic). The FIFO buffers of core, the driver and the protocol are one
 * of these; SubscriberQueue keeps its own array, as it rewrites entries at
 * its head.
 */
export class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  /** Items in the queue. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Appends `item` as the newest. */
  push(item: T): void {
    this.#items.push(item);
  }

  /** The oldest item, without removing it. */
  peek(): T | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head] : undefined;
  }

  /** The item `index` places after the oldest (0 is the oldest). */
  at(index: number): T | undefined {
    return index >= 0 && index < this.length ? this.#items[this.#head + index] : undefined;
  }

  /** Replaces the item `index` places after the oldest (a queue that merges entries in place). */
  set(index: number, item: T): void {
    if (!(index >= 0 && index < this.length)) throw new RangeError(`queue index ${index} outside 0..${this.length - 1}`);
    this.#items[this.#head + index] = item;
  }

  /** Removes the item `index` places after the oldest (O(n): for the rare merge, not the hot path). */
  removeAt(index: number): void {
    if (!(index >= 0 && index < this.length)) throw new RangeError(`queue index ${index} outside 0..${this.length - 1}`);
    this.#items.splice(this.#head + index, 1);
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head];
    // Drop the reference now: a consumed item must not stay reachable until compaction.
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes every item. */
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }

  /** Iterates from the oldest item to the newest, without removing them. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i] as T;
  }
}
