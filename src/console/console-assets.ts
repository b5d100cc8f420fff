import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

export const CONSOLE_PATH = '/console';
const ASSETS_PATH = `${CONSOLE_PATH}/assets`;
/** Hashed file names (Vite's `name-<hash>.js`): a changed file gets a new name, so a year of caching is safe. */
const ASSET_MAX_AGE_S = 365 * 24 * 3600;

/**
 * Where `npm run build` puts the console (console/dist, from console/vite.config.ts): the nearest
 * folder above this file that has it (two up from src/console and dist/console; further up for a
 * build made elsewhere, as the tests make in node_modules/.cache). Undefined when it was never built.
 */
export function consoleDir(from = __dirname): string | undefined {
  for (let dir = from, depth = 0; depth < 8; dir = dirname(dir), depth++) {
    const candidate = join(dir, 'console', 'dist');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  return undefined;
}

/**
 * The admin console's files, answered before the JSON body parser and the session middleware, so a
 * page load never reads the session store (its API calls do, as any client's):
 * - `/console/assets/*`: the built files, cached for a year (immutable: their names change with them);
 * - `/console` and any `/console/<route>` without a file extension: the app's index.html, no-store,
 *   so a new build is picked up at the next load;
 * - anything else under /console (a missing asset): 404 in the API's error shape.
 * When the console was not built, /console answers 404 saying how to build it.
 */
export function consoleAssets(dir: string | undefined): RequestHandler {
  if (!dir) {
    return (req, res, next) => {
      if (!isConsoleUrl(req.url)) return next();
      res.status(404).json({
        statusCode: 404,
        message: 'The admin console is not built: run npm run build',
        error: 'Not Found',
      });
    };
  }
  const index = readFileSync(join(dir, 'index.html'));
  const assets = readAssets(join(dir, 'assets'));
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!isConsoleUrl(req.url)) return next();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      res.status(405).json({ statusCode: 405, message: 'The console is read with GET', error: 'Method Not Allowed' });
      return;
    }
    if (req.path.startsWith(`${ASSETS_PATH}/`)) {
      const asset = assets.get(req.path.slice(ASSETS_PATH.length + 1));
      if (!asset) return notFound(res);
      res.setHeader('Cache-Control', `public, max-age=${ASSET_MAX_AGE_S}, immutable`);
      return send(req, res, asset.type, asset.body);
    }
    if (/\.[A-Za-z0-9]+$/.test(req.path)) return notFound(res);
    send(req, res, 'text/html; charset=utf-8', index);
  };
}

interface Asset {
  type: string;
  body: Buffer;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json; charset=utf-8',
};

/**
 * The built assets, read once at start: a few small files (the whole console is tens of kB), so
 * they are answered from memory rather than through a static-file middleware that would stat the
 * disk and rewrite req.url on every load. Files of other types (source maps) are not served.
 */
function readAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name, { type, body: readFileSync(join(dir, name)) });
  }
  return assets;
}

function send(req: Request, res: Response, type: string, body: Buffer): void {
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', body.length);
  res.status(200).end(req.method === 'HEAD' ? undefined : body);
}

/**
 * `/console`, `/console/...` or `/console?...`, not `/consoles`. Read from the raw URL: it runs for
 * every request (here and in the request edge), before anything has parsed the URL.
 */
export function isConsoleUrl(url: string): boolean {
  if (!url.startsWith(CONSOLE_PATH)) return false;
  const next = url.charCodeAt(CONSOLE_PATH.length);
  return Number.isNaN(next) || next === 47 /* / */ || next === 63; /* ? */
}

function notFound(res: Response): void {
  res.setHeader('Cache-Control', 'no-store');
  res.status(404).json({ statusCode: 404, message: 'No such file in the admin console', error: 'Not Found' });
}
