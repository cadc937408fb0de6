import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` serves the page on http://localhost:5173, the origin the Rust server allows by
// default (AUTH_ALLOWED_ORIGINS). strictPort: another port would be another origin, refused.
export default defineConfig({
  plugins: [react()],
  server: { host: "localhost", port: 5173, strictPort: true },
});
