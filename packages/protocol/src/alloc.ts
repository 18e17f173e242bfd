/**
 * Buffers that are written whole before they are read, allocated without
 * zero-filling them first where the platform can (Node's Buffer.allocUnsafe).
 *
 * `new Uint8Array(n)` zero-fills: for a 128 KiB chunk that is a second pass
 * over memory as long as the copy that fills it. Browsers have no
 * uninitialised allocation; there it is `new Uint8Array`.
 */
type AllocUnsafe = (size: number) => Uint8Array;
const nodeBuffer = (globalThis as { Buffer?: { allocUnsafe?: AllocUnsafe } }).Buffer;
const allocUnsafe: AllocUnsafe | undefined = typeof nodeBuffer?.allocUnsafe === "function" ? nodeBuffer.allocUnsafe.bind(nodeBuffer) : undefined;

/** Node's Buffer.poolSize / 2: from here on allocUnsafe allocates each buffer on its own. */
const UNPOOLED_BYTES = 4096;

/**
 * `size` bytes of unspecified content: the caller writes every one of them
 * before anything reads them. A plain Uint8Array over the memory, not the
 * Buffer itself: Buffer's `slice` shares memory where Uint8Array's copies.
 */
export function allocUninitialised(size: number): Uint8Array {
  // Below Node's pool threshold allocUnsafe hands out a slice of a shared 8 KiB
  // pool, which a long-held small buffer would pin whole; zero-filling that
  // little costs nothing.
  if (!allocUnsafe || size < UNPOOLED_BYTES) return new Uint8Array(size);
  const buffer = allocUnsafe(size);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, size);
}
