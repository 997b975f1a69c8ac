/**
 * The page's files, served from the package: src/ui/static/ (copied to dist/ui/static/ by the
 * build) and uPlot's own dist files from node_modules. Read once, when the server starts.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

export interface Asset {
  type: string;
  body: Buffer;
}

const STATIC = new URL('./static/', import.meta.url);

const OWN: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
};

const UPLOT: Record<string, [file: string, type: string]> = {
  '/uplot.js': ['uplot/dist/uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
  '/uplot.css': ['uplot/dist/uPlot.min.css', 'text/css; charset=utf-8'],
};

/** Every asset by URL path. */
export async function loadAssets(): Promise<Map<string, Asset>> {
  const require = createRequire(import.meta.url);
  const assets = new Map<string, Asset>();
  for (const [path, [file, type]] of Object.entries(OWN)) {
    assets.set(path, { type, body: await readFile(new URL(file, STATIC)) });
  }
  for (const [path, [file, type]] of Object.entries(UPLOT)) {
    assets.set(path, { type, body: await readFile(require.resolve(file)) });
  }
  return assets;
}
