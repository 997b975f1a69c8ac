/**
 * `/v1/files` and `/v1/batches` through the real `openai` SDK (`maxRetries: 0`) over HTTP, on a
 * time scale where a whole batch takes about a second: every state, request counts, output and
 * error files in the Batch API's line format, per-line errors, expiry, cancel, the enqueued-token
 * cap, organization scoping and the object stats. Waits poll with generous deadlines.
 */
import OpenAI, { toFile } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/sim/index.js';
import { clientFor, rejectionOf } from './helpers.js';

const A = 'sk-batch-org-a-key-0001';
const A2 = 'sk-batch-org-a-key-0002';
const B = 'sk-batch-org-b-key-0003';
const SOLO = 'sk-batch-solo-key-0004';
const FAST = { dayMs: 3000, validateMs: 50, processMs: 300, finalizeMs: 50 };

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(batch: SimulatorOptions['batch'] = FAST): Promise<Simulator> {
  sim = await startSimulator({
    keys: [
      { key: A, organization: 'org-a' },
      { key: A2, organization: 'org-a' },
      { key: B, organization: 'org-b' },
      { key: SOLO },
    ],
    batch,
  });
  return sim;
}

function client(s: Simulator, key: string): OpenAI {
  const org = key === B ? 'org-b' : key === SOLO ? undefined : 'org-a';
  return clientFor(s, key, org ? { organization: org } : {});
}

const line = (customId: string, text: string, extra: Record<string, unknown> = {}) => ({
  custom_id: customId,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }], ...extra },
});

async function upload(c: OpenAI, rows: unknown[], name = 'input.jsonl') {
  const text = rows.map((row) => (typeof row === 'string' ? row : JSON.stringify(row))).join('\n');
  return c.files.create({ file: await toFile(Buffer.from(`${text}\n`), name), purpose: 'batch' });
}

async function submit(c: OpenAI, rows: unknown[], metadata?: Record<string, string>) {
  const file = await upload(c, rows);
  return c.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    ...(metadata ? { metadata } : {}),
  });
}

const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

