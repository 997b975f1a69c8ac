/**
 * What this run knows of an organization's enqueued-token queue on the Batch API: which of its
 * batches may hold tokens in it.
 *
 * The API refuses a batch (`token_limit_exceeded`) when the tokens of the organization's open
 * batches plus its own pass the limit, and a refused batch holds none. So a refusal means "too
 * large alone" when none of the batches open at its creation held tokens: batches created beside
 * it and refused too (the two halves of a split shard) do not count. While one of them may hold
 * tokens (still validating, or running), the answer is to wait for it; once one that held tokens
 * has ended, to submit again. Only batches of this run are known: another process's batches in the
 * same organization are not seen.
 */
import { EventEmitter } from 'node:events';

/**
 * Where a batch stands in the queue: `validating` (not known yet), `held` (accepted: its tokens
 * are enqueued), `refused` (failed: it never held any), `over` (ended after it may have held some).
 */
export type Standing = 'validating' | 'held' | 'refused' | 'over';

/** What a refused batch's shard does next: wait for its peers, submit again, or is too large alone. */
export type Judgement = 'wait' | 'again' | 'alone';

/** The standing of a batch after a poll read `status` (the Batch API's states). */
export function standingAfter(previous: Standing, status: string): Standing {
  switch (status) {
    case 'validating':
      return previous;
    case 'failed':
      // A batch fails at validation (before it holds tokens); after holding some it has ended.
      return previous === 'held' || previous === 'over' ? 'over' : 'refused';
    case 'in_progress':
    case 'finalizing':
    case 'cancelling':
      return 'held';
    default:
      // completed, expired, cancelled, or a state this version does not know: it may have held tokens.
      return 'over';
  }
}

/**
 * Judges a refusal from the standings of the batches open when the refused one was created
 * (`undefined`: that moment was not seen, as for a batch a stopped run created).
 */
export function judgeRefusal(peers: readonly Standing[], creationSeen: boolean): Judgement {
  if (peers.some((s) => s === 'validating' || s === 'held')) return 'wait';
  if (!creationSeen) return 'again';
  return peers.includes('over') ? 'again' : 'alone';
}

interface Entry {
  scope: string;
  standing: Standing;
}

/** A batch followed by `EnqueuedBatches`: its number, scope, and the peers of its creation. */
export interface Ticket {
  readonly id: number;
  readonly scope: string;
  /** Batches of its scope open (or being created) when it was created; `undefined`: not seen. */
  peers: number[] | undefined;
  /** The last batch number given out when its create request was sent. */
  readonly sentAfter: number;
}

/**
 * The batches of this run by scope (an organization, or a key without one), and where each
 * stands. Emits 'change' whenever a standing changes.
 */
export class EnqueuedBatches extends EventEmitter {
  readonly #entries = new Map<number, Entry>();
  #last = 0;

  constructor() {
    super();
    // Every shard waiting on its peers listens: as many as the run has shards.
    this.setMaxListeners(0);
  }

  /** A create request for a batch in `scope` is about to be sent: its peers so far are the open ones. */
  creating(scope: string): Ticket {
    const peers = this.#open(scope);
    const sentAfter = this.#last;
    return { id: this.#add(scope), scope, peers, sentAfter };
  }

  /** Its create request answered: batches whose creation began meanwhile may have come first. */
  created(ticket: Ticket): void {
    for (let id = ticket.sentAfter + 1; id <= this.#last; id++) {
      const entry = this.#entries.get(id);
      if (id !== ticket.id && entry?.scope === ticket.scope && !ticket.peers?.includes(id))
        ticket.peers?.push(id);
    }
  }

  /** A batch created where this process did not see it (a stopped run's): its peers are unknown. */
  adopt(scope: string): Ticket {
    const sentAfter = this.#last;
    return { id: this.#add(scope), scope, peers: undefined, sentAfter };
  }

  /** A poll of the ticket's batch read `status`. */
  observe(ticket: Ticket, status: string): void {
    const entry = this.#entries.get(ticket.id);
    if (!entry) return;
    this.#set(entry, standingAfter(entry.standing, status));
  }

  /** Its batch is no longer polled: if its fate is unknown, it may have held tokens. */
  release(ticket: Ticket): void {
    const entry = this.#entries.get(ticket.id);
    if (entry && (entry.standing === 'validating' || entry.standing === 'held')) this.#set(entry, 'over');
  }

  /** What the ticket's batch, refused for the enqueued token limit, tells its shard to do now. */
  judge(ticket: Ticket): Judgement {
    const peers = ticket.peers ?? this.#open(ticket.scope).filter((id) => id !== ticket.id);
    const standings = peers.map((id) => this.#entries.get(id)?.standing ?? 'over');
    return judgeRefusal(standings, ticket.peers !== undefined);
  }

  #add(scope: string): number {
    const id = ++this.#last;
    this.#entries.set(id, { scope, standing: 'validating' });
    return id;
  }

  #open(scope: string): number[] {
    const ids: number[] = [];
    for (const [id, entry] of this.#entries) {
      if (entry.scope === scope && (entry.standing === 'validating' || entry.standing === 'held'))
        ids.push(id);
    }
    return ids;
  }

  #set(entry: Entry, standing: Standing): void {
    if (entry.standing === standing) return;
    entry.standing = standing;
    this.emit('change');
  }
}
