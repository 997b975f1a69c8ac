/**
 * The simulator's decisions, without any HTTP: what a request gets (an answer, a dropped
 * connection or no answer at all) and after how long. The order of checks is: route, faults,
 * auth, organization, JSON, parameters, model access, quota, triggers, context limit, rate limits.
 */
import { redactKey } from '../keys/redact.js';
import * as errors from './api-errors.js';
import { BATCH_URLS, checkShape, SERVE, serveBatchLine } from './batch-serve.js';
import { modelList, modelObject } from './catalog.js';
import { checkContentParts, type FileResolver } from './content-parts.js';
import { rateLimitedAnswer } from './dialects.js';
import { createPrng, type Failure, FaultQueue, RandomFaults } from './faults.js';
import { KeyTable } from './key-table.js';
import { ObjectStore } from './objects.js';
import { acceptsModel, type ResolvedKey, type ResolvedOptions, SIMULATOR_DEFAULTS } from './options.js';
import { checkParameters } from './params.js';
import { type ModelEndpoint, readRequestText } from './request-text.js';
import type { ServeContext } from './responses.js';
import { isObjectRoute, matchRoute, type Route } from './routes.js';
import { type AnswerRecord, RequestLog, StatsRecorder } from './stats.js';
import {
  chatCompletionStream,
  responseStream,
  type StreamServed,
  textCompletionStream,
} from './streaming.js';
import { TriggerMemory } from './triggers.js';
import type { RecordedRequest, SimStats } from './types.js';

export interface SimRequestInput {
  method: string;
  /** Without the query string. */
  path: string;
  authorization: string | undefined;
  organization: string | undefined;
  contentType: string | undefined;
  body: Buffer;
  /** The query string, without `?`. @default '' */
  query?: string;
}

export type Outcome =
  | { kind: 'json'; status: number; body: unknown; headers: Record<string, string> }
  | { kind: 'sse'; status: 200; body: string; headers: Record<string, string> }
  | { kind: 'bytes'; status: 200; body: Buffer; headers: Record<string, string> }
  | { kind: 'drop' }
  | { kind: 'hang' };

export interface Decision {
  outcome: Outcome;
  delayMs: number;
  record: RecordedRequest;
  /** What the answer adds to the stats once written (`null` for drops and hangs). */
  answer: AnswerRecord | null;
  /** Run when the answer is written (settling a request's tokens to its actual usage). */
  onAnswered?: (now: number) => void;
}

type Json = { ok: true; value: unknown } | { ok: false };

/** An answer before the common headers are added. */
type AnswerInput = errors.ErrorAnswer | { status: number; body: unknown; headers?: Record<string, string> };

/** What a successful model answer adds to the stats. */
interface Success {
  fingerprint: string;
  tokens: number;
}

const NO_BODY: Json = { ok: true, value: null };

interface Request {
  route: Route;
  input: SimRequestInput;
  bearer: string | null;
  spec: ResolvedKey | undefined;
  json: Json;
  now: number;
  delayMs: number;
  record: RecordedRequest;
}

function parseBearer(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1] ?? null;
}

