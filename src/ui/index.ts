/** The dashboard: an HTTP server on 127.0.0.1 with a token, SSE and JSON over a live run or a run directory, and its static page. */
export { LiveSource } from './live.js';
export { RunDirSource } from './run-dir.js';
export { startDashboard } from './server.js';
