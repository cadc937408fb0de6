// Raw Engine.IO v4 helpers (HTTP long-polling with fetch, WebSocket with `ws`), for the tests
// that must see exact status codes, bodies and frames. Every request has a bounded timeout.

import http from "node:http";
import { WebSocket } from "ws";

export const HTTP_TIMEOUT_MS = 5000;
export const RECORD_SEPARATOR = "\x1e";

/** Builds `<base><path>?EIO=4&transport=polling&...` (params override the defaults). */
export function eioUrl(base, params = {}, path = "/socket.io/") {
  const q = new URLSearchParams({ EIO: "4", transport: "polling", ...params });
  for (const [k, v] of Object.entries(params)) if (v === undefined) q.delete(k);
  return `${base}${path}?${q}`;
}

/** fetch with a timeout; resolves with {status, headers, text, contentType}. */
export async function request(url, init = {}, timeoutMs = HTTP_TIMEOUT_MS) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, contentType: res.headers.get("content-type"), text };
}

/** Opens a polling session; resolves with {sid, open} where `open` is the parsed handshake. */
export async function handshake(base) {
  const res = await request(eioUrl(base));
  if (res.status !== 200 || !res.text.startsWith("0")) {
    throw new Error(`handshake failed: ${res.status} ${res.text}`);
  }
  const open = JSON.parse(res.text.slice(1));
  return { sid: open.sid, open };
}

export function poll(base, sid, timeoutMs = HTTP_TIMEOUT_MS) {
  return request(eioUrl(base, { sid }), {}, timeoutMs);
}

export function post(base, sid, body, headers = { "content-type": "text/plain;charset=UTF-8" }) {
  return request(eioUrl(base, { sid }), { method: "POST", body, headers });
}

/** Splits a polling payload into its packets. */
export function packets(body) {
  return body === "" ? [] : body.split(RECORD_SEPARATOR);
}

/**
 * Polls until a packet satisfying `predicate` arrives; answers server pings with pongs.
 * Bounded by `timeoutMs` overall. Resolves with the matching packet.
 */
export async function pollUntil(base, sid, predicate, timeoutMs = HTTP_TIMEOUT_MS) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = Math.ceil(deadline - performance.now());
    if (left <= 0) throw new Error(`no matching packet within ${timeoutMs} ms`);
    const res = await poll(base, sid, left);
    if (res.status !== 200) throw new Error(`poll failed: ${res.status} ${res.text}`);
    for (const p of packets(res.text)) {
      if (p === "2") await post(base, sid, "3");
      if (predicate(p)) return p;
    }
  }
}

/** A `ws` WebSocket whose messages are queued, so no frame is missed between two waits. */
export class RawWebSocket {
  constructor(url) {
    this.ws = new WebSocket(url);
    this.queue = [];
    this.waiters = [];
    this.closed = null;
    this.ws.on("message", (data, isBinary) => {
      const msg = isBinary ? data : data.toString("utf8");
      const w = this.waiters.shift();
      if (w) w.resolve(msg);
      else this.queue.push(msg);
    });
    this.closedPromise = new Promise((resolve) => {
      this.ws.on("close", (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) w.reject(new Error(`websocket closed (${code})`));
        resolve(this.closed);
      });
    });
    this.ws.on("error", () => {}); // surfaced through "close"
    this.openPromise = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("close", () => reject(new Error("websocket closed before it opened")));
    });
    this.openPromise.catch(() => {});
  }

  /** Resolves once the WebSocket is open (bounded). */
  waitOpen(timeoutMs = HTTP_TIMEOUT_MS) {
    let timer;
    return Promise.race([
      this.openPromise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`websocket not open within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  /** Next message (string for text frames, Buffer for binary); rejects on timeout or close. */
  next(timeoutMs = HTTP_TIMEOUT_MS) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closed) return Promise.reject(new Error("websocket closed"));
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no websocket message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Next message that is not a server ping (`2`). */
  async nextNonPing(timeoutMs = HTTP_TIMEOUT_MS) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const m = await this.next(Math.max(1, Math.ceil(deadline - performance.now())));
      if (m !== "2") return m;
    }
  }

  send(data) {
    this.ws.send(data);
  }

  /** Waits for the close event (bounded). */
  waitClose(timeoutMs = HTTP_TIMEOUT_MS) {
    let timer;
    return Promise.race([
      this.closedPromise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`websocket not closed within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  close() {
    if (!this.closed) this.ws.terminate();
  }
}

/** ws://… URL for a base http://… URL. */
export function wsUrl(base, params = {}, path = "/socket.io/") {
  return eioUrl(base.replace(/^http/, "ws"), { transport: "websocket", ...params }, path);
}

/**
 * A request made with node:http that reports when it has been written out, so a test can order
 * a second request after it without sleeping. Returns {sent, response}: `sent` resolves once
 * the request is flushed to the socket, `response` with {status, text, contentType}.
 * `agent`: an http.Agent (e.g. keep-alive, to reuse a connection the server already accepted)
 * or false for a fresh connection.
 */
export function httpRequest(url, { method = "GET", body, headers = {}, agent = false, timeoutMs = HTTP_TIMEOUT_MS } = {}) {
  let req;
  const response = new Promise((resolve, reject) => {
    req = http.request(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, text, contentType: res.headers["content-type"] }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${method} timed out after ${timeoutMs} ms`)));
    req.on("error", reject);
  });
  const sent = new Promise((resolve) => req.on("finish", resolve));
  req.end(body);
  return { sent, response };
}
