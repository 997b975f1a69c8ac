/**
 * Prompt records -> jobs: a pure function that checks one input record and turns it into what the
 * task sends (endpoint and request body) and what its output row shows (id, system prompt, prompt).
 *
 * Records: `{ id?, system?, prompt }`, `{ id?, system?, messages }`, or an OpenAI Batch API line
 * `{ custom_id, method: 'POST', url, body }`. A prompt or messages record's other fields (`tools`,
 * `tool_choice`, `temperature`, …) and the entries of its `params` object are request parameters:
 * they are sent, and win over the run's `params`.
 */

import { describeValue, type Endpoint, isPlainObject } from './endpoint.js';
import { mapParams, runParamsFor } from './endpoint-params.js';

/** One record, ready to send. Plain data (it is fingerprinted and held by the pipeline). */
export interface PromptJob {
  /** 0-based position in the input. */
  index: number;
  /** The record's `id` (or `custom_id`), as given; else its position. */
  id: string | number;
  endpoint: Endpoint;
  /** The output row's `system_prompt`. */
  system: string | null;
  /** The output row's `prompt`: the prompt text (the last user message's for messages; an embeddings input as given). */
  prompt: unknown;
  /** The request body without the run's model and params (a Batch line's body as written). */
  body: Record<string, unknown>;
  /** Local files the record names (paths as written), attached when it is sent. */
  files?: string[];
  /** The row's identity (src/identity): set by runPrompts before the run. */
  key?: string;
}

/** What of the options shapes a job. */
export interface RecordDefaults {
  endpoint: Endpoint;
  system: string | undefined;
  /** Whether the run has a `model` option (else every record must be a Batch line naming one). */
  hasModel: boolean;
  /** The run's request parameters: checked with each record's against its endpoint. @default {} */
  params?: Readonly<Record<string, unknown>>;
  /** Why records may not name `files` in this run (e.g. the batch backend). @default they may */
  noFiles?: string;
}

/** The fields of a record that are not request parameters (`files` is reserved). */
export const RECORD_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'custom_id',
  'system',
  'prompt',
  'messages',
  'files',
  'method',
  'url',
  'body',
  'params',
]);

/** Request fields a record's parameters may not set: the record supplies them. */
const BUILT_FIELDS: Readonly<Record<string, string>> = Object.freeze({
  input: 'give "prompt" or "messages"',
  instructions: 'give "system"',
});

/** A record is refused with this; the caller adds where it is (`file:line`, `prompts[i]`). */
export class RecordProblem extends Error {
  override readonly name = 'RecordProblem';
}

export const BATCH_URLS: Readonly<Record<string, Endpoint>> = Object.freeze({
  '/v1/chat/completions': 'chat',
  '/v1/responses': 'responses',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
});

const NO_SYSTEM: ReadonlySet<Endpoint> = new Set(['completions', 'embeddings']);
const SYSTEM_ROLES = new Set(['system', 'developer']);

function problem(message: string): never {
  throw new RecordProblem(message);
}

/** The text of a message `content`: a string, or the `text` of its parts joined by newlines. */
export function contentText(content: unknown): string | null {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return null;
  const texts = content.flatMap((part) =>
    typeof part === 'string'
      ? [part]
      : isPlainObject(part) && typeof part['text'] === 'string'
        ? [part['text']]
        : [],
  );
  return texts.length > 0 ? texts.join('\n') : null;
}

function checkMessages(messages: unknown, field: string): Record<string, unknown>[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    problem(`"${field}" must be a non-empty array of messages, got ${describeValue(messages)}`);
  }
  messages.forEach((message, k) => {
    if (!isPlainObject(message) || typeof message['role'] !== 'string') {
      problem(
        `"${field}[${k}]" must be a message object with a string "role", got ${describeValue(message)}`,
      );
    }
  });
  return messages as Record<string, unknown>[];
}

/** The first system (or developer) message's text and the last user message's text. */
function messageTexts(messages: Record<string, unknown>[]): { system: string | null; prompt: string | null } {
  const system = messages.find((m) => SYSTEM_ROLES.has(m['role'] as string));
  const user = messages.findLast((m) => m['role'] === 'user');
  return {
    system: system ? contentText(system['content']) : null,
    prompt: user ? contentText(user['content']) : null,
  };
}

