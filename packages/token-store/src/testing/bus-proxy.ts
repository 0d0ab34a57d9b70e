// Test helper: a proxy in front of the real D-Bus session bus, on a Unix socket of its own, that
// can hold all traffic (a bus or Secret Service that stops answering) and let it flow again, or
// hold it from a given method call on (to let another client act between a call and the next).
// Not part of the published package (src/**/testing/** is excluded from files).
import { connect, createServer, type Socket } from 'node:net';

/** A running proxy started by {@link startBusProxy}. */
export interface BusProxy {
  /** The D-Bus address to give a client: `unix:path=<socketPath>`. */
  readonly address: string;
  /** How many clients have connected so far. */
  readonly connections: number;
  /**
   * How many of those connections the proxy has seen end. A test that kills a client whose
   * traffic is held waits for this before {@link release}: bytes kept back for a client that is
   * gone are dropped then, never delivered on its behalf.
   */
  readonly closed: number;
  /** The members of the method calls clients sent so far, in order. */
  readonly calls: readonly string[];
  /** From now on, bytes in either direction are kept back. */
  hold(): void;
  /**
   * From the next method call to `member` a client sends on, bytes in either direction are kept
   * back (that call included), as by {@link hold}. Resolves once that call was kept back.
   */
  holdAt(member: string): Promise<void>;
  /** Delivers what was kept back, in order, and lets traffic flow again. */
  release(): void;
  /** Stops listening and cuts every connection. */
  close(): Promise<void>;
}

/** Where a D-Bus address (`unix:path=…` or `unix:abstract=…`, the first of a `;` list) points. */
function socketOf(busAddress: string): string {
  const match = /(?:^|;)unix:(?:[^;]*,)?(path|abstract)=([^,;]+)/.exec(busAddress);
  if (match === null) throw new Error(`not a unix: D-Bus address: ${busAddress}`);
  // D-Bus escapes bytes in addresses as %XX.
  const path = decodeURIComponent(match[2] ?? '');
  return match[1] === 'abstract' ? `\0${path}` : path;
}

const align = (offset: number, to: number): number => Math.ceil(offset / to) * to;

/**
 * The length of the D-Bus message at the start of `buffer` and, for a method call, its member;
 * undefined while the message is incomplete. (Alignment is from the start of the message.)
 */
function nextMessage(buffer: Buffer): { length: number; member: string | undefined } | undefined {
  if (buffer.length < 16) return undefined;
  const little = buffer[0] === 0x6c; // 'l'
  const u32 = (offset: number): number => (little ? buffer.readUInt32LE(offset) : buffer.readUInt32BE(offset));
  const fieldsEnd = 16 + u32(12);
  const length = align(fieldsEnd, 8) + u32(4);
  if (buffer.length < length) return undefined;
  let member: string | undefined;
  for (let offset = 16; offset < fieldsEnd;) {
    offset = align(offset, 8);
    const code = buffer[offset] ?? 0;
    const signatureLength = buffer[offset + 1] ?? 0;
    const signature = buffer.toString('latin1', offset + 2, offset + 2 + signatureLength);
    offset += 3 + signatureLength;
    let value = '';
    if (signature === 's' || signature === 'o') {
      offset = align(offset, 4);
      const size = u32(offset);
      value = buffer.toString('utf8', offset + 4, offset + 4 + size);
      offset += 5 + size;
    } else if (signature === 'g') {
      const size = buffer[offset] ?? 0;
      offset += 2 + size;
    } else {
      offset = align(offset, 4) + 4;
    }
    // Field 3 is MEMBER; message type 1 is a method call.
    if (code === 3 && buffer[1] === 1) member = value;
  }
  return { length, member };
}

/** Starts a proxy listening on `socketPath` in front of the bus at `busAddress`. */
export function startBusProxy(socketPath: string, busAddress: string, options: { held?: boolean } = {}): Promise<BusProxy> {
  const target = socketOf(busAddress);
  let held = options.held ?? false;
  let connections = 0;
  let closed = 0;
  const calls: string[] = [];
  let trigger: { member: string; resolve: () => void } | undefined;
  const sockets = new Set<Socket>();
  const queued: [Buffer, Socket][] = [];
  const send = (chunk: Buffer, to: Socket): void => {
    if (held) queued.push([chunk, to]);
    else to.write(chunk);
  };
  const server = createServer((client) => {
    connections += 1;
    const upstream = connect(target);
    client.once('close', () => {
      closed += 1;
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
    }
    // What the client sends is read message by message once it has authenticated (the "BEGIN"
    // line), so that a hold can start at a given call.
    let authenticating = true;
    let pending = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (authenticating) {
          const end = pending.indexOf('\r\n');
          if (end === -1) return;
          const line = pending.subarray(0, end + 2);
          pending = pending.subarray(end + 2);
          if (line.toString('latin1') === 'BEGIN\r\n') authenticating = false;
          send(line, upstream);
          continue;
        }
        const message = nextMessage(pending);
        if (message === undefined) return;
        const bytes = pending.subarray(0, message.length);
        pending = pending.subarray(message.length);
        if (message.member !== undefined) {
          calls.push(message.member);
          if (trigger?.member === message.member) {
            held = true;
            trigger.resolve();
            trigger = undefined;
          }
        }
        send(bytes, upstream);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      send(chunk, client);
    });
    // What was kept back for a side that is gone is dropped with it.
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      resolve({
        address: `unix:path=${socketPath}`,
        get connections() {
          return connections;
        },
        get closed() {
          return closed;
        },
        calls,
        hold() {
          held = true;
        },
        holdAt(member) {
          return new Promise<void>((done) => {
            trigger = { member, resolve: done };
          });
        },
        release() {
          held = false;
          for (const [chunk, to] of queued.splice(0)) if (!to.destroyed) to.write(chunk);
        },
        close() {
          for (const socket of sockets) socket.destroy();
          return new Promise<void>((done) => {
            server.close(() => {
              done();
            });
          });
        },
      });
    });
  });
}
