/**
 * Servers the loadgen starts itself (a scenario's `servers`), so chaos can
 * SIGKILL and restart them or drain them with SIGTERM. Each keeps its port
 * across restarts, so clients (and the proxy in front) find it again.
 */
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { resolve } from "node:path";
import type { ServerSpec } from "./scenario.js";

/** A free TCP port on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** Resolves once something accepts connections on the port, or rejects after `timeoutMs`. */
async function waitForPort(port: number, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = exited();
    if (why) throw new Error(why);
    const open = await new Promise<boolean>((done) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        done(true);
      });
      socket.once("error", () => done(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

/** One server process the loadgen runs. */
export class ManagedServer {
  #child: ChildProcess | undefined;
  #exit: string | undefined;
  /** Its last lines of output, for the error when it fails to start. */
  readonly #tail: string[] = [];
  /** Called when the process exits without the loadgen asking (a crash). */
  onUnexpectedExit: ((detail: string) => void) | undefined;
  #stopping = false;

  private constructor(
    readonly spec: ServerSpec,
    /** Its port (kept across restarts). */
    readonly port: number,
    readonly baseDir: string,
  ) {}

  /** Picks its port and starts it; resolves once it listens. */
  static async start(spec: ServerSpec, baseDir: string): Promise<ManagedServer> {
    const server = new ManagedServer(spec, spec.port === "auto" ? await freePort() : spec.port, baseDir);
    await server.restart();
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.#child !== undefined && this.#exit === undefined;
  }

  /** Starts the process (again) on the same port; resolves once it listens. */
  async restart(): Promise<void> {
    const fill = (text: string) => text.replaceAll("{port}", String(this.port));
    const [command, ...args] = this.spec.command.map(fill);
    const env = { ...process.env, ...Object.fromEntries(Object.entries(this.spec.env).map(([k, v]) => [k, fill(v)])) };
    this.#exit = undefined;
    this.#stopping = false;
    const child = spawn(command!, args, { cwd: this.spec.cwd ? resolve(this.baseDir, this.spec.cwd) : this.baseDir, env, stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    const keep = (data: Buffer) => {
      for (const line of data.toString().split("\n")) if (line) this.#tail.push(line);
      this.#tail.splice(0, Math.max(0, this.#tail.length - 20));
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    child.once("exit", (code, signal) => {
      this.#exit = `server ${this.spec.name} exited (${signal ?? `code ${code}`})`;
      if (!this.#stopping) this.onUnexpectedExit?.(this.#exit);
    });
    child.once("error", (error) => {
      this.#exit = `server ${this.spec.name} could not start: ${error.message}`;
    });
    try {
      await waitForPort(this.port, this.spec.startTimeout, () => this.#exit);
    } catch (error) {
      child.kill("SIGKILL");
      throw new Error(`server ${this.spec.name}: ${(error as Error).message}${this.#tail.length ? `; its last output:\n  ${this.#tail.join("\n  ")}` : ""}`);
    }
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs`). */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 15_000): Promise<void> {
    const child = this.#child;
    if (!child || this.#exit !== undefined) return;
    this.#stopping = true;
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
