import { useEffect, useState } from "react";
import { io } from "socket.io-client";

/** Asks the server for a fresh token: {token, expiresAt} (seconds since the epoch). */
export async function fetchToken(url, user) {
  const res = await fetch(`${url}/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user }),
  });
  if (!res.ok) throw new Error(`POST /token answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/**
 * One Socket.IO connection to `url` for the component's lifetime, authenticated with a JWT.
 *
 * `auth` is a function, not an object: socket.io-client calls it before every CONNECT, the
 * first one and each reconnection, so every attempt carries a token fetched just then and an
 * expired token is never sent again. Pass `token` to send that string instead (to see a
 * refusal).
 *
 * Returns {socket, status, error, me}: status is "connecting" | "connected" | "refused" |
 * "disconnected"; error is the last connect_error as {message, code} (code from err.data);
 * me is what the server read from the token (`whoami`).
 */
export function useSocket(url, { user, token } = {}) {
  const [state, setState] = useState({ socket: null, status: "connecting", error: null, me: null });

  useEffect(() => {
    const update = (patch) => setState((s) => ({ ...s, ...patch }));
    const auth = (cb) => {
      if (token !== undefined) return cb({ token });
      fetchToken(url, user).then(
        ({ token }) => cb({ token }),
        // No token: the server refuses with "missing token", and the page says why.
        (err) => {
          console.error(err);
          cb({});
        },
      );
    };
    const socket = io(url, { auth });
    let expired = false;

    socket.on("connect", () => {
      expired = false;
      update({ status: "connected", error: null });
      socket.timeout(5000).emit("whoami", (err, me) => {
        if (!err) update({ me });
      });
    });
    socket.on("connect_error", (err) => {
      // A refusal by the server's middleware carries data ({code}) and is final: the client
      // does not retry it on its own. Anything else (server down, network) is retried.
      const refused = !socket.active;
      update({
        status: refused ? "refused" : "connecting",
        error: { message: err.message, code: err.data?.code ?? null },
      });
    });
    // The server says the token ran out, then disconnects this socket.
    socket.on("token_expired", () => {
      expired = true;
    });
    socket.on("disconnect", (reason) => {
      update({ status: "disconnected", me: null });
      // "io server disconnect" is never retried by the client; after an expiry we connect
      // again ourselves, and `auth` fetches a new token.
      if (reason === "io server disconnect" && expired) socket.connect();
    });

    update({ socket, status: "connecting", error: null, me: null });
    return () => {
      socket.disconnect();
    };
  }, [url, user, token]);

  return state;
}
