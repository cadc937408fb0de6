// Raw HTTP for the cors-layer recipe tests: every response header line as sent (fetch would
// join repeated headers into one), and the WebSocket upgrade's 101 response.

import http from "node:http";
import { randomBytes } from "node:crypto";

const TIMEOUT_MS = 5000;

/**
 * One request; resolves with {status, body, headers: [[name, value]...], all(name) -> values}.
 * `upgrade: true` sends a WebSocket upgrade and resolves with the 101 (or the refusal).
 */
export function raw(url, { method = "GET", headers = {}, body, upgrade = false } = {}) {
  const h = { ...headers };
  if (upgrade) {
    Object.assign(h, {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": randomBytes(16).toString("base64"),
    });
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: h, timeout: TIMEOUT_MS });
    const done = (res, socket) => {
      const pairs = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
      const result = (text) => ({
        status: res.statusCode,
        body: text,
        headers: pairs,
        all: (name) => pairs.filter(([n]) => n === name).map(([, v]) => v),
      });
      if (socket) {
        socket.destroy();
        resolve(result(""));
        return;
      }
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve(result(text)));
    };
    req.on("upgrade", (res, socket) => done(res, socket));
    req.on("response", (res) => done(res));
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer within ${TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** The value of every `Access-Control-Allow-Origin` line, however many (split on commas too). */
export const allowOrigins = (res) => res.all("access-control-allow-origin").flatMap((v) => v.split(",").map((s) => s.trim()));
