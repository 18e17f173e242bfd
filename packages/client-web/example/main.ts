/**
 * The example page: subscribe to a stream, show the latest items, the window,
 * the transport in use and a throughput chart (items/s, last 60 s). It lists
 * the server's streams (GET /streams) to pick from and starts the default
 * stream on load, so the first thing a visitor sees is the product working;
 * a publish box sends items into a stream that takes them, both directions
 * on one page.
 */
import { createSluiceClient, PublishError, type SluicePublisher, type SluiceStream, type SubscribeOptions, type WebSluiceClient } from "../src/index.js";

type JsonObject = NonNullable<SubscribeOptions<unknown>["params"]>;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let client: WebSluiceClient | undefined;
let current: SluiceStream<unknown> | undefined;
/** Why the current stream was cancelled, if it was. */
let cancelledBecause: string | undefined;
const history: number[] = []; // items/s, one per second

function drawChart(): void {
  const canvas = $<HTMLCanvasElement>("chart");
  const context = canvas.getContext("2d")!;
  context.clearRect(0, 0, canvas.width, canvas.height);
  const max = Math.max(1, ...history);
  context.beginPath();
  history.forEach((value, i) => {
    const x = (i / 59) * canvas.width;
    const y = canvas.height - (value / max) * (canvas.height - 10) - 5;
    if (i === 0) context.moveTo(x, y);
    else context.lineTo(x, y);
  });
  context.strokeStyle = "#2563eb";
  context.lineWidth = 2;
  context.stroke();
  context.fillStyle = "#666";
  context.fillText(`${max.toLocaleString("en-US")} items/s`, 4, 12);
}

/** Every figure, the chart and the item list back to empty: one run's numbers never mix with the next's. */
function clearRun(): void {
  for (const id of ["items", "rate", "reconnects", "gaps", "stalls"]) $(id).textContent = "0";
  $("mbps").textContent = "0";
  $("windowShown").textContent = "–";
  $("transportShown").textContent = "–";
  $("latest").replaceChildren();
  $("sampling").textContent = "";
  history.length = 0;
  drawChart();
}

async function run(event?: SubmitEvent): Promise<void> {
  event?.preventDefault();
  let params: JsonObject;
  try {
    params = JSON.parse($<HTMLInputElement>("params").value || "{}") as JsonObject;
    if (typeof params !== "object" || params === null || Array.isArray(params)) throw new Error("expected an object, like {\"count\": 100}");
  } catch (error) {
    $("status").textContent = `params: not a JSON object: ${(error as Error).message}`;
    $("status").className = "error";
    return;
  }
  current?.cancel("restarted");
  cancelledBecause = undefined;
  client?.close();
  clearRun();
  client = createSluiceClient({ transport: $<HTMLSelectElement>("transport").value as "auto" | "connect" | "websocket" });
  // An empty window field asks for the stream's default window (the server announces it).
  const windowItems = Number($<HTMLInputElement>("window").value);
  const stream = client.subscribe<unknown>($<HTMLInputElement>("stream").value, {
    params,
    ...(windowItems > 0 ? { window: { items: windowItems, bytes: 4 * 1024 * 1024 } } : {}),
  });
  current = stream;
  $("windowShown").textContent = "…";
  $<HTMLButtonElement>("stop").disabled = false;
  $("status").textContent = "streaming…";
  $("status").className = "";
  let lastItems = 0;
  let lastBytes = 0;
  const showStats = () => {
    const { items, transport, reconnects, gaps, creditStalls, window } = stream.stats;
    // The window in force, as the server granted it (it may clamp the request).
    if (window) $("windowShown").textContent = `${window.items.toLocaleString("en-US")} items / ${(window.bytes / 1024 / 1024).toFixed(window.bytes % (1024 * 1024) === 0 ? 0 : 2)} MiB`;
    $("items").textContent = items.toLocaleString("en-US");
    $("transportShown").textContent = transport;
    $("reconnects").textContent = String(reconnects);
    $("gaps").textContent = String(gaps);
    $("stalls").textContent = String(creditStalls);
  };
  // Only the current run writes to the page: a run cancelled by a restart ends quietly.
  const isCurrent = () => current === stream;
  const timer = setInterval(() => {
    if (!isCurrent()) return;
    const { items, bytes } = stream.stats;
    history.push(items - lastItems);
    if (history.length > 60) history.shift();
    $("rate").textContent = (items - lastItems).toLocaleString("en-US");
    $("mbps").textContent = ((bytes - lastBytes) / 1e6).toFixed(2);
    lastItems = items;
    lastBytes = bytes;
    showStats();
    drawChart();
  }, 1000);
  const latest = $("latest");
  let shown = 0;
  try {
    for await (const item of stream) {
      if (!isCurrent()) continue;
      // Render at most ~20 rows a second: the page must not be the bottleneck.
      if (item.kind === "gap") {
        const li = document.createElement("li");
        li.textContent = `gap: ${item.count} items from seq ${item.fromSeq} (${item.reason})`;
        latest.prepend(li);
      } else if (++shown % Math.max(1, Math.floor(stream.stats.items / 200)) === 0 || shown < 20) {
        const every = Math.max(1, Math.floor(stream.stats.items / 200));
        $("sampling").textContent = every > 1 ? `showing every ${every.toLocaleString("en-US")}th item (of ${stream.stats.items.toLocaleString("en-US")}): the page draws at most a few rows a second` : "";
        const li = document.createElement("li");
        li.value = item.seq;
        li.textContent = JSON.stringify(item.value);
        latest.prepend(li);
        while (latest.children.length > 50) latest.lastElementChild!.remove();
      }
    }
    // A cancelled stream ends quietly, like a finished one; say which it was.
    if (isCurrent()) $("status").textContent = cancelledBecause ? `stream cancelled: ${cancelledBecause}` : "stream ended";
  } catch (error) {
    if (isCurrent()) {
      $("status").textContent = error instanceof Error ? error.message : String(error);
      $("status").className = "error";
    }
  } finally {
    clearInterval(timer);
    if (isCurrent()) {
      showStats();
      $<HTMLButtonElement>("stop").disabled = true;
    }
  }
}

