/** One event as a session holds it: its id and its JSON text, serialised once at publish. */
export interface LogEntry {
  readonly id: string;
  readonly json: string;
}

/**
 * The events of one session in publish order, addressed by sequence number. Entries before
 * the send cursor have been sent and are kept for replay, at most `replayLimit` of them;
 * entries from the cursor on are waiting to be sent. While no connection drains the log,
 * `trimToLimit()` keeps it to `replayLimit` entries in all.
 */
export class SessionLog {
  readonly #replayLimit: number;
  #entries: LogEntry[] = [];
  /** Index in #entries of the oldest kept entry. */
  #start = 0;
  /** Sequence number of #entries[#start]. */
  #firstSeq = 0;
  readonly #seqById = new Map<string, number>();
  /** Sequence number of the next entry to send. */
  cursor = 0;

  constructor(replayLimit: number) {
    this.#replayLimit = replayLimit;
  }

  /** Sequence number the next appended entry gets. */
  get end(): number {
    return this.#firstSeq + this.#entries.length - this.#start;
  }

  /** Whether entries are waiting to be sent. */
  get pending(): boolean {
    return this.cursor < this.end;
  }

  append(entry: LogEntry): void {
    this.#seqById.set(entry.id, this.end);
    this.#entries.push(entry);
  }

  /** Take up to `limit` unsent entries and move the cursor past them. */
  take(limit: number): LogEntry[] {
    const from = this.#start + (this.cursor - this.#firstSeq);
    const taken = this.#entries.slice(from, from + limit);
    this.cursor += taken.length;
    this.#evict();
    return taken;
  }

  /**
   * Point the cursor just after the event `id`. False when the event is not (or no longer) in
   * the log, so a resume from it cannot be honoured.
   */
  rewindAfter(id: string): boolean {
    const seq = this.#seqById.get(id);
    if (seq === undefined || seq < this.#firstSeq) return false;
    this.cursor = seq + 1;
    return true;
  }

  /**
   * For a session without a connection: keep at most `replayLimit` entries, sent or not,
   * dropping the oldest. Events dropped unsent are lost, as on a gateway whose buffer ran
   * over; a resume from before them is not honoured (`rewindAfter` answers false).
   */
  trimToLimit(): void {
    this.#drop(this.end - this.#firstSeq - this.#replayLimit);
    if (this.cursor < this.#firstSeq) this.cursor = this.#firstSeq;
  }

  #evict(): void {
    this.#drop(this.cursor - this.#firstSeq - this.#replayLimit);
  }

  /** Drop the `count` oldest entries. */
  #drop(count: number): void {
    for (; count > 0; count -= 1) {
      const entry = this.#entries[this.#start];
      if (entry === undefined) break;
      if (this.#seqById.get(entry.id) === this.#firstSeq) this.#seqById.delete(entry.id);
      this.#start += 1;
      this.#firstSeq += 1;
    }
    if (this.#start > 1024 && this.#start * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#start);
      this.#start = 0;
    }
  }
}
