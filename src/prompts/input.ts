/**
 * The prompts of a run, checked before anything is sent, as a stream of jobs for the pipeline.
 * A .jsonl file is read once to check every record (a bad one names `file:line` and the field),
 * then streamed again; an array is checked whole; other iterables are checked as they are read.
 */
import { stat } from 'node:fs/promises';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { InputError } from '../errors.js';
import type { FileItem } from '../files/identity.js';
import type { PipelineInput } from '../pipeline/input.js';
import { readJsonl } from '../pipeline/jsonl.js';
import { type PromptJob, type RecordDefaults, RecordProblem, toJob } from '../requests/records.js';

/** A message of a `messages` record (chat message params, or any `{ role, content }` object). */
export type PromptMessage =
  | ChatCompletionMessageParam
  | { role: string; content?: unknown; [key: string]: unknown };

/**
 * A record's request parameters: its fields other than the record's own (`tools`, `tool_choice`,
 * `temperature`, `n`, `logprobs`, …), and the entries of `params`. They win over the run's `params`.
 */
export interface RecordParams {
  params?: Record<string, unknown>;
  [param: string]: unknown;
}

/** `{ id?, system?, prompt, …params }`: one prompt, with an optional system prompt. */
export interface PromptRecord extends RecordParams {
  id?: string | number;
  system?: string;
  prompt: string;
  /** Local files sent with the prompt (text inlined with its name, PDFs and images as file inputs). */
  files?: string[];
}

/** `{ id?, system?, messages, …params }`: a chat conversation (for the `chat` and `responses` endpoints). */
export interface MessagesRecord extends RecordParams {
  id?: string | number;
  system?: string;
  messages: readonly PromptMessage[];
  /** Local files attached to the last user message. */
  files?: string[];
}

/** An OpenAI Batch API input line; the endpoint comes from `url`, the request from `body`. */
export interface BatchLine {
  custom_id?: string | number;
  method?: 'POST';
  url: '/v1/chat/completions' | '/v1/responses' | '/v1/completions' | '/v1/embeddings';
  body: Record<string, unknown>;
}

/** One input record of `runPrompts`. */
export type PromptInput = PromptRecord | MessagesRecord | BatchLine;

export interface PreparedInput {
  /** The jobs, in input order: an array for an array, else a stream. */
  data: PipelineInput<PromptJob>;
  /** Records in the input, when known up front (arrays and files). */
  total: number | undefined;
  /** The records that name files, and which (arrays and files; a stream's are not known up front). */
  fileItems: FileItem[];
}

const fileItem = (job: PromptJob): FileItem[] => (job.files ? [{ index: job.index, files: job.files }] : []);

function checked(record: unknown, index: number, where: string, defaults: RecordDefaults): PromptJob {
  try {
    return toJob(record, index, defaults);
  } catch (error) {
    if (error instanceof RecordProblem) throw new InputError(`${where}: ${error.message}`);
    throw error;
  }
}

async function* fileJobs(path: string, defaults: RecordDefaults): AsyncGenerator<PromptJob> {
  let index = 0;
  for await (const { line, value } of readJsonl(path)) {
    yield checked(value, index, `${path}:${line}`, defaults);
    index += 1;
  }
}

async function* iterableJobs(
  prompts: Iterable<unknown> | AsyncIterable<unknown>,
  defaults: RecordDefaults,
): AsyncGenerator<PromptJob> {
  let index = 0;
  for await (const record of prompts) {
    yield checked(record, index, `prompts[${index}]`, defaults);
    index += 1;
  }
}

/** Checks the prompts (all of them, for an array or a file) and returns them as jobs. */
export async function preparePrompts(
  prompts: PipelineInput<PromptInput>,
  defaults: RecordDefaults,
): Promise<PreparedInput> {
  if (typeof prompts === 'string') {
    const info = await stat(prompts).catch(() => undefined);
    if (!info?.isFile()) throw new InputError(`${prompts}: no such file`);
    let total = 0;
    const fileItems: FileItem[] = [];
    for await (const job of fileJobs(prompts, defaults)) {
      total += 1;
      if (job.files) fileItems.push(...fileItem(job));
    }
    return { data: fileJobs(prompts, defaults), total, fileItems };
  }
  if (Array.isArray(prompts)) {
    const jobs = (prompts as readonly unknown[]).map((record, i) =>
      checked(record, i, `prompts[${i}]`, defaults),
    );
    return { data: jobs, total: jobs.length, fileItems: jobs.flatMap(fileItem) };
  }
  const iterable =
    prompts !== null &&
    typeof prompts === 'object' &&
    (Symbol.iterator in prompts || Symbol.asyncIterator in prompts);
  if (!iterable) {
    throw new InputError(
      `prompts: expected an array, an iterable, an async iterable or a .jsonl path, got ${prompts === null ? 'null' : typeof prompts}`,
    );
  }
  return {
    data: iterableJobs(prompts as Iterable<unknown> | AsyncIterable<unknown>, defaults),
    total: undefined,
    fileItems: [],
  };
}
