// Gateways that break the protocol, each a small WebSocket server of its own on a real socket.
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { createLogger } from '@sessionkit/logger';
import { EssClient, type EssClientOptions } from '@sessionkit/ess-client';
import { next, take, until } from './testing/harness.js';

interface Command {
  command: string;
  commandId: number;
  sessionId?: string;
  eventId?: string;
}

const servers: WebSocketServer[] = [];
const clients: EssClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  for (const server of servers.splice(0)) {
    for (const socket of server.clients) socket.terminate();
    await new Promise((resolve) => {
      server.close(resolve);
    });
  }
});

/** A gateway that calls `handle` with each command, the socket it came on and that connection's number (from 1). */
async function gateway(handle: (command: Command, socket: WebSocket, connection: number) => void): Promise<string> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  let connections = 0;
  server.on('connection', (socket) => {
    const connection = (connections += 1);
    socket.on('message', (raw: Buffer) => {
      handle(JSON.parse(raw.toString()) as Command, socket, connection);
    });
  });
  return `ws://127.0.0.1:${(server.address() as { port: number }).port}/api/ws/events/v1`;
}

function reply(socket: WebSocket, command: Command, fields: Record<string, unknown>): void {
  socket.send(JSON.stringify({ commandId: command.commandId, status: 200, ...fields }));
}

/** A server-to-client frame (unmasked) as bytes, written as is: ws would refuse to send a malformed one. */
function frame(payload: Buffer | string, { opcode = 1, rsv1 = false } = {}): Buffer {
  const data = Buffer.from(payload);
  // Payloads under 64 KiB only: a length of 7 bits, or 126 and 16 bits.
  const length = data.length < 126 ? [data.length] : [126, data.length >> 8, data.length & 0xff];
  return Buffer.concat([Buffer.from([0x80 | (rsv1 ? 0x40 : 0) | opcode, ...length]), data]);
}

function writeRaw(socket: WebSocket, bytes: Buffer): void {
  (socket as unknown as { _socket: Socket })._socket.write(bytes);
}

function client(url: string, options: Partial<EssClientOptions> = {}): EssClient {
  const created = new EssClient({ url, auth: () => Promise.resolve('token'), fetchState: false, heartbeatMs: 0, reconnect: { initialDelayMs: 20 }, ...options });
  clients.push(created);
  return created;
}

const event = (id: string, fields: Record<string, unknown> = {}): Record<string, unknown> => ({ id, time: '2026-04-24T13:41:38.1234567Z', type: 't', source: 'cameras/1', ...fields });