/** Polls until the batch is in `status` (or any final state), recording every status seen. */
async function waitFor(c: OpenAI, id: string, status?: string, timeoutMs = 15_000) {
  const seen: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await c.batches.retrieve(id);
    if (seen.at(-1) !== batch.status) seen.push(batch.status);
    if (batch.status === status || FINAL.has(batch.status)) return { batch, seen };
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${batch.status}; seen ${seen.join(' → ')}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function jsonlOf(c: OpenAI, fileId: string | null | undefined) {
  if (!fileId) return [];
  const text = await (await c.files.content(fileId)).text();
  return (
    text
      .split('\n')
      .filter(Boolean)
      // biome-ignore lint/suspicious/noExplicitAny: JSONL rows read loosely
      .map((row) => JSON.parse(row) as Record<string, any>)
  );
}

describe('a batch over HTTP', () => {
  it('goes validating → in_progress → completed, with counts, usage, metadata and a shuffled output file', async () => {
    const s = await start();
    const c = client(s, A);
    const rows = Array.from({ length: 12 }, (_, i) => line(`req-${i}`, `question ${i}`));
    const created = await submit(c, rows, { job: 'nightly' });
    expect(created).toMatchObject({
      object: 'batch',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      status: 'validating',
      metadata: { job: 'nightly' },
      output_file_id: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
    });
    expect(created.id).toMatch(/^batch_/);
    expect(created.expires_at).toBeGreaterThanOrEqual(created.created_at);
    expect(created.expires_at).toBeLessThanOrEqual(created.created_at + 4);
    const { batch } = await waitFor(c, created.id);
    expect(batch.status).toBe('completed');
    expect(batch).toMatchObject({
      model: 'gpt-4o-mini',
      request_counts: { total: 12, completed: 12, failed: 0 },
      error_file_id: null,
    });
    expect(batch.in_progress_at).toEqual(expect.any(Number));
    expect(batch.finalizing_at).toEqual(expect.any(Number));
    expect(batch.completed_at).toEqual(expect.any(Number));
    expect(batch.usage?.input_tokens).toBeGreaterThan(0);

    const output = await jsonlOf(c, batch.output_file_id);
    expect(output.map((row) => row['custom_id']).sort()).toEqual(rows.map((r) => r.custom_id).sort());
    expect(output.map((row) => row['custom_id'])).not.toEqual(rows.map((r) => r.custom_id));
    for (const row of output) {
      expect(Object.keys(row)).toEqual(['id', 'custom_id', 'response', 'error']);
      expect(row['id']).toMatch(/^batch_req_/);
      expect(row['error']).toBeNull();
      expect(row['response']).toMatchObject({ status_code: 200, request_id: expect.stringMatching(/^req_/) });
      const n = String(row['custom_id']).slice(4);
      expect(row['response'].body.choices[0].message.content).toBe(`echo: question ${n}`);
    }
    const file = await c.files.retrieve(batch.output_file_id as string);
    expect(file).toMatchObject({ purpose: 'batch_output', filename: `${batch.id}_output.jsonl` });
    expect(file.expires_at).toBe(file.created_at + 30 * 86_400);
  });

  it('sees in_progress with partial counts and finalizing on the way (a slower scale)', async () => {
    const s = await start({ dayMs: 60_000, validateMs: 100, processMs: 3000, finalizeMs: 400 });
    const c = client(s, A);
    const created = await submit(
      c,
      Array.from({ length: 30 }, (_, i) => line(`p-${i}`, `p ${i}`)),
    );
    const partial = await waitFor(c, created.id, 'in_progress');
    expect(partial.batch.request_counts?.total).toBe(30);
    const { seen } = await waitFor(c, created.id);
    expect(seen.at(-1)).toBe('completed');
    // Every status seen comes in the documented order.
    const order = ['validating', 'in_progress', 'finalizing', 'completed'];
    expect(seen.map((x) => order.indexOf(x))).toEqual([...seen.map((x) => order.indexOf(x))].sort());
  });

  it('writes a line whose request fails ([[sim:400]]) to the error file with its status and the API error body', async () => {
    const s = await start();
    const c = client(s, A);
    const created = await submit(c, [
      line('good', 'fine'),
      line('bad', 'broken [[sim:400]]'),
      line('hot', 'x', { temperature: 5 }),
    ]);
    const { batch } = await waitFor(c, created.id);
    expect(batch).toMatchObject({
      status: 'completed',
      request_counts: { total: 3, completed: 1, failed: 2 },
    });
    const errors = await jsonlOf(c, batch.error_file_id);
    expect(
      errors.map((r) => [r['custom_id'], r['response'].status_code, r['response'].body.error.code]).sort(),
    ).toEqual([
      ['bad', 400, 'context_length_exceeded'],
      ['hot', 400, 'decimal_above_max_value'],
    ]);
    expect((await jsonlOf(c, batch.output_file_id)).map((r) => r['custom_id'])).toEqual(['good']);
  });

  it('fails validation naming each bad line (invalid JSON, duplicate custom_id, wrong url)', async () => {
    const s = await start();
    const c = client(s, A);
    const bad = { ...line('c', 'z'), url: '/v1/embeddings' };
    const created = await submit(c, [line('a', 'x'), '{"custom_id": "b", ', line('a', 'y'), bad]);
    const { batch } = await waitFor(c, created.id);
    expect(batch.status).toBe('failed');
    expect(batch.failed_at).toEqual(expect.any(Number));
    expect(batch.errors?.data?.map((e) => [e.code, e.line])).toEqual([
      ['invalid_json_line', 2],
      ['duplicate_custom_id', 3],
      ['url_mismatch', 4],
    ]);
    expect(batch.output_file_id).toBeNull();
  });

  it('expires lines that never complete: batch_expired lines in the error file, the others answered; expirex1 expires only once', async () => {
    const s = await start({ ...FAST, dayMs: 1200 });
    const c = client(s, A);
    const rows = [line('a', 'one'), line('late', 'slow [[sim:expirex1]]'), line('c', 'three')];
    const created = await submit(c, rows);
    const { batch } = await waitFor(c, created.id);
    expect(batch).toMatchObject({ status: 'expired', request_counts: { total: 3, completed: 2, failed: 1 } });
    expect(batch.expired_at).toEqual(expect.any(Number));
    expect((await jsonlOf(c, batch.output_file_id)).map((r) => r['custom_id']).sort()).toEqual(['a', 'c']);
    expect(await jsonlOf(c, batch.error_file_id)).toEqual([
      {
        id: expect.stringMatching(/^batch_req_/),
        custom_id: 'late',
        response: null,
        error: {
          code: 'batch_expired',
          message: 'This request could not be executed before the completion window expired.',
        },
      },
    ]);
    const again = await waitFor(c, (await submit(c, [rows[1]])).id);
    expect(again.batch).toMatchObject({ status: 'completed', request_counts: { completed: 1 } });
  });

  it('expires the last expireLines lines of every batch', async () => {
    const s = await start({ ...FAST, dayMs: 1000, expireLines: 2 });
    const c = client(s, A);
    const { batch } = await waitFor(
      c,
      (await submit(c, [line('1', 'a'), line('2', 'b'), line('3', 'c')])).id,
    );
    expect(batch.status).toBe('expired');
    expect((await jsonlOf(c, batch.error_file_id)).map((r) => r['custom_id']).sort()).toEqual(['2', '3']);
  });

  it('cancels: cancelling, then cancelled; a finished batch cannot be cancelled', async () => {
    const s = await start({ dayMs: 60_000, validateMs: 20, processMs: 50_000, finalizeMs: 100 });
    const c = client(s, A);
    const created = await submit(c, [line('x', 'x'), line('y', 'y')]);
    const cancelling = await c.batches.cancel(created.id);
    expect(cancelling.status).toBe('cancelling');
    expect(cancelling.cancelling_at).toEqual(expect.any(Number));
    const { batch } = await waitFor(c, created.id);
    expect(batch.status).toBe('cancelled');
    expect(batch.cancelled_at).toEqual(expect.any(Number));
    const error = await rejectionOf(c.batches.cancel(created.id));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.message).toContain("Cannot cancel a batch with status 'cancelled'.");
    expect(s.stats().objects.batchesCancelled).toBe(1);
  });

  it('fails a batch over the enqueued-token cap with token_limit_exceeded while others are open, and takes it once they end', async () => {
    // Batches that stay in_progress for a minute: the first is open whatever the machine's speed.
    const s = await start({
      ...FAST,
      dayMs: 120_000,
      processMs: 60_000,
      enqueuedTokenLimit: { 'gpt-4o-mini': 40 },
    });
    const c = client(s, A);
    const rows = [line('t', 'x'.repeat(100))]; // 25 prompt tokens
    const first = await submit(c, rows);
    const second = await submit(c, rows);
    const { batch: refused } = await waitFor(c, second.id);
    expect(refused.status).toBe('failed');
    expect(refused.errors?.data?.[0]).toMatchObject({ code: 'token_limit_exceeded', line: null });
    expect(refused.errors?.data?.[0]?.message).toContain(
      'Enqueued token limit reached for gpt-4o-mini in organization org-a. Limit: 40 enqueued tokens.',
    );
    // Another organization has its own budget.
    const b = client(s, B);
    expect((await waitFor(b, (await submit(b, rows)).id, 'in_progress')).batch.status).toBe('in_progress');
    await c.batches.cancel(first.id);
    await waitFor(c, first.id, 'cancelled');
    expect((await waitFor(c, (await submit(c, rows)).id, 'in_progress')).batch.status).toBe('in_progress');
  });

  it('lists batches newest first with after and limit', async () => {
    const s = await start();
    const c = client(s, A);
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await submit(c, [line(`l${i}`, 'x')])).id);
    const first = await c.batches.list({ limit: 2 });
    expect(first.data.map((b) => b.id)).toEqual([ids[2], ids[1]]);
    expect(first.hasNextPage()).toBe(true);
    const rest = await c.batches.list({ limit: 2, after: ids[1] as string });
    expect(rest.data.map((b) => b.id)).toEqual([ids[0]]);
    const all: string[] = [];
    for await (const batch of c.batches.list({ limit: 1 })) all.push(batch.id);
    expect(all).toEqual([...ids].reverse());
  });
});