function recordId(record: Record<string, unknown>, index: number): string | number {
  for (const field of ['id', 'custom_id']) {
    const id = record[field];
    if (id === undefined) continue;
    if (typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))) return id;
    problem(`"${field}" must be a string or a number, got ${describeValue(id)}`);
  }
  return index;
}

function batchJob(
  record: Record<string, unknown>,
  defaults: RecordDefaults,
): Omit<PromptJob, 'id' | 'index'> {
  if (record['method'] !== undefined && record['method'] !== 'POST') {
    problem(`"method" must be "POST", got ${describeValue(record['method'])}`);
  }
  const url = record['url'];
  const endpoint = typeof url === 'string' ? BATCH_URLS[url] : undefined;
  if (!endpoint) {
    problem(
      `"url" must be one of ${Object.keys(BATCH_URLS)
        .map((u) => `"${u}"`)
        .join(', ')}, got ${describeValue(url)}`,
    );
  }
  const body = record['body'];
  if (!isPlainObject(body)) problem(`a Batch API line needs "body" (object), got ${describeValue(body)}`);
  const model = body['model'];
  if (model !== undefined && (typeof model !== 'string' || model === '')) {
    problem(`"body.model" must be a non-empty string, got ${describeValue(model)}`);
  }
  if (model === undefined && !defaults.hasModel) {
    problem('no model: pass the `model` option or give the Batch API "body" a "model"');
  }
  if (body['stream'] !== undefined && body['stream'] !== false) {
    problem(
      `"body.stream" is not supported (runPrompts reads whole answers), got ${describeValue(body['stream'])}`,
    );
  }
  switch (endpoint) {
    case 'chat': {
      const texts = messageTexts(checkMessages(body['messages'], 'body.messages'));
      return { endpoint, system: texts.system, prompt: texts.prompt, body };
    }
    case 'responses': {
      const input = body['input'];
      const instructions = body['instructions'];
      if (instructions !== undefined && instructions !== null && typeof instructions !== 'string') {
        problem(`"body.instructions" must be a string, got ${describeValue(instructions)}`);
      }
      if (typeof input === 'string') {
        return { endpoint, system: (instructions as string | null | undefined) ?? null, prompt: input, body };
      }
      const texts = messageTexts(checkMessages(input, 'body.input'));
      return {
        endpoint,
        system: (instructions as string | null | undefined) ?? texts.system,
        prompt: texts.prompt,
        body,
      };
    }
    case 'completions': {
      const prompt = body['prompt'];
      if (typeof prompt !== 'string') problem(`"body.prompt" must be a string, got ${describeValue(prompt)}`);
      return { endpoint, system: null, prompt, body };
    }
    case 'embeddings': {
      const input = body['input'];
      if (typeof input !== 'string' && !(Array.isArray(input) && input.length > 0)) {
        problem(`"body.input" must be a string or a non-empty array, got ${describeValue(input)}`);
      }
      return { endpoint, system: null, prompt: input, body };
    }
  }
}

/** A prompt record's request parameters: its other fields, then its `params` entries. */
function recordParams(record: Record<string, unknown>): Record<string, unknown> {
  const own: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(record)) {
    if (!RECORD_FIELDS.has(name) && value !== undefined) own[name] = value;
  }
  const params = record['params'];
  if (params !== undefined && !isPlainObject(params)) {
    problem(`"params" must be an object of request parameters, got ${describeValue(params)}`);
  }
  const all = { ...own, ...params };
  for (const [name, why] of Object.entries(BUILT_FIELDS)) {
    if (all[name] !== undefined) problem(`"${name}" cannot be a record's parameter: ${why}`);
  }
  if (all['model'] !== undefined && (typeof all['model'] !== 'string' || all['model'] === '')) {
    problem(`"model" must be a non-empty string, got ${describeValue(all['model'])}`);
  }
  if (all['stream'] !== undefined && all['stream'] !== false) {
    problem(
      `"stream" is not supported (runPrompts reads whole answers), got ${describeValue(all['stream'])}`,
    );
  }
  return all;
}

function promptJob(
  record: Record<string, unknown>,
  defaults: RecordDefaults,
): Omit<PromptJob, 'id' | 'index'> {
  const params = recordParams(record);
  const made = promptBody(record, {
    ...defaults,
    hasModel: defaults.hasModel || params['model'] !== undefined,
  });
  return { ...made, body: { ...params, ...made.body } };
}

