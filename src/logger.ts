/** The logging surface keybatch writes to. Pass your own (pino, console, …) or use the default. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Writes `keybatch: <message>` lines to stderr; debug lines only when `verbose`. */
export function consoleLogger(options: { verbose?: boolean } = {}): Logger {
  const line = (message: string) => process.stderr.write(`keybatch: ${message}\n`);
  return {
    debug: (m) => {
      if (options.verbose) line(m);
    },
    info: line,
    warn: line,
    error: line,
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
