/**
 * Log lines for people: `LOG_FORMAT=pretty` (the default on a terminal)
 * turns pino's JSON lines into `12:00:01.234 INFO  listening url=… streams=…`;
 * `json` (the default otherwise: files, pipes, collectors) keeps them as
 * they are.
 */
const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO ", 40: "WARN ", 50: "ERROR", 60: "FATAL" };
const OMITTED = new Set(["level", "time", "msg", "pid", "hostname", "service"]);

export type LogFormat = "pretty" | "json";

/** The format `LOG_FORMAT` asks for (pretty on a terminal when unset); throws naming a value that is neither. */
export function logFormatOf(value: string | undefined, isTerminal: boolean): LogFormat {
  if (value === undefined || value === "") return isTerminal ? "pretty" : "json";
  if (value === "pretty" || value === "json") return value;
  throw new Error(`LOG_FORMAT must be pretty or json, got ${JSON.stringify(value)}`);
}

/** One pino JSON line as a pretty line (a line that is not JSON passes through). */
export function prettyLine(line: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof entry.time === "number" ? new Date(entry.time).toISOString().slice(11, 23) : "";
  const fields = Object.entries(entry)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${key}=${typeof value === "string" && !/\s/.test(value) ? value : JSON.stringify(value)}`);
  return `${time} ${LEVELS[entry.level as number] ?? String(entry.level)} ${String(entry.msg ?? "")}${fields.length ? ` ${fields.join(" ")}` : ""}\n`;
}
