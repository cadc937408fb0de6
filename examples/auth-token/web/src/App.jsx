import { useSocket } from "./useSocket.js";

// Settings from the page's address: ?server=http://localhost:3000&user=ada, and ?token=...
// to send that token instead of fetching one (try ?token=nonsense to see a refusal).
const params = new URLSearchParams(window.location.search);
const SERVER = params.get("server") ?? import.meta.env.VITE_SERVER_URL ?? "http://localhost:3000";
const USER = params.get("user") ?? "ada";
const TOKEN = params.has("token") ? params.get("token") : undefined;

export function App() {
  const { status, error, me } = useSocket(SERVER, { user: USER, token: TOKEN });
  return (
    <main>
      <h1>auth-token</h1>
      <p data-testid="status">
        {status === "connected" && me ? `connected as ${me.sub}` : status}
      </p>
      {me && (
        <p data-testid="expiry" data-jti={me.jti}>
          token {me.jti} expires at {new Date(me.exp * 1000).toLocaleTimeString()}
        </p>
      )}
      {error && (
        <p role="alert" data-testid="error">
          {error.code ? `refused: ${error.message} (${error.code})` : `cannot connect: ${error.message}`}
        </p>
      )}
    </main>
  );
}
