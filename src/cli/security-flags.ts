/** Flags that name paths, repeatable: `--files-from <dir>`, `--task <module>`. */
import { InvalidArgumentError } from 'commander';

/** Commander's collector of a repeatable path flag (an empty value is refused). */
export function collectPath(value: string, previous: string[] = []): string[] {
  if (value.trim() === '') throw new InvalidArgumentError('expected a path, got an empty value');
  return [...previous, value];
}
