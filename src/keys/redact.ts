/** How a key is shown anywhere outside a request: its `name`, else `sk-…` + the last 4 characters. */
export function redactKey(apiKey: string, name?: string): string {
  if (name) return name;
  const tail = apiKey.length > 8 ? apiKey.slice(-4) : '';
  return `sk-…${tail}`;
}

/** Replaces every occurrence of any of `secrets` in `text` by its redacted form. */
export function scrubSecrets(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 8 && out.includes(secret)) out = out.split(secret).join(redactKey(secret));
  }
  return out;
}