/** One client and one publisher per stream for the publish box, kept across publishes (the numbering goes on). */
let publishClient: WebSluiceClient | undefined;
const publishers = new Map<string, SluicePublisher<unknown>>();

async function publish(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const status = $("publishStatus");
  let value: unknown;
  try {
    value = JSON.parse($<HTMLInputElement>("publishValue").value);
  } catch (error) {
    status.textContent = `item: not JSON: ${(error as Error).message}`;
    status.className = "error";
    return;
  }
  const name = $<HTMLInputElement>("publishStream").value;
  const transport = $<HTMLSelectElement>("transport").value as "auto" | "connect" | "websocket";
  publishClient ??= createSluiceClient({ transport });
  let publisher = publishers.get(name);
  if (!publisher || publisher.state.state === "failed" || publisher.state.state === "closed") {
    publisher = publishClient.publish<unknown>(name);
    publishers.set(name, publisher);
  }
  const started = performance.now();
  status.textContent = "publishing…";
  status.className = "note";
  try {
    const { seq } = await publisher.send(value);
    status.textContent = `accepted into ${name} as the publisher's item ${seq}, in ${Math.round(performance.now() - started)} ms (${publisher.stats.transport})`;
  } catch (error) {
    status.textContent = error instanceof PublishError ? `${error.failure}: ${error.message}` : String(error);
    status.className = "error";
  }
}

/** The server's streams (GET /streams) as the stream field's suggestions and a line under the figures. */
async function listStreams(): Promise<void> {
  try {
    const response = await fetch("/streams");
    if (!response.ok) return;
    const { streams } = (await response.json()) as { streams: { name: string; source: string; params: string[]; live: boolean; publish?: boolean }[] };
    $("streams").replaceChildren(...streams.map((s) => Object.assign(document.createElement("option"), { value: s.name })));
    $("publishable").replaceChildren(...streams.filter((s) => s.publish).map((s) => Object.assign(document.createElement("option"), { value: s.name })));
    $("offered").textContent = `streams here: ${streams.map((s) => `${s.name} (${s.source}${s.live ? ", live" : ""}${s.params.length ? `; params ${s.params.join(", ")}` : ""})`).join(" · ")}`;
  } catch {
    /* not a server that lists its streams: the field still takes any name */
  }
}

$<HTMLFormElement>("controls").addEventListener("submit", (event) => void run(event));
$<HTMLFormElement>("publishForm").addEventListener("submit", (event) => void publish(event));
void listStreams();
// The default stream starts at once (?autostart=0 to wait for the button).
if (new URLSearchParams(location.search).get("autostart") !== "0") void run();
$("stop").addEventListener("click", () => {
  cancelledBecause = "stopped by the user";
  current?.cancel(cancelledBecause);
});