function promptBody(
  record: Record<string, unknown>,
  defaults: RecordDefaults,
): Omit<PromptJob, 'id' | 'index'> {
  const { endpoint } = defaults;
  const hasPrompt = record['prompt'] !== undefined;
  const hasMessages = record['messages'] !== undefined;
  if (!hasPrompt && !hasMessages) {
    problem('a record needs "prompt" (string), "messages" (array) or a Batch API "body"');
  }
  if (hasPrompt && hasMessages) problem('a record has both "prompt" and "messages"; give one');
  if (!defaults.hasModel) {
    problem('no model: pass the `model` option, or give the record a "model"');
  }
  const own = record['system'];
  if (own !== undefined && typeof own !== 'string')
    problem(`"system" must be a string, got ${describeValue(own)}`);
  if (own !== undefined && NO_SYSTEM.has(endpoint)) {
    problem(`"system" is not supported with endpoint '${endpoint}' (it has no system prompt)`);
  }
  const system = own ?? defaults.system;

  if (hasPrompt) {
    const prompt = record['prompt'];
    if (typeof prompt !== 'string') problem(`"prompt" must be a string, got ${describeValue(prompt)}`);
    switch (endpoint) {
      case 'chat': {
        const user = { role: 'user', content: prompt };
        const messages = system === undefined ? [user] : [{ role: 'system', content: system }, user];
        return { endpoint, system: system ?? null, prompt, body: { messages } };
      }
      case 'responses':
        return {
          endpoint,
          system: system ?? null,
          prompt,
          body: system === undefined ? { input: prompt } : { input: prompt, instructions: system },
        };
      case 'completions':
        return { endpoint, system: null, prompt, body: { prompt } };
      case 'embeddings':
        return { endpoint, system: null, prompt, body: { input: prompt } };
    }
  }

  if (endpoint !== 'chat' && endpoint !== 'responses') {
    problem(`a "messages" record needs endpoint 'chat' or 'responses', not '${endpoint}'`);
  }
  const messages = checkMessages(record['messages'], 'messages');
  const texts = messageTexts(messages);
  const hasSystemMessage = messages.some((m) => SYSTEM_ROLES.has(m['role'] as string));
  if (own !== undefined && hasSystemMessage) {
    problem('a record has both "system" and a system message in "messages"; give one');
  }
  if (system === undefined || hasSystemMessage) {
    const body = endpoint === 'chat' ? { messages } : { input: messages };
    return { endpoint, system: texts.system, prompt: texts.prompt, body };
  }
  const body =
    endpoint === 'chat'
      ? { messages: [{ role: 'system', content: system }, ...messages] }
      : { input: messages, instructions: system };
  return { endpoint, system, prompt: texts.prompt, body };
}

/** A record's `files`: a non-empty array of file paths, on an endpoint that takes files. */
function recordFiles(
  record: Record<string, unknown>,
  endpoint: Endpoint,
  defaults: RecordDefaults,
): string[] {
  const files = record['files'];
  if (!Array.isArray(files) || files.length === 0) {
    problem(`"files" must be a non-empty array of file paths, got ${describeValue(files)}`);
  }
  files.forEach((file, k) => {
    if (typeof file !== 'string' || file === '' || file.includes('\0')) {
      problem(`"files[${k}]" must be a file path, got ${describeValue(file)}`);
    }
  });
  if (defaults.noFiles) problem(`"files" ${defaults.noFiles}`);
  if (endpoint !== 'chat' && endpoint !== 'responses') {
    problem(`"files" needs endpoint 'chat' or 'responses', not '${endpoint}'`);
  }
  return [...(files as string[])];
}

/** Checks one record and makes its job; throws RecordProblem naming the field. */
export function toJob(record: unknown, index: number, defaults: RecordDefaults): PromptJob {
  if (!isPlainObject(record)) problem(`a record must be a JSON object, got ${describeValue(record)}`);
  const id = recordId(record, index);
  const isBatch = record['body'] !== undefined || record['url'] !== undefined;
  if (isBatch && record['files'] !== undefined) {
    problem('"files" is for prompt and messages records, not Batch API lines');
  }
  const job = isBatch ? batchJob(record, defaults) : promptJob(record, defaults);
  const { refused } = mapParams(job.endpoint, {
    ...runParamsFor(job.endpoint, defaults.params ?? {}),
    ...job.body,
  });
  if (refused) problem(refused.message);
  if (record['files'] === undefined) return { index, id, ...job };
  return { index, id, ...job, files: recordFiles(record, job.endpoint, defaults) };
}
