// Loaded by the test page next to the official socket.io-client bundle. The tests drive it with
// page.evaluate and read window.cases[key] with page.waitForFunction: no sleeps anywhere.
// Every case records what the page observed: connect / connect_error (with the error's message,
// type and description), the first transport, the transport after an upgrade, and chosen events.
(() => {
  const cases = (window.cases = {});
  const sockets = (window.sockets = {});

  const describe = (d) => {
    if (d == null) return null;
    if (typeof d === "number" || typeof d === "string") return String(d);
    if (d instanceof Event) return `Event(${d.type})`;
    if (d.message) return d.message;
    try {
      return JSON.stringify(d);
    } catch {
      return String(d);
    }
  };

  /** Starts a connection: `url` (server origin), `nsp`, client `opts`, events to record. */
  window.startCase = (key, { url, nsp = "/", opts = {}, events = [] }) => {
    const r = { state: "connecting", events: [], firstTransport: null, upgradedTo: null, error: null };
    cases[key] = r;
    const socket = io(url + (nsp === "/" ? "" : nsp), { forceNew: true, reconnection: false, timeout: 8000, ...opts });
    sockets[key] = socket;
    for (const e of events) socket.on(e, (...args) => r.events.push([e, ...args]));
    socket.io.on("open", () => {
      r.firstTransport = socket.io.engine.transport.name;
      socket.io.engine.on("upgrade", (t) => (r.upgradedTo = t.name));
    });
    socket.on("connect", () => {
      r.state = "connected";
      r.id = socket.id;
    });
    socket.on("connect_error", (err) => {
      r.state = "error";
      r.error = { message: err.message, type: err.type ?? null, description: describe(err.description), data: err.data ?? null };
    });
    return true;
  };

  /** The transport the case's connection uses now. */
  window.transportOf = (key) => sockets[key]?.io?.engine?.transport?.name ?? null;

  /** emitWithAck with a bound; resolves with the ack value (or {ackError}). */
  window.ack = (key, event, ...args) =>
    sockets[key].timeout(5000).emitWithAck(event, ...args).catch((e) => ({ ackError: e.message }));

  window.closeAll = () => {
    for (const s of Object.values(sockets)) {
      s.disconnect();
      s.io.engine?.close();
    }
    return true;
  };
})();