function parseJson(body: Buffer): Json {
  if (body.length === 0) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const STREAM: Partial<
  Record<ModelEndpoint, (body: Record<string, unknown>, ctx: ServeContext) => StreamServed>
> = {
  chat: chatCompletionStream,
  completions: textCompletionStream,
  responses: responseStream,
};

export class SimCore {
  readonly keys: KeyTable;
  readonly faults = new FaultQueue();
  readonly stats = new StatsRecorder();
  readonly log = new RequestLog();
  readonly #options: ResolvedOptions;
  readonly #random: RandomFaults;
  readonly #latencyRandom: () => number;
  readonly #triggers = new TriggerMemory();
  readonly #objects: ObjectStore;
  #counter = 0;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#objects = new ObjectStore(options.batch, this.stats);
    this.keys = new KeyTable(options.keys);
    this.#random = new RandomFaults(options);
    this.#latencyRandom = createPrng(options.seed ^ 0x5eed);
  }

  /** Decides what a request gets; counts it as received and records it in the log. */
  decide(input: SimRequestInput, now: number): Decision {
    const route = matchRoute(input.method, input.path);
    const bearer = parseBearer(input.authorization);
    const spec = bearer === null ? undefined : this.keys.get(bearer);
    const json =
      route?.kind === 'model' || route?.kind === 'batches.create' ? parseJson(input.body) : NO_BODY;
    const record = this.log.add({
      method: input.method,
      path: input.path,
      key: bearer === null ? null : (spec?.label ?? redactKey(bearer)),
      ...(input.organization !== undefined ? { organization: input.organization } : {}),
      body: json.ok ? json.value : null,
      status: 0,
      time: now,
    });
    this.stats.received(spec?.label ?? null);
    const { min, max } = this.#options.latency;
    const delayMs = max > min ? min + this.#latencyRandom() * (max - min) : min;
    if (!route) {
      return this.#answer(record, null, errors.invalidUrl(input.method, input.path), delayMs, now);
    }
    return this.#decide({ route, input, bearer, spec, json, now, delayMs, record });
  }

  #nextId(): string {
    this.#counter += 1;
    return `sim${this.#counter.toString(36).padStart(6, '0')}`;
  }

  /**
   * A JSON answer; `spec` (an authenticated key) adds its rate-limit headers in its dialect, unless
   * `limitHeaders` is false (a bare 429).
   */
  #answer(
    record: RecordedRequest,
    spec: ResolvedKey | null,
    answer: AnswerInput,
    delayMs: number,
    now: number,
    success?: Success,
    limitHeaders = true,
  ): Decision {
    const headers: Record<string, string> = {
      'x-request-id': `req_${this.#nextId()}`,
      'openai-processing-ms': String(Math.round(delayMs)),
      'openai-version': '2020-10-01',
      ...(spec ? { 'openai-organization': spec.organizationLabel } : {}),
      ...(spec && limitHeaders ? this.keys.headers(spec, now) : {}),
      ...answer.headers,
    };
    const body = answer.body as { error?: { code?: unknown } } | null;
    const code = body?.error?.code;
    return {
      outcome: { kind: 'json', status: answer.status, body: answer.body, headers },
      delayMs,
      record,
      answer: {
        status: answer.status,
        keyLabel: spec?.label ?? null,
        // Only model requests go through a group's limiter.
        groupLabel: spec && matchRoute(record.method, record.path)?.kind === 'model' ? spec.groupLabel : null,
        errorCode: typeof code === 'string' ? code : null,
        ...(success ? { fingerprint: success.fingerprint, tokens: success.tokens } : {}),
      },
    };
  }

  #failure(
    req: Request,
    failure: Failure,
    spec: ResolvedKey | null,
    extra: Partial<errors.StatusContext>,
  ): Decision {
    if (failure.kind !== 'status') {
      return { outcome: { kind: failure.kind }, delayMs: req.delayMs, record: req.record, answer: null };
    }
    const body = req.json.ok && isRecord(req.json.value) ? req.json.value : {};
    const answer = errors.errorForStatus(failure.status, {
      model: typeof body['model'] === 'string' ? body['model'] : 'gpt-4o-mini',
      keyLabel: req.bearer === null ? 'sk-…' : redactKey(req.bearer),
      param: 'messages',
      contextLimit: this.#options.contextLimit,
      promptTokens: 0,
      retryAfterMs: failure.retryAfterMs ?? SIMULATOR_DEFAULTS.faultRetryAfterMs,
      ...extra,
    });
    return this.#answer(req.record, spec, answer, req.delayMs, req.now);
  }

  #decide(req: Request): Decision {
    const { route, input, record, now } = req;
    const fault = this.faults.take(req.bearer) ?? this.#random.draw();
    if (fault) return this.#failure(req, fault, null, {});

    const { spec } = req;
    if (req.bearer === null) return this.#answer(record, null, errors.missingApiKey(), req.delayMs, now);
    if (!spec)
      return this.#answer(record, null, errors.invalidApiKey(redactKey(req.bearer)), req.delayMs, now);
    if (spec.organization !== undefined && input.organization !== spec.organization) {
      return this.#answer(record, null, errors.mismatchedOrganization(), req.delayMs, now);
    }
    const answer = (a: AnswerInput) => this.#answer(record, spec, a, req.delayMs, now);
    // Files and batches count themselves (with the ids they name).
    if (!isObjectRoute(route)) {
      this.stats.objectRequest(route.kind === 'model' ? route.endpoint : route.kind, spec.label, []);
    }

    if (isObjectRoute(route)) {
      const result = this.#objects.answer(
        {
          route,
          organization: spec.orgId,
          keyLabel: spec.label,
          contentType: input.contentType,
          body: input.body,
          query: new URLSearchParams(input.query ?? ''),
          now,
        },
        {
          nextId: () => this.#nextId(),
          serve: (endpoint, body) =>
            serveBatchLine(
              {
                options: this.#options,
                triggers: this.#triggers,
                nextId: () => this.#nextId(),
                resolve: this.#fileResolver(spec),
              },
              spec,
              endpoint,
              body,
            ),
          text: (endpoint, body) =>
            readRequestText(BATCH_URLS[endpoint] ?? 'chat', body, this.#fileResolver(spec)).fingerprint,
        },
      );
      if (!('bytes' in result)) return answer(result);
      const decision = answer({ status: 200, body: null, headers: result.headers });
      if (decision.outcome.kind === 'json') {
        decision.outcome = {
          kind: 'bytes',
          status: 200,
          body: result.bytes,
          headers: decision.outcome.headers,
        };
      }
      return decision;
    }

    switch (route.kind) {
      case 'models.list':
        return answer({
          status: 200,
          body: modelList(spec.models ? [...spec.models] : this.#options.models),
        });
      case 'models.get': {
        const known = acceptsModel(spec.models ?? this.#options.acceptedModels, route.id);
        return answer(known ? { status: 200, body: modelObject(route.id) } : errors.modelNotFound(route.id));
      }
      case 'model':
        return this.#decideModel(req, spec, route.endpoint);
    }
  }

  /** Uploaded files of the key's organization, by id, for content parts. */
  #fileResolver(spec: ResolvedKey): FileResolver {
    return (id) => {
      const file = this.#objects.files.get(spec.orgId, id);
      return file ? { filename: file.object.filename, content: file.content } : undefined;
    };
  }

  #decideModel(req: Request, spec: ResolvedKey, endpoint: ModelEndpoint): Decision {
    const answer = (a: AnswerInput, success?: Success) =>
      this.#answer(req.record, spec, a, req.delayMs, req.now, success);
    if (!req.json.ok) return answer(errors.invalidJson());
    const body = req.json.value;
    if (!isRecord(body))
      return answer(errors.invalidParameter('body', 'The request body must be a JSON object.'));
    const shape = checkShape(endpoint, body);
    if (shape) return answer(shape);
    const model = body['model'] as string;
    const accepted = spec.models ?? this.#options.acceptedModels;
    if (!acceptsModel(accepted, model)) return answer(errors.modelNotFound(model));
    const refused = checkParameters(endpoint, body);
    if (refused) return answer(refused);
    if (!this.keys.hasQuota(spec)) return answer(errors.insufficientQuota());

    const resolve = this.#fileResolver(spec);
    const badPart = checkContentParts(body, resolve);
    if (badPart) return answer(badPart);
    const text = readRequestText(endpoint, body, resolve);
    const triggered = this.#triggers.evaluate(text.fingerprint);
    if (triggered) {
      req.delayMs += triggered.sleepMs;
      if (triggered.action) {
        return this.#failure(req, triggered.action, spec, {
          model,
          param: text.param,
          promptTokens: text.promptTokens,
          keyLabel: spec.label,
        });
      }
    }
    const limit = this.#options.contextLimit;
    if (text.promptTokens > limit) {
      return answer(errors.contextLengthExceeded(limit, text.promptTokens, text.param));
    }
    const admission = this.keys.admit(spec, text.promptTokens + text.maxOutputTokens, req.delayMs, req.now);
    if (!admission.allowed) {
      if (admission.kind === 'busy') return answer(errors.serverBusy());
      const refused = rateLimitedAnswer(spec.headers, admission, model, spec.organizationLabel, req.now);
      return this.#answer(req.record, spec, refused, req.delayMs, req.now, undefined, refused.limitHeaders);
    }
    if (admission.delayMs !== undefined) req.delayMs = admission.delayMs;
    this.keys.useQuota(spec);
    const settled = (decision: Decision, tokens: number): Decision => {
      const { settle } = admission;
      if (settle) decision.onAnswered = (now) => settle(tokens, now);
      return decision;
    };

    const ctx: ServeContext = {
      id: this.#nextId(),
      model,
      created: Math.floor(Date.now() / 1000),
      fingerprint: text.fingerprint,
      promptTokens: text.promptTokens,
      ...(this.#options.structured ? { structured: this.#options.structured } : {}),
    };
    const stream = body['stream'] === true ? STREAM[endpoint] : undefined;
    if (stream) {
      const served = stream(body, ctx);
      const decision = answer(
        { status: 200, body: null },
        { fingerprint: text.fingerprint, tokens: served.totalTokens },
      );
      if (decision.outcome.kind === 'json') {
        decision.outcome = { kind: 'sse', status: 200, body: served.sse, headers: decision.outcome.headers };
      }
      return settled(decision, served.totalTokens);
    }
    const served = SERVE[endpoint](body, ctx);
    return settled(
      answer(
        { status: 200, body: served.body },
        { fingerprint: text.fingerprint, tokens: served.totalTokens },
      ),
      served.totalTokens,
    );
  }

  /** Marks a decision carried out at `now`: answered (status written) or dropped / hung. */
  settle(decision: Decision, now: number): void {
    const { outcome } = decision;
    if (outcome.kind === 'drop') this.stats.dropped();
    else if (outcome.kind === 'hang') this.stats.hung();
    else if (decision.answer) {
      decision.record.status = outcome.status;
      this.stats.answered(decision.answer);
      decision.onAnswered?.(now);
    }
  }

  /** The counters, with each group's limiter kind and peak rate. */
  snapshot(): SimStats {
    const { min, max } = this.#options.latency;
    return this.stats.snapshot(this.keys.groups((min + max) / 2));
  }
}
