// Helpers shared by the ess-client tests (not published).
import { type Sandbox, type SandboxOptions, startSandbox } from '@sessionkit/sandbox';
import type { EssClient } from '../ess-client.js';
import type { EssClientEvents, EssEvent, EssFilter } from '../types.js';

/** Event-type ids from the vendor's published samples. */
export const motionStarted = '6eb95dd6-7ccc-4bce-99f8-af0d0b582d77';
export const motionStopped = '6f55a7a7-d21c-4629-ac18-af1975e395a2';
export const outputActivated = '7a78f5bb-d8c3-4997-89b7-cae72713b7db';
export const motionGroup = '4a0c2d6e-7f3b-4d8e-9a51-000000000001';

export const everything: EssFilter[] = [{ modifier: 'include', resourceTypes: ['*'], sourceIds: ['*'], eventTypes: ['*'] }];

/** A sandbox without the event generator: tests publish what they expect. */
export function startEssSandbox(ess: NonNullable<SandboxOptions['ess']> = {}): Promise<Sandbox> {
  return startSandbox({ ess: { generator: false, ...ess } });
}

/** A fresh access token from the sandbox's token endpoint (client_credentials). */
export async function fetchToken(sandbox: Sandbox): Promise<string> {
  const response = await fetch(sandbox.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'sessionkit-demo', client_secret: 'demo-secret' }),
  });
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
  const body = (await response.json()) as { access_token: string };
  return body.access_token;
}

/** Numbered events: id `e{n}`, `data.n = n`, on `cameras/c{n % cameras}`. */
export function numbered(from: number, count: number, options: { cameras?: number; prefix?: string; padding?: number } = {}): Record<string, unknown>[] {
  const cameras = options.cameras ?? 4;
  const padding = options.padding === undefined ? undefined : 'x'.repeat(options.padding);
  return Array.from({ length: count }, (_, index) => {
    const n = from + index;
    return {
      id: `${options.prefix ?? 'e'}${n}`,
      type: n % 2 === 0 ? motionStarted : motionStopped,
      source: `cameras/c${n % cameras}`,
      stategroupid: motionGroup,
      data: padding === undefined ? { n } : { n, padding },
    };
  });
}

export function numberOf(event: EssEvent): number {
  return (event.data as { n: number }).n;
}

/** Resolve with the next payload of `name` that passes `test`. */
export function next<K extends keyof EssClientEvents>(
  client: EssClient,
  name: K,
  test: (payload: Parameters<EssClientEvents[K]>[0]) => boolean = () => true,
): Promise<Parameters<EssClientEvents[K]>[0]> {
  return new Promise((resolve) => {
    const listener = ((payload: Parameters<EssClientEvents[K]>[0]) => {
      if (!test(payload)) return;
      client.off(name, listener);
      resolve(payload);
    }) as EssClientEvents[K];
    client.on(name, listener);
  });
}

/** Poll `test` every 10 ms until it holds; throws after `timeoutMs`. For counters with nothing to await. */
export async function until(test: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Take `count` events from an iterator. */
export async function take(iterator: AsyncIterator<EssEvent>, count: number): Promise<EssEvent[]> {
  const events: EssEvent[] = [];
  while (events.length < count) {
    const result = await iterator.next();
    if (result.done === true) break;
    events.push(result.value);
  }
  return events;
}
