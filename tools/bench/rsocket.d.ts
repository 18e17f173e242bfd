/**
 * The part of rsocket-js 0.0.27 (which ships Flow types only) that
 * ws-bench.ts and ws-bench-server.ts use. The two websocket packages are
 * CommonJS with `exports.default`, so under Node's ESM interop their default
 * import is the exports object and the class is its `.default`.
 */
declare module "rsocket-flowable" {
  export interface ISubscription {
    request(n: number): void;
    cancel(): void;
  }
  export interface ISubscriber<T> {
    onSubscribe(subscription: ISubscription): void;
    onNext(value: T): void;
    onComplete(): void;
    onError(error: Error): void;
  }
  export class Flowable<T> {
    constructor(source: (subscriber: ISubscriber<T>) => void, max?: number);
    subscribe(subscriber?: Partial<ISubscriber<T>>): void;
  }
  export class Single<T> {
    subscribe(subscriber?: { onComplete?: (value: T) => void; onError?: (error: Error) => void; onSubscribe?: (cancel: () => void) => void }): void;
  }
}

declare module "rsocket-core" {
  import type { Flowable, Single } from "rsocket-flowable";

  export interface Payload<D, M> {
    data?: D | null;
    metadata?: M | null;
  }
  /** A transport connection (RSocketWebSocketClient is one). */
  export interface DuplexConnection {
    close(): void;
  }
  /** A transport server (RSocketWebSocketServer is one). */
  export interface TransportServer {
    stop(): void;
  }
  /** How frames' data and metadata are read (decode) and written; BufferEncoders keeps them as Buffers. */
  export interface Encoders<T> {
    readonly data: { decode(buffer: Buffer, start: number, end: number): T };
    readonly metadata: { decode(buffer: Buffer, start: number, end: number): T };
  }
  export const BufferEncoders: Encoders<Buffer>;
  export interface ReactiveSocket<D, M> {
    requestStream(payload: Payload<D, M>): Flowable<Payload<D, M>>;
    close(): void;
  }
  export interface PartialResponder<D, M> {
    requestStream?: (payload: Payload<D, M>) => Flowable<Payload<D, M>>;
  }
  export class RSocketClient<D, M> {
    constructor(config: {
      setup: { keepAlive: number; lifetime: number; dataMimeType: string; metadataMimeType: string; data?: D; metadata?: M };
      transport: DuplexConnection;
      responder?: PartialResponder<D, M>;
      errorHandler?: (error: Error) => void;
    });
    connect(): Single<ReactiveSocket<D, M>>;
    close(): void;
  }
  export class RSocketServer<D, M> {
    constructor(config: {
      getRequestHandler: (socket: ReactiveSocket<D, M>, setup: Payload<D, M>) => PartialResponder<D, M>;
      transport: TransportServer;
      errorHandler?: (error: Error) => void;
    });
    start(): void;
    stop(): void;
  }
}

declare module "rsocket-websocket-client" {
  import type { DuplexConnection, Encoders } from "rsocket-core";

  const cjs: {
    default: new (options: { url: string; wsCreator?: (url: string) => unknown; debug?: boolean; lengthPrefixedFrames?: boolean }, encoders?: Encoders<unknown>) => DuplexConnection;
  };
  export default cjs;
}

declare module "rsocket-websocket-server" {
  import type { Server } from "node:http";
  import type { Encoders, TransportServer } from "rsocket-core";

  const cjs: {
    /** `options` are those of its own `ws` 7 WebSocket.Server. */
    default: new (options: { host?: string; port?: number; server?: Server; path?: string; perMessageDeflate?: boolean; maxPayload?: number }, encoders?: Encoders<unknown>) => TransportServer;
  };
  export default cjs;
}