describe('EssClient against a gateway that breaks the protocol', () => {
  it('rejects getState() answered with states that are no array with PROTOCOL_ERROR, leaving the state cache as it was; none or null is no states', async () => {
    const states = [event('s1', { stategroupid: 'g' }), event('s2', { source: 'cameras/2', stategroupid: 'g' })];
    // The first getState answers the states; the next two something that is no array; the last two none.
    const answers: Record<string, unknown>[] = [{ states }, { states: { 0: states[0] } }, { states: 'none' }, { states: null }, {}];
    let getStates = 0;
    const url = await gateway((command, socket) => {
      reply(socket, command, command.command === 'startSession' ? { status: 201, sessionId: 'session-1' } : (answers[getStates++] ?? {}));
    });
    const ess = client(url);
    await ess.connect();
    expect((await ess.getState()).map((state) => state.id)).toEqual(['s1', 's2']);
    for (let answer = 1; answer < 3; answer += 1) {
      // It was read as no states: getState() resolved [] and the cache was emptied.
      const error = await ess.getState().catch((caught: unknown) => caught);
      expect(error, JSON.stringify(answers[answer])).toMatchObject({ name: 'EssError', code: 'PROTOCOL_ERROR' });
      expect((error as Error).message).toContain('states');
      expect(ess.state.map((state) => state.id).sort()).toEqual(['s1', 's2']);
    }
    expect(ess.connectionState).toBe('online');
    // Left out, or null (as some serializers write an empty list): there are none.
    for (let answer = 3; answer < answers.length; answer += 1) {
      expect(await ess.getState(), JSON.stringify(answers[answer])).toEqual([]);
      expect(ess.state).toEqual([]);
    }
  });

  it('neither caches nor returns a state whose id is empty, missing or no string, as an event without an id is ignored; the others are kept', async () => {
    const states = [
      event('s1', { stategroupid: 'g' }),
      event('', { source: 'cameras/2', stategroupid: 'g' }),
      { ...event('', { source: 'cameras/3', stategroupid: 'g' }), id: undefined },
      { ...event('', { source: 'cameras/4', stategroupid: 'g' }), id: 4 },
      event('s5', { source: 'cameras/5', stategroupid: 'g' }),
    ];
    const url = await gateway((command, socket) => {
      reply(socket, command, command.command === 'startSession' ? { status: 201, sessionId: 'session-1' } : { states });
    });
    const ess = client(url);
    await ess.connect();
    const snapshot = next(ess, 'state');
    // All five were returned and cached, "" and none as ids.
    expect((await ess.getState()).map((state) => state.id)).toEqual(['s1', 's5']);
    expect(ess.state.map((state) => state.id).sort()).toEqual(['s1', 's5']);
    expect((await snapshot).changed.map((state) => state.id).sort()).toEqual(['s1', 's5']);
  });

  it("reports a malformed frame from the gateway as a retryable CONNECTION_LOST that says so, with ws's error as its cause", async () => {
    const malformed = [
      ['WS_ERR_INVALID_UTF8', frame(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))],
      ['WS_ERR_UNEXPECTED_RSV_1', frame('{"events":[]}', { rsv1: true })],
      ['WS_ERR_INVALID_CLOSE_CODE', frame(Buffer.from([0x03, 0xe7]), { opcode: 8 })],
    ] as const;
    for (const [code, bytes] of malformed) {
      const url = await gateway((command, socket, connection) => {
        reply(socket, command, { status: connection === 1 ? 201 : 200, sessionId: 'session-1' });
        if (connection === 1) writeRaw(socket, bytes);
      });
      const ess = client(url);
      const lost = next(ess, 'connection', (change) => change.state === 'delayed');
      await ess.connect();
      // It was "Connection closed with code 1006." without a cause: a network drop, to all appearances.
      const { error } = await lost;
      expect(error, code).toMatchObject({ name: 'EssError', code: 'CONNECTION_LOST', retryable: true, closeCode: 1006, cause: { code } });
      expect(error!.message).toContain('malformed frame');
      await until(() => ess.connectionState === 'online', 10_000, 'the reconnect');
      await ess.close();
    }
  });

  it("delivers the events a gateway sends right behind a new session's answer (in the same read or frame), and resumes after them", async () => {
    for (const mode of ['same read', 'same frame', 'iterator first'] as const) {
      const starts: Command[] = [];
      const url = await gateway((command, socket, connection) => {
        starts.push(command);
        if (connection > 1) {
          reply(socket, command, { status: 200 });
          return;
        }
        const answer = { commandId: command.commandId, status: 201, sessionId: 'session-1' };
        const events = [event('a'), event('b')];
        if (mode === 'same frame') socket.send(JSON.stringify({ ...answer, events }));
        else writeRaw(socket, Buffer.concat([frame(JSON.stringify(answer)), frame(JSON.stringify({ events }))]));
      });
      const ess = client(url);
      // Made before connect(), it got them, yet the record was reset behind them: a new session next time.
      const early = mode === 'iterator first' ? ess.events() : undefined;
      await ess.connect();
      // They went to the iterator held for this call, which the new session's answer then dropped.
      const iterator = early ?? ess.events();
      expect((await take(iterator, 2)).map((received) => received.id), mode).toEqual(['a', 'b']);
      expect(ess.lastEventId, mode).toBe('b');
      expect(ess.stats.gaps).toBe(0);
      for (const server of servers) for (const socket of server.clients) socket.terminate();
      await until(() => starts.length === 2, 10_000, 'the second startSession');
      expect(starts[1], mode).toMatchObject({ sessionId: 'session-1', eventId: 'b' });
      await until(() => ess.connectionState === 'online', 10_000, 'the resume');
      expect(ess.stats).toMatchObject({ resumes: 1, gaps: 0 });
      await ess.close();
    }
  });

  it('takes a status sent as a string of digits as that number: "201" starts a session, "200" resumes it, "503" is a retryable COMMAND_FAILED; "200 OK" is no status', async () => {
    const token = 'S3CR3T-token';
    const logged: string[] = [];
    const starts: Command[] = [];
    const states = ['503', '200 OK', '200'];
    const url = await gateway((command, socket, connection) => {
      const answer = (status: string, fields: Record<string, unknown> = {}): void => {
        socket.send(JSON.stringify({ commandId: command.commandId, status, ...fields }));
      };
      if (command.command === 'startSession') {
        starts.push(command);
        answer(connection === 1 ? '201' : '200', connection === 1 ? { sessionId: 'session-1' } : {});
        if (connection === 1) socket.send(JSON.stringify({ events: [event('a')] }));
      } else if (command.command === 'addSubscription') {
        answer('201', { subscriptionId: 'server-1' });
      } else {
        answer(states.shift() ?? '200', { states: [] });
      }
    });
    const ess = client(url, { auth: () => Promise.resolve(token), logger: createLogger({ level: 'trace', format: 'json', write: (line) => logged.push(line) }) });
    // It halted with COMMAND_FAILED, "startSession" failed with status 0.
    await ess.connect();
    const iterator = ess.events();
    expect((await take(iterator, 1)).map((received) => received.id)).toEqual(['a']);
    expect(await ess.subscribe([{ resourceTypes: ['cameras'] }])).toBe('subscription-1');
    await expect(ess.getState()).rejects.toMatchObject({ name: 'EssError', code: 'COMMAND_FAILED', status: 503, retryable: true });
    await expect(ess.getState()).rejects.toMatchObject({ name: 'EssError', code: 'COMMAND_FAILED', status: 0, retryable: false });
    expect(await ess.getState()).toEqual([]);
    expect(ess.connectionState).toBe('online');
    for (const server of servers) for (const socket of server.clients) socket.terminate();
    await until(() => starts.length === 2 && ess.connectionState === 'online', 10_000, 'the resume');
    expect(starts[1]).toMatchObject({ sessionId: 'session-1', eventId: 'a' });
    // A "200" read as another status than 200 would have been taken as a new session: a gap.
    expect(ess.stats).toMatchObject({ resumes: 1, gaps: 0 });
    for (const line of logged) expect(line).not.toContain(token);
  });

  it('routes an answer whose commandId is a string of digits ("3") to that command', async () => {
    const url = await gateway((command, socket) => {
      const fields = command.command === 'startSession' ? { status: 201, sessionId: 'session-1' } : command.command === 'addSubscription' ? { subscriptionId: 'server-1' } : { states: [] };
      socket.send(JSON.stringify({ status: 200, ...fields, commandId: String(command.commandId) }));
    });
    // It timed out (COMMAND_TIMEOUT), the startSession attempt after attempt.
    const ess = client(url, { commandTimeoutMs: 1000, reconnect: { initialDelayMs: 20, shouldReconnect: (error, attempt) => error.retryable && attempt < 2 } });
    await ess.connect();
    expect(await ess.subscribe([{ resourceTypes: ['cameras'] }])).toBe('subscription-1');
    expect(await ess.getState()).toEqual([]);
    expect(ess.stats.connections).toBe(1);
  });

  it('ignores an event whose id is empty (logged at debug): it is not delivered and never the resume point (an eventId "" starts a new session)', async () => {
    const logged: string[] = [];
    const starts: Command[] = [];
    const url = await gateway((command, socket, connection) => {
      starts.push(command);
      reply(socket, command, connection === 1 ? { status: 201, sessionId: 'session-1' } : {});
      if (connection === 1) {
        socket.send(JSON.stringify({ events: [event('a'), event('')] }));
        socket.send(JSON.stringify({ events: [event('')] }));
      } else {
        socket.send(JSON.stringify({ events: [event('b')] }));
      }
    });
    const ess = client(url, { logger: createLogger({ level: 'debug', format: 'json', write: (line) => logged.push(line) }) });
    await ess.connect();
    const iterator = ess.events();
    expect((await take(iterator, 1)).map((received) => received.id)).toEqual(['a']);
    // It was delivered too, and, the last of its batch, made the resume point.
    expect(ess.lastEventId).toBe('a');
    const ignored = (): number => logged.filter((line) => line.includes('ignored an event without an id')).length;
    await until(() => ignored() === 2, 10_000, 'both events with an empty id ignored');
    expect(ess.lastEventId).toBe('a');
    for (const server of servers) for (const socket of server.clients) socket.terminate();
    await until(() => starts.length === 2, 10_000, 'the second startSession');
    expect(starts[1]).toMatchObject({ sessionId: 'session-1', eventId: 'a' });
    // Next after "a": the resumed session's "b", not an event with an empty id.
    expect((await take(iterator, 1)).map((received) => received.id)).toEqual(['b']);
    expect(ess.stats).toMatchObject({ events: 2, resumes: 1, gaps: 0 });
  });
});
