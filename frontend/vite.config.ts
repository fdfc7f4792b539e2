/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Where hashed assets are served from. Default: the gateway itself ("/").
// For a CDN: CHATGATE_ASSET_BASE=https://cdn.example.com/chatgate/ npm run build
// (index.html then references every script, style and chunk under that URL;
// upload dist/assets/ there and keep serving index.html from the gateway).
const base = process.env.CHATGATE_ASSET_BASE || "/";

// The gateway the dev server proxies to (npm run dev).
const gateway = process.env.CHATGATE_DEV_GATEWAY || "127.0.0.1:8080";

export default defineConfig({
  base,
  plugins: [react()],
  build: {
    target: "es2022",
    manifest: true, // read by scripts/size-report.mjs, then removed
    modulePreload: { polyfill: false },
    reportCompressedSize: false, // scripts/size-report.mjs prints gzip and brotli sizes
    rolldownOptions: {
      output: {
        codeSplitting: {
          groups: [
            { name: "react-vendor", test: /[\\/]node_modules[\\/](react|react-dom|scheduler)[\\/]/, priority: 20 },
            { name: "list-vendor", test: /[\\/]node_modules[\\/]react-window[\\/]/, priority: 15 },
            { name: "vendor", test: /[\\/]node_modules[\\/]/, priority: 10 },
          ],
        },
      },
    },
  },
  server: {
    proxy: {
      "/ws": { target: `ws://${gateway}`, ws: true },
      "/api": `http://${gateway}`,
    },
  },
  test: {
    environment: "node",
    include: ["tests/**/*.test.ts"],
  },
});
