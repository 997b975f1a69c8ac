/**
 * Run descriptors signed with a secret the coordinator and its workers share (`KEYBATCH_SECRET`):
 * `sig` is the HMAC-SHA256 (hex) of the descriptor's JSON without it. A worker that has a secret
 * refuses a descriptor without a valid signature, so a writer to Redis who lacks the secret cannot
 * register a run it would serve. Jobs (items) are not signed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The secret of this process: the option, else `KEYBATCH_SECRET`; undefined when neither is set. */
export function secretOf(
  option: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const secret = option ?? env['KEYBATCH_SECRET'];
  return secret === undefined || secret === '' ? undefined : secret;
}

const hmac = (text: string, secret: string) => createHmac('sha256', secret).update(text).digest('hex');

/** The registry value of a descriptor: its JSON, with `sig` when there is a secret. */
export function signedText(descriptor: object, secret: string | undefined): string {
  const text = JSON.stringify(descriptor);
  if (secret === undefined) return text;
  return JSON.stringify({ ...descriptor, sig: hmac(text, secret) });
}

/** Why a parsed registry value is refused under `secret`, or undefined (valid, or no secret here). */
export function signatureRefusal(
  parsed: Record<string, unknown>,
  secret: string | undefined,
): string | undefined {
  if (secret === undefined) return undefined;
  const { sig, ...rest } = parsed;
  if (typeof sig !== 'string') return 'it is not signed, and this worker has KEYBATCH_SECRET';
  const want = Buffer.from(hmac(JSON.stringify(rest), secret));
  const got = Buffer.from(sig);
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    return "its signature is not this worker's KEYBATCH_SECRET's";
  }
  return undefined;
}
