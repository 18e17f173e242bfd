/**
 * The files the server ships with beside its code: the example page
 * (dist/public) and the sample data of the embedded defaults (data/).
 * Everything that reads one of them goes through here, because the single-file
 * build (bundle.ts) replaces this module with one that carries the shipped
 * files inline, so `node sluice-server.mjs` needs no other file. Paths
 * outside `packageRoot` (a user's config, its JSON Lines files, TLS keys)
 * are read from disk in both builds.
 */
import { accessSync, constants, createReadStream, readFileSync } from "node:fs";
import { access } from "node:fs/promises";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";

/** The package's directory: dist/ and data/ are in it. */
export const packageRoot = fileURLToPath(new URL("..", import.meta.url));

/** The whole file at `path`; throws like fs.readFileSync. */
export function readFile(path: string): Buffer {
  return readFileSync(path);
}

/** The file at `path` from byte `start`, as a stream. */
export function openFile(path: string, start: number): Readable {
  return createReadStream(path, { start });
}

/** Resolves when `path` is readable; rejects with the fs error (its `code` says why). */
export async function checkReadable(path: string): Promise<void> {
  await access(path, constants.R_OK);
}

/** Throws the fs error unless `path` is readable. */
export function checkReadableSync(path: string): void {
  accessSync(path, constants.R_OK);
}
