/** Drains a sans-IO poll method (pollTransmit, pollEvent, read) into an array. */
export function pollAll<T>(poll: () => T | undefined): T[] {
  const out: T[] = [];
  for (let value = poll(); value; value = poll()) out.push(value);
  return out;
}
