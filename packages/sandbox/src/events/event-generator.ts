import { randomUUID } from 'node:crypto';

/** Event-type ids published in the vendor's official samples (Milestone XProtect's). */
export const eventTypes = {
  motionStarted: '6eb95dd6-7ccc-4bce-99f8-af0d0b582d77',
  motionStopped: '6f55a7a7-d21c-4629-ac18-af1975e395a2',
  recordingStarted: '4577f552-765a-438c-bc7d-e5ff1f754bc3',
  recordingStopped: '79a94f89-92de-4fca-8a43-5561d407423d',
  communicationStarted: 'dd3e6464-7dc0-405a-a92f-6150587563e8',
  communicationStopped: '0ee90664-2924-42a0-a816-4129d0ecabdc',
  communicationError: 'a334af1c-4b4b-4957-9e5f-ab8ca07feab6',
  outputActivated: '7a78f5bb-d8c3-4997-89b7-cae72713b7db',
  outputDeactivated: '35742498-bcc5-4f0a-9800-827c9388d1cd',
  systemConfigurationChanged: '06c5010d-11f2-4d70-bd79-4cec3a20d589',
} as const;

/**
 * State group ids the sandbox uses. The vendor does not publish its own; these are the
 * sandbox's, fixed so that tests can name them.
 */
export const stateGroups = {
  motion: '4a0c2d6e-7f3b-4d8e-9a51-000000000001',
  recording: '4a0c2d6e-7f3b-4d8e-9a51-000000000002',
  communication: '4a0c2d6e-7f3b-4d8e-9a51-000000000003',
  output: '4a0c2d6e-7f3b-4d8e-9a51-000000000004',
} as const;

/** Options of the sandbox's event generator. */
export interface EventGeneratorOptions {
  /** Milliseconds between two batches. @default 1000 */
  intervalMs?: number | undefined;
  /** Events per batch. @default 5 */
  batchSize?: number | undefined;
  /** Number of simulated cameras. @default 4 */
  cameras?: number | undefined;
  /** Number of simulated outputs. @default 2 */
  outputs?: number | undefined;
  /** Number of simulated inputs. @default 2 */
  inputs?: number | undefined;
}

interface Source {
  readonly source: string;
  readonly kind: 'camera' | 'output' | 'input';
  /** Current state per state group, flipped by each stateful event. */
  readonly active: Map<string, boolean>;
}

/** A stateful pair: the event for "on", the event for "off", and their state group. */
interface Toggle {
  readonly group: string;
  readonly on: string;
  readonly off: string;
}

const cameraToggles: readonly Toggle[] = [
  { group: stateGroups.motion, on: eventTypes.motionStarted, off: eventTypes.motionStopped },
  { group: stateGroups.recording, on: eventTypes.recordingStarted, off: eventTypes.recordingStopped },
  { group: stateGroups.communication, on: eventTypes.communicationStarted, off: eventTypes.communicationStopped },
];
const outputToggles: readonly Toggle[] = [{ group: stateGroups.output, on: eventTypes.outputActivated, off: eventTypes.outputDeactivated }];
const inputToggles: readonly Toggle[] = [
  { group: stateGroups.communication, on: eventTypes.communicationStarted, off: eventTypes.communicationStopped },
];

/**
 * Makes plausible camera, output and input events: each one flips a state (motion, recording,
 * communication, output), now and then a communication error or a configuration change.
 */
export class EventGenerator {
  readonly #sources: Source[] = [];
  #turn = 0;

  constructor(options: EventGeneratorOptions) {
    const add = (kind: Source['kind'], resourceType: string, count: number): void => {
      for (let index = 0; index < count; index += 1) {
        this.#sources.push({ source: `${resourceType}/${randomUUID()}`, kind, active: new Map() });
      }
    };
    add('camera', 'cameras', options.cameras ?? 4);
    add('output', 'outputs', options.outputs ?? 2);
    add('input', 'inputEvents', options.inputs ?? 2);
  }

  /** The next `count` events. */
  next(count: number): Record<string, unknown>[] {
    const events: Record<string, unknown>[] = [];
    for (let index = 0; index < count && this.#sources.length > 0; index += 1) {
      this.#turn += 1;
      const source = this.#sources[Math.floor(Math.random() * this.#sources.length)];
      if (source === undefined) continue;
      if (this.#turn % 97 === 0) {
        events.push({ type: eventTypes.systemConfigurationChanged, source: source.source });
        continue;
      }
      if (source.kind !== 'output' && this.#turn % 41 === 0) {
        events.push({
          type: eventTypes.communicationError,
          source: source.source,
          datatype: 'error',
          data: { message: 'connection to the device timed out' },
        });
        continue;
      }
      const toggles = source.kind === 'camera' ? cameraToggles : source.kind === 'output' ? outputToggles : inputToggles;
      const toggle = toggles[Math.floor(Math.random() * toggles.length)];
      if (toggle === undefined) continue;
      const active = !(source.active.get(toggle.group) ?? false);
      source.active.set(toggle.group, active);
      events.push({ type: active ? toggle.on : toggle.off, source: source.source, stategroupid: toggle.group });
    }
    return events;
  }
}
