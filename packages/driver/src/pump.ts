/**
 * The one loop that runs a sans-IO machine (quinn-proto's driver shape):
 * handle input → poll events → transmit → arm the deadline → wait. Both
 * halves of a subscription (serveSession, Subscription) run their machine
 * through it, so the rule "every input re-arms the machine's next deadline"
 * exists once: a chunk opened by a new item gets its flush deadline at once,
 * not when the loop next happens to wait (the live-latency defect of issue 13:
 * items of a slow source sat in the open chunk until the next heartbeat).
 */
import { DeadlineTimer, type Clock } from "./clock.js";
import { WakeSignal } from "./wake-signal.js";

/** What the pump needs of a machine: core's StreamSender and StreamReceiver have it. */
export interface PumpedMachine<Out, Event> {
  readonly hasTransmit: boolean;
  readonly hasEvent: boolean;
  pollTransmit(): Out | undefined;
  pollEvent(): Event | undefined;
  /** The earliest time handleTimeout has work. */
  pollTimeout(): number | undefined;
  handleTimeout(now: number): void;
}

export interface PumpOptions<Out, Event> {
  readonly machine: PumpedMachine<Out, Event>;
  readonly clock: Clock;
  /** One event from the machine (synchronous: it may feed the machine more input). */
  onEvent(event: Event): void;
  /** Hands one frame to the transport; a promise is the transport's backpressure. */
  send(frame: Out): void | Promise<void>;
  /** After a frame has been handed over (latency sampling). */
  afterSend?(frame: Out): void;
  /** Checked after events and transmits: stop the loop. */
  done(): boolean;
}

export class Pump<Out, Event> {
  readonly #options: PumpOptions<Out, Event>;
  readonly #machine: PumpedMachine<Out, Event>;
  readonly #clock: Clock;
  readonly #timer: DeadlineTimer;
  readonly #wake = new WakeSignal();
  /** stop() was called: the machine's life is over, and nothing arms the timer again. */
  #stopped = false;

  constructor(options: PumpOptions<Out, Event>) {
    this.#options = options;
    this.#machine = options.machine;
    this.#clock = options.clock;
    this.#timer = new DeadlineTimer(options.clock, () => {
      const machine = this.#machine;
      machine.handleTimeout(this.#clock.now());
      // A deadline that moved on since the timer was set (a ping that rode on
      // a pong, a timeout that traffic postponed) leaves nothing to do: re-arm
      // without running the loop (with 10 000 idle sessions, one wake-up each
      // per heartbeat interval).
      // No deadline left may mean the machine closed: the loop looks.
      const next = machine.pollTimeout();
      if (machine.hasTransmit || machine.hasEvent || next === undefined) this.#wake.notify();
      else if (!this.#stopped) this.#timer.arm(next);
    });
  }

  /**
   * The machine took input (a frame, an item, a read, an ack): re-arm its
   * deadline, and wake the loop only when there is something to send or
   * handle, so a million items a second cost no wake-up each.
   */
  afterInput(): void {
    if (this.#stopped) return;
    const machine = this.#machine;
    this.#timer.arm(machine.pollTimeout());
    if (machine.hasTransmit || machine.hasEvent) this.#wake.notify();
  }

  /** Something outside the machine changed (an input stream ended, a source is ready): run the loop. */
  wake(): void {
    this.#wake.notify();
  }

  /** Runs until `done()`; the timer stops with it. */
  async run(): Promise<void> {
    // Called as methods: the options may be a class instance (a served session is).
    const options = this.#options;
    const machine = this.#machine;
    try {
      for (;;) {
        for (let event = machine.pollEvent(); event !== undefined; event = machine.pollEvent()) options.onEvent(event);
        for (let frame = machine.pollTransmit(); frame !== undefined; frame = machine.pollTransmit()) {
          const pending = options.send(frame);
          if (pending) await pending;
          options.afterSend?.(frame);
        }
        if (options.done()) return;
        // Sending may have taken time (backpressure) while input arrived.
        if (machine.hasEvent || machine.hasTransmit) continue;
        this.#timer.arm(machine.pollTimeout());
        await this.#wake.wait();
      }
    } finally {
      this.#timer.stop();
    }
  }

  /**
   * Stops the timer for good: input that still arrives (a reader or a
   * source loop winding down) no longer arms it. Without this a served
   * session's last afterInput armed its next heartbeat after the loop had
   * ended, and that timer kept the whole session (its queued chunks
   * included) reachable until it fired. run() alone stops the timer only
   * until the next run (a subscription runs one per connection).
   */
  stop(): void {
    this.#stopped = true;
    this.#timer.stop();
  }
}
