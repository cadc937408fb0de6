// socket.io-client helpers: every client made here is tracked so a test can close all of them
// in `afterEach`, and every wait is bounded.

import { io, Manager } from "socket.io-client";
import { once } from "./server.js";

export const CONNECT_TIMEOUT_MS = 5000;
export const ACK_TIMEOUT_MS = 3000;

/** Options every test client starts from: no reconnection, no shared managers. */
export const BASE_OPTS = {
  forceNew: true,
  reconnection: false,
  timeout: CONNECT_TIMEOUT_MS,
};

export class Clients {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
    this.sockets = new Set();
    this.managers = new Set();
  }

  /** Creates (but does not wait for) a client socket on namespace `nsp`. */
  socket(nsp = "/", opts = {}) {
    const s = io(this.baseUrl + (nsp === "/" ? "" : nsp), { ...BASE_OPTS, ...opts });
    this.sockets.add(s);
    return s;
  }

  /**
   * Creates a Manager (one Engine.IO connection for several namespaces). Its sockets do not
   * connect on their own (`autoConnect: false`): call `socket.connect()`.
   */
  manager(opts = {}) {
    const m = new Manager(this.baseUrl, { ...BASE_OPTS, autoConnect: false, ...opts });
    this.managers.add(m);
    return m;
  }

  /** Creates a client socket and waits for `connect` (rejects on `connect_error`). */
  async connect(nsp = "/", opts = {}) {
    const s = this.socket(nsp, opts);
    await waitConnected(s);
    return s;
  }

  closeAll() {
    for (const s of this.sockets) {
      s.io.reconnection(false);
      s.disconnect();
      s.io.disconnect(); // closes the Engine.IO connection and cancels any reconnection
    }
    for (const m of this.managers) {
      m.reconnection(false);
      m.disconnect();
    }
    this.sockets.clear();
    this.managers.clear();
  }
}

/** Waits for `connect` on a client socket; a `connect_error` rejects with that error. */
export function waitConnected(socket, timeoutMs = CONNECT_TIMEOUT_MS) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`socket did not connect within ${timeoutMs} ms`));
    }, timeoutMs);
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err) => {
      cleanup();
      const e = new Error(`connect_error: ${err?.message}`);
      e.cause = err;
      reject(e);
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
    };
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
  });
}

/** Emits with an ack and a bounded wait; resolves with every ack argument as an array. */
export function emitAck(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(ACK_TIMEOUT_MS).emit(event, ...args, (err, ...reply) => {
      if (err) reject(new Error(`no ack for "${event}" within ${ACK_TIMEOUT_MS} ms`));
      else resolve(reply);
    });
  });
}

/** Waits for `event` on a client socket and resolves with its arguments as an array. */
export function next(socket, event, timeoutMs = ACK_TIMEOUT_MS) {
  return once(socket, event, timeoutMs);
}

/** Returns a log of every `event` a socket receives (to assert that something did NOT arrive). */
export function record(socket, event) {
  const seen = [];
  socket.on(event, (...args) => seen.push(args));
  return seen;
}

/** Normalises a received binary value (Buffer, ArrayBuffer, typed array) to a Buffer. */
export function toBuffer(value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`expected binary, got ${Object.prototype.toString.call(value)}: ${JSON.stringify(value)}`);
}

export function isBinary(value) {
  return Buffer.isBuffer(value) || value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/** The transports every behaviour that does not depend on the transport is run over. */
export const TRANSPORT_MODES = [
  { name: "polling", opts: { transports: ["polling"] } },
  { name: "websocket", opts: { transports: ["websocket"] } },
];
