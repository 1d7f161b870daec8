/**
 * The chat page: static files read once from `public/` (no build step) and served with a strict
 * content security policy. The files sit beside this module's source; the compiled module in
 * dist/ finds them at the same place relative to the package root.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";

const PUBLIC_DIR = fileURLToPath(new URL("../../../src/bots/web/public/", import.meta.url));

/** URL path → file name and type. */
const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/repaint.js": { file: "repaint.js", type: "text/javascript; charset=utf-8" },
  "/canvas-shapes.js": { file: "canvas-shapes.js", type: "text/javascript; charset=utf-8" },
  "/mask-png.js": { file: "mask-png.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
  "/icon.svg": { file: "icon.svg", type: "image/svg+xml" },
};

export const PAGE_SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
} as const;

export async function registerPage(app: FastifyInstance): Promise<void> {
  const contents = await Promise.all(
    Object.entries(FILES).map(async ([path, { file, type }]) => {
      const body = await readFile(join(PUBLIC_DIR, file));
      return { path, body, type };
    }),
  );
  for (const { path, body, type } of contents) {
    app.get(path, async (_request, reply) => {
      reply.headers(PAGE_SECURITY_HEADERS).header("cache-control", "no-cache").type(type);
      return body;
    });
  }
}
