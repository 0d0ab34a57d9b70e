import type { Logger } from '@sessionkit/logger';
import { errorCode } from './auth-error.js';

/** Maps each event name to the arguments its listeners receive. */
export type EventMap<Events> = { [E in keyof Events]: unknown[] };

/** A listener of event `E`. */
export type Listener<Events extends EventMap<Events>, E extends keyof Events> = (...args: Events[E]) => void;

/**
 * A minimal typed event emitter. A listener that throws is logged and does not stop the others
 * or the emitter's owner.
 */
export class TypedEmitter<Events extends EventMap<Events>> {
  readonly #listeners = new Map<keyof Events, Set<unknown>>();
  readonly #logger: Logger;
  readonly #names: readonly (keyof Events)[];

  /** `names`: the events there are; another name (`'error'`, a misspelt one) is a TypeError, not a listener never called. */
  constructor(logger: Logger, names: readonly (keyof Events)[]) {
    this.#logger = logger;
    this.#names = names;
  }

  #check(event: keyof Events, listener: unknown): void {
    if (!this.#names.includes(event)) throw new TypeError(`No event "${String(event)}": ${this.#names.join(', ')}.`);
    // Not when it is added: every emit would fail to call it, logged at warn only.
    if (typeof listener != 'function') throw new TypeError('A listener must be a function.');
  }

  /** Call `listener` on every `event`. */
  on<E extends keyof Events>(event: E, listener: Listener<Events, E>): this {
    this.#check(event, listener);
    const set = this.#listeners.get(event) ?? new Set();
    set.add(listener);
    this.#listeners.set(event, set);
    return this;
  }

  /** Call `listener` on the next `event` only. `off(event, listener)` cancels it. */
  once<E extends keyof Events>(event: E, listener: Listener<Events, E>): this {
    this.#check(event, listener);
    const wrapper = Object.assign((...args: Events[E]) => {
      this.off(event, wrapper);
      listener(...args);
    }, { listener });
    return this.on(event, wrapper);
  }

  /** Stop calling `listener`, whether added with `on()` or `once()`. */
  off<E extends keyof Events>(event: E, listener: Listener<Events, E>): this {
    this.#check(event, listener);
    const set = this.#listeners.get(event);
    // A once() listener is registered as a wrapper that names it.
    for (const added of set ?? []) if (added === listener || (added as { listener?: unknown }).listener === listener) set?.delete(added);
    return this;
  }

  protected emit<E extends keyof Events>(event: E, ...args: Events[E]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events, E>)(...args);
      } catch (error) {
        this.#logger.warn('an event listener threw', { event: String(event), error: errorCode(error) });
      }
    }
  }
}
