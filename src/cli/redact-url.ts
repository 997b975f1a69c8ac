/**
 * Redis URLs in anything the CLI prints (hints, the rerun command, status): their credentials
 * (`redis://:pw@`, `redis://user:pw@`, `rediss://pw@`) become `***`, the user name kept.
 */

/** Every Redis URL's password in `text` replaced by `***`. */
export function redactRedisUrl(text: string): string {
  return text.replace(/\b(rediss?:\/\/)([^@\s/]*)@/gi, (_all, scheme: string, auth: string) => {
    const colon = auth.indexOf(':');
    return `${scheme}${colon === -1 ? '' : auth.slice(0, colon)}:***@`;
  });
}