describe('organization scoping and stats', () => {
  it('lets keys of the same organization share files and batches, and answers 404 to another organization', async () => {
    const s = await start();
    const a = client(s, A);
    const created = await submit(a, [line('o', 'owned')]);
    const { batch } = await waitFor(client(s, A2), created.id);
    expect(batch.status).toBe('completed');
    const b = client(s, B);
    const solo = client(s, SOLO);
    for (const other of [b, solo]) {
      const missing = await rejectionOf(other.batches.retrieve(created.id));
      expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
      expect(missing.message).toContain(`No batch found with id '${created.id}'.`);
      expect(await rejectionOf(other.batches.cancel(created.id))).toBeInstanceOf(OpenAI.NotFoundError);
      const file = await rejectionOf(other.files.content(batch.output_file_id as string));
      expect(file).toBeInstanceOf(OpenAI.NotFoundError);
      expect(await rejectionOf(other.files.retrieve(created.input_file_id))).toBeInstanceOf(
        OpenAI.NotFoundError,
      );
      expect((await other.batches.list()).data).toEqual([]);
      expect((await other.files.list()).data).toEqual([]);
      const reuse = await rejectionOf(
        other.batches.create({
          input_file_id: created.input_file_id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        }),
      );
      expect(reuse).toBeInstanceOf(OpenAI.NotFoundError);
    }
    await a.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const { objects } = s.stats();
    expect(objects.byRoute['chat']).toEqual({ 'sk-…0001': 1 });
    expect(objects.filesCreated).toBe(1);
    expect(objects.batchesCreated).toBe(1);
    // Requests are counted whatever the answer: the other organizations' refused creates too.
    expect(objects.byRoute['batches.create']).toEqual({ 'sk-…0001': 1, 'sk-…0003': 1, 'sk-…0004': 1 });
    expect(objects.byRoute['files.create']).toEqual({ 'sk-…0001': 1 });
    expect(objects.byRoute['batches.get']?.['sk-…0002']).toBeGreaterThan(0);
    expect(objects.touchedBy[created.id]).toEqual(['sk-…0001', 'sk-…0002', 'sk-…0003', 'sk-…0004']);
    expect(objects.touchedBy[created.input_file_id]).toEqual(['sk-…0001', 'sk-…0003', 'sk-…0004']);
    expect(JSON.stringify(s.stats())).not.toContain(A);
  });

  it('refuses create without a file of this organization, a window other than 24h, an unknown endpoint', async () => {
    const s = await start();
    const c = client(s, A);
    const file = await upload(c, [line('a', 'x')]);
    const base = {
      input_file_id: file.id,
      endpoint: '/v1/chat/completions' as const,
      completion_window: '24h' as const,
    };
    const window = await rejectionOf(c.batches.create({ ...base, completion_window: '48h' as '24h' }));
    expect(window).toBeInstanceOf(OpenAI.BadRequestError);
    expect(window['param']).toBe('completion_window');
    const endpoint = await rejectionOf(c.batches.create({ ...base, endpoint: '/v1/moderations' }));
    expect(endpoint['param']).toBe('endpoint');
    const missing = await rejectionOf(c.batches.create({ ...base, input_file_id: 'file-nope' }));
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    const notJsonl = await rejectionOf(
      c.files.create({ file: await toFile(Buffer.from('x'), 'in.txt'), purpose: 'batch' }),
    );
    expect(notJsonl.message).toContain('Invalid file format for Batch API. Must be .jsonl');
    expect(s.stats().objects.batchesCreated).toBe(0);
  });

  it('uploads, lists, downloads and deletes files of its organization', async () => {
    const s = await start();
    const c = client(s, A);
    const content = Buffer.from('{"hello": "file"}\n');
    const file = await c.files.create({ file: await toFile(content, 'notes.jsonl'), purpose: 'batch' });
    const data = await c.files.create({
      file: await toFile(Buffer.from('abc'), 'data.txt'),
      purpose: 'user_data',
    });
    expect(Buffer.from(await (await c.files.content(file.id)).arrayBuffer())).toEqual(content);
    expect((await c.files.list()).data.map((f) => f.id)).toEqual([data.id, file.id]);
    expect((await c.files.list({ purpose: 'user_data' })).data.map((f) => f.id)).toEqual([data.id]);
    expect(await c.files.delete(file.id)).toEqual({ id: file.id, object: 'file', deleted: true });
    expect(await rejectionOf(c.files.retrieve(file.id))).toBeInstanceOf(OpenAI.NotFoundError);
    const noPurpose = await fetch(`${s.url}/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SOLO}` },
      body: (() => {
        const form = new FormData();
        form.append('file', new Blob(['x']), 'x.jsonl');
        return form;
      })(),
    });
    expect(noPurpose.status).toBe(400);
    expect(((await noPurpose.json()) as { error: { param: string } }).error.param).toBe('purpose');
  });
});
