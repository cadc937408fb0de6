// The origin the test page comes from: a tiny HTTP server serving the page, the official
// socket.io-client browser bundle and the harness. It binds 127.0.0.1 like the fixture; the page
// is opened as http://localhost:<port> (Chromium resolves localhost to loopback itself and falls
// back from ::1 to 127.0.0.1).

import { readFile } from "node:fs/promises";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(new URL("../../js/package.json", import.meta.url));
const BUNDLE = path.join(path.dirname(require.resolve("socket.io-client/package.json")), "dist/socket.io.min.js");
const HARNESS = new URL("./harness.js", import.meta.url);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>portico cors test page</title>
<script src="/socket.io.min.js"></script>
<script src="/harness.js"></script>
</head><body>portico cors test page</body></html>`;

/** Starts the page server; resolves with {origin, port, close()}. */
export async function startPageServer({ host = "localhost" } = {}) {
  const [bundle, harness] = await Promise.all([readFile(BUNDLE), readFile(HARNESS)]);
  const server = http.createServer((req, res) => {
    const route = (req.url ?? "/").split("?")[0];
    if (route === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
    } else if (route === "/socket.io.min.js") {
      res.writeHead(200, { "content-type": "application/javascript" }).end(bundle);
    } else if (route === "/harness.js") {
      res.writeHead(200, { "content-type": "application/javascript" }).end(harness);
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    port,
    origin: `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
