/** What the pool reads of a request body before it is sent: endpoint, model, stream, tokens. */
import { describe, expect, it } from 'vitest';
import { describeBody, endpointOf } from '../../src/keys/request-body.js';

const pdf = (bytes: number) => `data:application/pdf;base64,${'QUJD'.repeat(Math.ceil(bytes / 3))}`;
const png = (bytes: number) => `data:image/png;base64,${'QUJD'.repeat(Math.ceil(bytes / 3))}`;

describe('describeBody', () => {
  it('reads model and stream, and estimates characters ÷ 4 plus the completion cap', () => {
    const body = JSON.stringify({ model: 'm', stream: true, max_tokens: 10, messages: [] });
    expect(describeBody(body, '/chat/completions')).toEqual({
      model: 'm',
      stream: true,
      tokens: Math.ceil(body.length / 4) + 10,
    });
    expect(endpointOf('/responses?x=1')).toBe('responses');
    expect(describeBody(undefined)).toEqual({ tokens: 1 });
  });

  it('an inline PDF counts per page of its size and an inline image as one image, not their base64', () => {
    const text = (extra: unknown) =>
      JSON.stringify({ model: 'm', max_tokens: 0, messages: [{ role: 'user', content: [extra] }] });
    const plain = describeBody(text({ type: 'text', text: 'hi' }), '/chat/completions').tokens;
    const withPdf = describeBody(
      text({ type: 'file', file: { filename: 'a.pdf', file_data: pdf(19_950_000) } }),
      '/chat/completions',
    ).tokens;
    // ~20 MB: 200 pages of 1,265 tokens (a page is 100 KB), plus the part's own few characters.
    expect(withPdf).toBeGreaterThan(200 * 1265);
    expect(withPdf).toBeLessThan(200 * 1265 + plain + 50);
    const withImage = describeBody(
      text({ type: 'image_url', image_url: { url: png(3_000_000) } }),
      '/chat/completions',
    ).tokens;
    expect(withImage).toBeLessThan(765 + plain + 50);
  });
});
