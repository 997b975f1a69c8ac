/**
 * config.json mistakes in words: where a JSON syntax error is and what it is ("trailing comma"),
 * a schema problem as a sentence ("`api_key` is missing"), the line of a field, and the config's
 * shape inline for a user who has none (the installed package ships no example file).
 */
import { findNodeAtLocation, type ParseError, parseTree, printParseErrorCode } from 'jsonc-parser';

/** The smallest config, inline: for a hint on one line. */
export const CONFIG_EXAMPLE =
  '{"key_list": [{"api_key": "sk-...", "base_url": "https://api.openai.com/v1"}]}';

/** By the parser's error names (its codes are a const enum). */
const SYNTAX_WORDS: Readonly<Record<string, string>> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'not a number',
  PropertyNameExpected: 'a field name in double quotes is expected',
  ValueExpected: 'a value is expected',
  ColonExpected: 'a ":" is expected after the field name',
  CommaExpected: 'a comma is missing',
  CloseBraceExpected: 'a "}" is missing',
  CloseBracketExpected: 'a "]" is missing',
  EndOfFileExpected: 'text after the end of the JSON',
  InvalidCommentToken: 'comments are not allowed in JSON',
  UnexpectedEndOfComment: 'comments are not allowed in JSON',
  UnexpectedEndOfString: 'a string is not closed (missing ")',
  UnexpectedEndOfNumber: 'a number is cut short',
  InvalidUnicode: 'an invalid \\u escape',
  InvalidEscapeCharacter: 'an invalid escape (\\) in a string',
  InvalidCharacter: 'a character JSON does not allow in a string (a raw line break or tab?)',
};

function lineColumn(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

/**
 * The first JSON syntax error, in words: `line 4, column 6: trailing comma (remove the "," before
 * "}")`, or `line 2, column 3: a comma is missing`. `end of file` when the parser finds nothing.
 */
export function syntaxProblem(source: string): string {
  const errors: ParseError[] = [];
  const comments = /^\s*(\/\/|\/\*)/m.test(source);
  parseTree(source, errors, { disallowComments: true, allowTrailingComma: false });
  const first = errors[0];
  if (!first) return 'end of file: the JSON is cut short';
  const at = first.offset;
  const close = source[at];
  const before = source.slice(0, at).trimEnd();
  if ((close === '}' || close === ']') && before.endsWith(',')) {
    const { line, column } = lineColumn(source, before.length - 1);
    return `line ${line}, column ${column}: trailing comma (remove the "," before "${close}")`;
  }
  const { line, column } = lineColumn(source, at);
  const words =
    printParseErrorCode(first.error) === 'InvalidSymbol' && comments
      ? 'comments are not allowed in JSON'
      : (SYNTAX_WORDS[printParseErrorCode(first.error)] ?? 'not valid JSON');
  return `line ${line}, column ${column}: ${words}`;
}

/** The line of the field at `path` in `source` (the nearest existing parent's for a missing one). */
export function fieldLine(source: string, path: ReadonlyArray<PropertyKey>): number | undefined {
  const tree = parseTree(source, [], { disallowComments: true });
  if (!tree) return undefined;
  const segments = path.filter((p): p is string | number => typeof p === 'string' || typeof p === 'number');
  for (let n = segments.length; n >= 0; n--) {
    const node = findNodeAtLocation(tree, segments.slice(0, n));
    if (!node) continue;
    // A property's value node: the line of its name is the line a person looks at.
    const at = node.parent?.type === 'property' ? node.parent.offset : node.offset;
    return lineColumn(source, at).line;
  }
  return undefined;
}

/** What zod says, as a sentence about the field (its last path segment). */
export function issueWords(issue: {
  code?: string;
  message: string;
  path: ReadonlyArray<PropertyKey>;
}): string {
  const last = [...issue.path].reverse().find((p) => typeof p === 'string');
  const name = typeof last === 'string' ? `\`${last}\`` : 'the value';
  const type = /^Invalid input: expected (\w+), received (\w+)$/.exec(issue.message);
  if (type) {
    const [, expected, received] = type;
    if (received === 'undefined') return `${name} is missing`;
    return `${name} must be a ${expected}, got a ${received}`;
  }
  return issue.message;
}
