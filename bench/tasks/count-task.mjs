/**
 * The trivial task of the pipeline benchmark, as a worker-thread module (plain JavaScript, as a
 * user's module would be): one small result per item.
 *
 * @param {Array<{ id: number, text: string }>} chunk
 * @returns {Array<{ id: number, n: number }>}
 */
export default function count(chunk) {
  return chunk.map((x) => ({ id: x.id, n: x.text.length }));
}
