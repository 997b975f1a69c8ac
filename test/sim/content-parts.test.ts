/**
 * File and image inputs through the real `openai` SDK over HTTP: chat content parts (`text`,
 * `image_url`, `file` with `file_data` or `file_id`) and responses input parts (`input_text`,
 * `input_image`, `input_file`), file ids scoped to the organization, answers that name a short
 * hash of each part so an edited file gives another answer.
 */
import { createHash } from 'node:crypto';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { clientFor, rejectionOf } from './helpers.js';

const A = 'sk-parts-org-a-key-0001';
const A2 = 'sk-parts-org-a-key-0002';
const B = 'sk-parts-org-b-key-0003';
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({
    keys: [{ key: A, organization: 'org-a' }, { key: A2, organization: 'org-a' }, { key: B }],
    batch: { dayMs: 2000, validateMs: 20, processMs: 100, finalizeMs: 20 },
  });
});
afterAll(async () => {
  await sim.close();
});

const a = () => clientFor(sim, A, { organization: 'org-a' });
const hash = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex').slice(0, 8);
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const PDF = Buffer.from('%PDF-1.4 a small document');
const dataUrl = (type: string, bytes: Buffer) => `data:${type};base64,${bytes.toString('base64')}`;

function ask(client: OpenAI, parts: OpenAI.ChatCompletionContentPart[]) {
  return client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: parts }],
  });
}

describe('chat content parts', () => {
  it('answers from the text and a hash of each image and inline file; an edited file changes the answer', async () => {
    const parts = (pdf: Buffer): OpenAI.ChatCompletionContentPart[] => [
      { type: 'text', text: 'describe these' },
      { type: 'image_url', image_url: { url: dataUrl('image/png', PNG) } },
      { type: 'file', file: { file_data: dataUrl('application/pdf', pdf), filename: 'scan.pdf' } },
    ];
    const first = await ask(a(), parts(PDF));
    expect(first.choices[0]?.message.content).toBe(
      `echo: describe these\n[image ${hash(PNG)}]\n[file scan.pdf ${hash(PDF)}]`,
    );
    const edited = Buffer.concat([PDF, Buffer.from(' edited')]);
    const second = await ask(a(), parts(edited));
    expect(second.choices[0]?.message.content).toBe(
      `echo: describe these\n[image ${hash(PNG)}]\n[file scan.pdf ${hash(edited)}]`,
    );
  });

  it('reads an uploaded file by id for any key of its organization, and refuses it to another organization', async () => {
    const file = await a().files.create({ file: await toFile(PDF, 'notes.pdf'), purpose: 'user_data' });
    const parts: OpenAI.ChatCompletionContentPart[] = [
      { type: 'text', text: 'summarise' },
      { type: 'file', file: { file_id: file.id } },
    ];
    for (const client of [a(), clientFor(sim, A2, { organization: 'org-a' })]) {
      const answer = await ask(client, parts);
      expect(answer.choices[0]?.message.content).toBe(`echo: summarise\n[file notes.pdf ${hash(PDF)}]`);
    }
    const refused = await rejectionOf(ask(clientFor(sim, B), parts));
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused['param']).toBe('messages[0].content[1].file.file_id');
    expect(refused.message).toContain(`the file '${file.id}' does not exist or you do not have access to it`);
  });

  it('refuses a file part with file_data but no filename as the API does (naming file_id)', async () => {
    const error = await rejectionOf(
      ask(a(), [
        { type: 'text', text: 'x' },
        { type: 'file', file: { file_data: dataUrl('application/pdf', PDF) } },
      ]),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error['code']).toBe('missing_required_parameter');
    expect(error['param']).toBe('messages[0].content[1].file.file_id');
  });
});

describe('responses input parts', () => {
  it('answers from input_text, input_image and input_file (inline and by id)', async () => {
    const file = await a().files.create({ file: await toFile(PDF, 'doc.pdf'), purpose: 'user_data' });
    const response = await a().responses.create({
      model: 'gpt-4o-mini',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'compare' },
            { type: 'input_image', image_url: dataUrl('image/png', PNG), detail: 'auto' },
            { type: 'input_file', file_data: dataUrl('application/pdf', PDF), filename: 'inline.pdf' },
            { type: 'input_file', file_id: file.id },
          ],
        },
      ],
    });
    expect(response.output_text).toBe(
      `echo: compare\n[image ${hash(PNG)}]\n[file inline.pdf ${hash(PDF)}]\n[file doc.pdf ${hash(PDF)}]`,
    );
    const refused = await rejectionOf(
      clientFor(sim, B).responses.create({
        model: 'gpt-4o-mini',
        input: [{ role: 'user', content: [{ type: 'input_file', file_id: file.id }] }],
      }),
    );
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused['param']).toBe('input[0].content[0].file_id');
  });

  it('reads file ids of the batch’s organization in batch lines', async () => {
    const file = await a().files.create({ file: await toFile(PDF, 'lined.pdf'), purpose: 'user_data' });
    const row = {
      custom_id: 'f',
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'gpt-4o-mini',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'read' },
              { type: 'file', file: { file_id: file.id } },
            ],
          },
        ],
      },
    };
    const input = await a().files.create({
      file: await toFile(Buffer.from(`${JSON.stringify(row)}\n`), 'in.jsonl'),
      purpose: 'batch',
    });
    let batch = await a().batches.create({
      input_file_id: input.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const deadline = Date.now() + 15_000;
    while (batch.status !== 'completed' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      batch = await a().batches.retrieve(batch.id);
    }
    expect(batch.status).toBe('completed');
    const [line] = (await (await a().files.content(batch.output_file_id as string)).text()).split('\n');
    const body = JSON.parse(line ?? '{}').response.body as OpenAI.ChatCompletion;
    expect(body.choices[0]?.message.content).toBe(`echo: read\n[file lined.pdf ${hash(PDF)}]`);
  });
});
