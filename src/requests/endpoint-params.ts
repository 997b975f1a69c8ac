/**
 * Which request parameters each endpoint takes, and the few that change name between them. Pure:
 * `mapParams` returns the body to send or names the first parameter the endpoint does not take,
 * so a run is refused before anything is sent instead of ending in 400 rows.
 *
 * chat and responses take many, and new ones appear: they refuse only parameters known to belong to
 * another endpoint. completions and embeddings are fixed: they take only what is listed.
 */
import type { Endpoint } from './endpoint.js';

/** Renamed on an endpoint: `max_tokens` is `max_output_tokens` on responses. */
const RENAMED: Readonly<Record<Endpoint, Readonly<Record<string, string>>>> = Object.freeze({
  chat: {},
  responses: { max_tokens: 'max_output_tokens', max_completion_tokens: 'max_output_tokens' },
  completions: {},
  embeddings: {},
});

/** What chat and responses refuse, with what to use instead when there is something. */
const REFUSED: Readonly<Record<'chat' | 'responses', Readonly<Record<string, string>>>> = Object.freeze({
  chat: {
    max_output_tokens: 'use max_tokens',
    instructions: 'use a system message or the system option',
    input: 'use messages',
    text: 'use response_format',
    truncation: '',
    previous_response_id: '',
    include: '',
    background: '',
    max_tool_calls: '',
    dimensions: '',
    encoding_format: '',
    suffix: '',
    echo: '',
    best_of: '',
  },
  responses: {
    messages: 'use input',
    n: '',
    stop: '',
    seed: '',
    logprobs: 'use top_logprobs with include ["message.output_text.logprobs"]',
    logit_bias: '',
    presence_penalty: '',
    frequency_penalty: '',
    response_format: 'use text.format',
    functions: 'use tools',
    function_call: 'use tool_choice',
    dimensions: '',
    encoding_format: '',
    suffix: '',
    echo: '',
    best_of: '',
  },
});

/** Everything completions and embeddings take (beside `model`). */
const TAKEN: Readonly<Record<'completions' | 'embeddings', ReadonlySet<string>>> = Object.freeze({
  completions: new Set([
    'model',
    'prompt',
    'best_of',
    'echo',
    'frequency_penalty',
    'logit_bias',
    'logprobs',
    'max_tokens',
    'n',
    'presence_penalty',
    'seed',
    'stop',
    'stream',
    'stream_options',
    'suffix',
    'temperature',
    'top_p',
    'user',
  ]),
  embeddings: new Set(['model', 'input', 'dimensions', 'encoding_format', 'user']),
});

/** A parameter the endpoint does not take: its name and the whole line to show. */
export interface RefusedParam {
  param: string;
  message: string;
}

/** Why `param` is not sent to `endpoint`, or undefined when it is taken. */
export function refusedParam(endpoint: Endpoint, param: string): RefusedParam | undefined {
  if (endpoint === 'completions' || endpoint === 'embeddings') {
    if (TAKEN[endpoint].has(param)) return undefined;
    const taken = [...TAKEN[endpoint]].filter((name) => name !== 'model' && name !== 'stream');
    return {
      param,
      message: `"${param}" is not a parameter of the ${endpoint} endpoint (it takes ${taken.join(', ')})`,
    };
  }
  const refused = REFUSED[endpoint];
  if (!Object.hasOwn(refused, param)) return undefined;
  const instead = refused[param];
  return {
    param,
    message: `"${param}" is not a parameter of the ${endpoint} endpoint${instead ? ` (${instead})` : ''}`,
  };
}

/**
 * The body to send to `endpoint`: renamed parameters renamed (an explicit new name wins). Throws
 * nothing; returns `{ refused }` for the first parameter the endpoint does not take.
 */
export function mapParams(
  endpoint: Endpoint,
  body: Readonly<Record<string, unknown>>,
): { body: Record<string, unknown>; refused?: RefusedParam } {
  const renamed = RENAMED[endpoint];
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body)) {
    if (value === undefined) continue;
    const target = renamed[name];
    if (target !== undefined) {
      if (body[target] === undefined) out[target] = value;
      continue;
    }
    out[name] = value;
  }
  for (const name of Object.keys(out)) {
    const refused = refusedParam(endpoint, name);
    if (refused) return { body: out, refused };
  }
  return { body: out };
}

/**
 * The run-level parameters (`--temperature`, `--param`, …) that apply to a row of `endpoint`: the
 * ones it takes. A run's defaults are left off the rows whose endpoint has no such parameter (an
 * embeddings line in a file of chat prompts); a row's own parameters are checked, not filtered.
 */
export function runParamsFor(
  endpoint: Endpoint,
  params: Readonly<Record<string, unknown>>,
): Readonly<Record<string, unknown>> {
  let out: Record<string, unknown> | undefined;
  for (const name of Object.keys(params)) {
    if (!refusedParam(endpoint, RENAMED[endpoint][name] ?? name)) continue;
    out ??= { ...params };
    delete out[name];
  }
  return out ?? params;
}
