/** The echo service the transport tests serve: every method kind, with hooks to observe the handler. */
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { EchoService } from "@sluice/protocol/testing";

export const state = { produced: 0, countFinally: 0, sayAborted: 0 };

export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    // Removed when the sleep ends: a stream sleeping per message would pile listeners on one signal.
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

export const echoRoutes = (router: ConnectRouter) =>
  router.service(EchoService, {
    async say(request, context) {
      if (request.delayMs) {
        try {
          await sleep(request.delayMs, context.signal);
        } catch (error) {
          state.sayAborted++;
          throw error;
        }
      }
      if (request.text.includes("fail")) throw new ConnectError(`cannot say "${request.text}"`, Code.InvalidArgument);
      context.responseHeader.set("x-echo", "yes");
      context.responseTrailer.set("x-said", String(request.text.length));
      return { text: request.text };
    },
    async collect(requests) {
      const texts: string[] = [];
      for await (const request of requests) texts.push(request.text);
      return { joined: texts.join(" "), count: texts.length };
    },
    async *count(request, context) {
      try {
        for (let n = 1; n <= request.count; n++) {
          if (request.delayMs) await sleep(request.delayMs, context.signal);
          state.produced++;
          yield { n, payload: new Uint8Array(request.payloadBytes) };
        }
      } finally {
        state.countFinally++;
      }
    },
    async *chat(requests) {
      for await (const request of requests) yield { text: request.text };
    },
  });

