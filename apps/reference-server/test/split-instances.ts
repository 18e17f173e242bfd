/** For tests that split half-duplex sessions across instances (with @sluice/testing's startPathProxy): counters read from an instance's /metrics. */
/** A counter's value on an instance's /metrics, and its help text. */
export async function counter(url: string, name: string): Promise<{ value: number; help: string }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  const help = new RegExp(`^# HELP ${name} (.*)$`, "m").exec(text);
  if (!value || !help) throw new Error(`${name} is not on ${url}/metrics`);
  return { value: Number(value[1]), help: help[1]! };
}
