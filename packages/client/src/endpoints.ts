/**
 * Several server endpoints as one Connect transport: calls go to the
 * current endpoint, and a call that fails because the endpoint is not
 * there (Connect `unavailable`: refused, reset, gone mid-stream) moves the
 * client to the next one, round robin. The sessions' own reconnect then
 * resumes there: a stream's position is its seq, which every instance of a
 * shared topic engine serves alike (PROTOCOL.md §7).
 *
 * Nothing is retried here: a request stream may have been read already,
 * so only the session layer, which knows where it stands, may try again.
 */
import { Code, ConnectError, type Transport } from "@connectrpc/connect";

/** A transport over several endpoints; `endpoint` is the index calls go to now. */
export interface EndpointsTransport extends Transport {
  /** The endpoint calls go to now (an index into the list it was made with). */
  readonly endpoint: number;
  /**
   * Moves on from endpoint `from` to the next (a session there was told to
   * go elsewhere, or its connection went silent: failures the transport
   * itself did not see); nothing when calls have moved on already.
   */
  moveOn(from: number): void;
}

/** Whether a call's failure says the endpoint is not there (as opposed to a refusal it answered with). */
function endpointDown(error: unknown): boolean {
  return ConnectError.from(error).code === Code.Unavailable;
}

/** Calls go to `transports[endpoint]`; an `unavailable` failure of a call moves on to the next endpoint. */
export function endpointsTransport(transports: readonly Transport[]): EndpointsTransport {
  if (transports.length === 0) throw new RangeError("endpointsTransport: at least one endpoint");
  let endpoint = 0;
  /** Moves on from `from`, unless another call moved on already. */
  const leave = (from: number) => {
    if (endpoint === from) endpoint = (from + 1) % transports.length;
  };
  return {
    get endpoint() {
      return endpoint;
    },
    moveOn: leave,
    async unary(...args) {
      const at = endpoint;
      try {
        return await transports[at]!.unary(...args);
      } catch (error) {
        if (endpointDown(error)) leave(at);
        throw error;
      }
    },
    async stream(...args) {
      const at = endpoint;
      let response;
      try {
        response = await transports[at]!.stream(...args);
      } catch (error) {
        if (endpointDown(error)) leave(at);
        throw error;
      }
      const messages = response.message;
      return {
        ...response,
        message: {
          async *[Symbol.asyncIterator]() {
            try {
              yield* messages;
            } catch (error) {
              // The endpoint went away mid-stream (killed, reset).
              if (endpointDown(error)) leave(at);
              throw error;
            }
          },
        },
      };
    },
  } as EndpointsTransport;
}

/**
 * Whether a session that ended with `error` should take its next attempt
 * to another endpoint: the server drained or is gone (unavailable), or the
 * connection went silent (heartbeat_timeout).
 */
export function sessionLeftEndpoint(error: { readonly code: string } | undefined): boolean {
  return error?.code === "unavailable" || error?.code === "heartbeat_timeout";
}

/** The transport's endpoints, when it has several. */
export function endpointsOf(transport: Transport): EndpointsTransport | undefined {
  return "moveOn" in transport ? (transport as EndpointsTransport) : undefined;
}
