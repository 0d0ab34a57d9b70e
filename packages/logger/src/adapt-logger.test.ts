import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { format, inspect } from 'node:util';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import winston from 'winston';
import { adaptLogger, type LoggerTarget } from './adapt-logger.js';
import { toPlain } from './format.js';
import { REDACTED } from './redact.js';
import type { LogEntry, Logger } from './types.js';
import { errorWithUnreadableCause, fieldsWith, revoked, THROWN, unreadable } from './testing/unreadable-fields.js';

const SECRET = 'adapter-secret-42';

function sinkStream(): { chunks: string[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  return { chunks, stream };
}

/** Winston's Stream transport (see the cast below). */
function streamTransport(stream: Writable) {
  return new winston.transports.Stream({ stream }) as unknown as winston.transport;
}

describe('adaptLogger', () => {
  it('wraps a real pino logger, honouring its level and redacting', () => {
    const { chunks, stream } = sinkStream();
    const target = pino({ level: 'debug' }, stream);
    const logger = adaptLogger(target).child({ component: 'session' });
    logger.trace('dropped by pino level');
    logger.debug('token acquired', { access_token: SECRET, expiresInMs: 10 });
    const entries = chunks.map((chunk) => JSON.parse(chunk) as Record<string, unknown>);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ level: 20, msg: 'token acquired', component: 'session', access_token: REDACTED, expiresInMs: 10 });
    expect(logger.isLevelEnabled('trace')).toBe(false);
    expect(logger.isLevelEnabled('debug')).toBe(true);
    expect(chunks.join('')).not.toContain(SECRET);
  });

  it('wraps a real winston logger, mapping levels and redacting', () => {
    const { chunks, stream } = sinkStream();
    // Winston's own Stream transport, typed as an interface rather than a class in winston's
    // declarations; the cast only restores the class type that the constructor really returns.
    const transport = new winston.transports.Stream({ stream }) as unknown as winston.transport;
    const target = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [transport] });
    const logger = adaptLogger(target);
    logger.trace('maps to silly: below debug, dropped');
    logger.warn(`login failed with password=${SECRET}`, { client_secret: SECRET, attempt: 2 });
    const entries = chunks.map((chunk) => JSON.parse(chunk) as Record<string, unknown>);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ level: 'warn', client_secret: REDACTED, attempt: 2 });
    expect(entries[0]!.message).toBe(`login failed with password=${REDACTED}`);
    expect(logger.isLevelEnabled('trace')).toBe(false);
    expect(logger.isLevelEnabled('debug')).toBe(true);
  });

  it('wraps the winston module itself, its default logger, which has neither levels nor isLevelEnabled', () => {
    const { chunks, stream } = sinkStream();
    const transport = streamTransport(stream);
    winston.add(transport);
    try {
      const logger = adaptLogger(winston);
      logger.debug('below info, the default level: dropped by winston');
      logger.info('server started', { port: 8080, token: SECRET });
      logger.warn('w');
      winston.level = 'silly';
      logger.trace('t');
      expect(chunks.map((chunk) => JSON.parse(chunk) as unknown)).toEqual([
        { level: 'info', message: 'server started', port: 8080, token: REDACTED },
        { level: 'warn', message: 'w' },
        { level: 'silly', message: 't' },
      ]);
    } finally {
      winston.remove(transport);
      winston.level = 'info';
    }
  });

  it('maps levels onto winston syslog levels (warn is warning) and skips disabled ones', () => {
    const { chunks, stream } = sinkStream();
    const transport = new winston.transports.Stream({ stream }) as unknown as winston.transport;
    const target = winston.createLogger({ levels: winston.config.syslog.levels, level: 'warning', format: winston.format.json(), transports: [transport] });
    const logger = adaptLogger(target);
    logger.info('below warning');
    logger.warn('w');
    logger.error('e');
    expect(chunks.map((chunk) => (JSON.parse(chunk) as { level: string }).level)).toEqual(['warning', 'error']);
    expect(logger.isLevelEnabled('info')).toBe(false);
  });

  it('never lets a field overwrite what winston writes: a taken name gets _ prefixes until free', () => {
    const { chunks, stream } = sinkStream();
    const target = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [streamTransport(stream)] });
    adaptLogger(target).child({ level: 'binding' }).warn('the message', { message: 'field', _level: 'own', toString: 1 });
    expect(JSON.parse(chunks[0]!)).toEqual({ level: 'warn', message: 'the message', _level: 'binding', _message: 'field', __level: 'own', toString: 1 });
  });

  it('never lets a field repeat a key that pino writes: a taken name gets _ prefixes until free', () => {
    const { chunks, stream } = sinkStream();
    adaptLogger(pino(stream)).child({ level: 'binding' }).warn('the message', { msg: 'field', time: 1, pid: 2, hostname: 'h', _level: 'own', toString: 3 });
    const line = chunks[0]!;
    // Every key once, so that JSON.parse (which keeps the last of a repeated key) loses nothing.
    const keys = [...line.matchAll(/"(\w+)":/g)].map((match) => match[1]);
    expect(keys).toEqual(['level', 'time', 'pid', 'hostname', '_level', '_msg', '_time', '_pid', '_hostname', '__level', 'toString', 'msg']);
    expect(JSON.parse(line)).toMatchObject({ level: 40, msg: 'the message', _level: 'binding', _msg: 'field', _time: 1, _pid: 2, _hostname: 'h', __level: 'own' });
  });

  it.each(['pino', 'winston'])('does no work for a level that %s has disabled', (library) => {
    const { chunks, stream } = sinkStream();
    const target =
      library === 'pino'
        ? pino({ level: 'warn' }, stream)
        : winston.createLogger({ level: 'warn', transports: [streamTransport(stream)] });
    const logger = adaptLogger(target).child({ component: 'x' });
    const touched = vi.fn();
    const date = vi.spyOn(Date.prototype, 'toISOString');
    logger.info('not written', {
      get costly(): number {
        touched();
        return 1;
      },
    });
    logger.debug('nor this');
    expect(touched).not.toHaveBeenCalled();
    expect(date).not.toHaveBeenCalled();
    date.mockRestore();
    expect(chunks).toEqual([]);
  });

  it('wraps console, one method per level, with fields only when there are some', () => {
    const target = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn(), log: vi.fn() };
    const logger = adaptLogger(target, { level: 'trace' });
    logger.trace('t');
    logger.info('i', { token: SECRET });
    logger.error('e');
    expect(target.debug).toHaveBeenCalledWith('%s', 't');
    expect(target.info).toHaveBeenCalledWith('%s', 'i', { token: REDACTED });
    expect(target.error).toHaveBeenCalledWith('%s', 'e');
    expect(target.log).not.toHaveBeenCalled();
  });

  it('escapes line breaks and control characters in a console message, so it is one line', () => {
    const target = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    adaptLogger(target).info('login ok\n12:00:00 INFO admin logged in\u2028\u001b[2K', { user: 'demo' });
    const line = format(...(target.info.mock.calls[0] as unknown[]));
    expect(line).toBe("login ok\\n12:00:00 INFO admin logged in\\u2028\\u001b[2K { user: 'demo' }");
  });

  it('does not let a console message read as a format take the fields', () => {
    const target = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const logger = adaptLogger(target);
    logger.info('GET /caf%c3%a9', { status: 200 });
    logger.warn('%d%%');
    expect(format(...(target.info.mock.calls[0] as unknown[]))).toBe('GET /caf%c3%a9 { status: 200 }');
    expect(format(...(target.warn.mock.calls[0] as unknown[]))).toBe('%d%%');
  });

  it('accepts the global console', () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    adaptLogger(console).warn('careful', { secret: SECRET });
    expect(spy).toHaveBeenCalledWith('%s', 'careful', { secret: REDACTED });
    spy.mockRestore();
  });

  it('types the entry of a sink written as a plain method (no annotation needed under strict)', () => {
    const messages: string[] = [];
    // Type-checked by `pnpm typecheck`: without the sink overload, `entry` is an implicit any here.
    adaptLogger({
      log(entry) {
        messages.push(`${entry.level} ${entry.msg} ${String(entry.fields.password)}`);
      },
    }).info('ready', { password: SECRET });
    const target: LoggerTarget = console;
    expect(typeof adaptLogger(target).info).toBe('function');
    expect(messages).toEqual([`info ready ${REDACTED}`]);
  });

  it('takes options null as none and refuses options that are not an object, as createLogger does (null threw a TypeError of its own, a level given alone was ignored)', () => {
    vi.stubEnv('SESSIONKIT_LOG_LEVEL', '');
    const entries: LogEntry[] = [];
    const logger = adaptLogger({ log: (entry: LogEntry) => entries.push(entry) }, null as never);
    logger.debug('below the default level');
    logger.info('shown');
    expect(entries.map((entry) => entry.msg)).toEqual(['shown']);
    for (const options of ['debug', 42, true]) {
      expect(() => adaptLogger({ log: () => undefined }, options as never), String(options)).toThrow(new TypeError('adaptLogger() options must be an object.'));
    }
    // A Set of redact keys, typed so.
    adaptLogger({ log: (entry: LogEntry) => entries.push(entry) }, { redact: { keys: new Set(['iban']) } }).info('x', { iban: 'DE89370400440532013000' });
    expect(entries.at(-1)?.fields).toEqual({ iban: REDACTED });
  });

  it('gives a custom sink structured, redacted entries', () => {
    const entries: LogEntry[] = [];
    const logger = adaptLogger({ log: (entry: LogEntry) => entries.push(entry) }, { level: 'debug' }).child({ requestId: 7 });
    logger.trace('below level');
    logger.debug(`sent s_session=${SECRET}`, { command: { COMMAND: 'StatusAccount', PASSWORD: SECRET } });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      level: 'debug',
      msg: `sent s_session=${REDACTED}`,
      fields: { requestId: 7, command: { COMMAND: 'StatusAccount', PASSWORD: REDACTED } },
    });
    expect(typeof entries[0]!.time).toBe('string');
  });

  it('passes fields that are not an object (untyped code) to every target as one field, fields, redacted', () => {
    const entries: LogEntry[] = [];
    adaptLogger({ log: (entry: LogEntry) => entries.push(entry) }).child({ requestId: 7 }).info('x', `token=${SECRET}` as never);
    expect(entries[0]!.fields).toEqual({ requestId: 7, fields: `token=${REDACTED}` });
    const { chunks, stream } = sinkStream();
    adaptLogger(pino(stream)).info('x', 42 as never);
    expect(JSON.parse(chunks[0]!)).toMatchObject({ msg: 'x', fields: 42 });
    expect(() => adaptLogger(pino(stream)).child('http' as never)).toThrow(new TypeError("Bindings must be an object of fields, such as { component: 'http' }, not a string."));
  });

  it('takes a { log(entry) } sink that also has an add method for a sink, not for winston', () => {
    class FanOut {
      readonly sinks: ((entry: LogEntry) => void)[] = [];
      add(sink: (entry: LogEntry) => void): this {
        this.sinks.push(sink);
        return this;
      }
      log(entry: LogEntry): void {
        for (const sink of this.sinks) sink(entry);
      }
    }
    class Collector extends Set<LogEntry> {
      log(entry: LogEntry): void {
        this.add(entry);
      }
    }
    const entries: LogEntry[] = [];
    const collector = new Collector();
    adaptLogger(new FanOut().add((entry) => entries.push(entry))).info('signed in', { userId: 7 });
    adaptLogger(collector).info('signed in', { userId: 7 });
    expect([...entries, ...collector]).toMatchObject([
      { level: 'info', msg: 'signed in', fields: { userId: 7 } },
      { level: 'info', msg: 'signed in', fields: { userId: 7 } },
    ]);
  });

  it('does no work for disabled levels of a sink', () => {
    const log = vi.fn();
    const touched = vi.fn();
    const logger = adaptLogger({ log }, { level: 'error' });
    logger.info('x', {
      get costly(): number {
        touched();
        return 1;
      },
    });
    expect(log).not.toHaveBeenCalled();
    expect(touched).not.toHaveBeenCalled();
  });

  it('rejects targets it cannot drive', () => {
    for (const [name, target] of Object.entries({ empty: {}, null: null, undefined: undefined, number: 42 })) {
      expect(() => adaptLogger(target as never), name).toThrow(/^adaptLogger\(\) takes console/);
    }
  });

  it('refuses a pino- or winston-like target that lacks a method its adapter calls, at once', () => {
    const method = (): boolean => true;
    const pinoLike = { levels: { values: { info: 30 } }, isLevelEnabled: method, trace: method, debug: method, info: method, warn: method, error: method };
    const winstonLike = { levels: { info: 2 }, add: method, log: method, isLevelEnabled: method };
    expect(() => adaptLogger(pinoLike)).not.toThrow();
    // As the winston module (told by its createLogger): its levels are taken to be npm's, and every level is passed on.
    const winstonModule = { add: method, log: method, createLogger: method };
    expect(() => adaptLogger(winstonModule)).not.toThrow();
    for (const target of [
      { levels: { values: null }, isLevelEnabled: method },
      { ...pinoLike, trace: undefined },
      { ...pinoLike, isLevelEnabled: undefined },
      { ...winstonLike, log: undefined },
    ]) {
      expect(() => adaptLogger(target as never), JSON.stringify(target)).toThrow(TypeError);
    }
  });

  it('does not take a target whose levels.values is null for pino', () => {
    const target = { levels: { values: null }, isLevelEnabled: vi.fn(), trace: vi.fn(), debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    adaptLogger(target).info('as console', { a: 1 });
    expect(target.info).toHaveBeenCalledWith('%s', 'as console', { a: 1 });
    expect(target.isLevelEnabled).not.toHaveBeenCalled();
  });
});


/** A logger on a real target, and the text the target wrote. */
const targets: Record<string, () => { logger: Logger; chunks: string[] }> = {
  pino: () => {
    const { chunks, stream } = sinkStream();
    return { logger: adaptLogger(pino(stream)), chunks };
  },
  winston: () => {
    const { chunks, stream } = sinkStream();
    return { logger: adaptLogger(winston.createLogger({ format: winston.format.json(), transports: [streamTransport(stream)] })), chunks };
  },
  console: () => {
    const { chunks, stream } = sinkStream();
    return { logger: adaptLogger(new Console({ stdout: stream, stderr: stream })), chunks };
  },
  // A sink that serializes what it gets, as most do.
  sink: () => {
    const chunks: string[] = [];
    return { logger: adaptLogger({ log: (entry: LogEntry) => chunks.push(JSON.stringify(entry)) }), chunks };
  },
};

describe.each(Object.keys(targets))('adaptLogger(%s) with fields it cannot read', (target) => {
  it.each(Object.keys(unreadable))('passes the entry on with %s as [Unreadable], the other fields redacted', (name) => {
    const { logger, chunks } = targets[target]!();
    const fields = fieldsWith(name);
    expect(() => { logger.child({ component: 'c' }).warn('the message', fields); }).not.toThrow();
    expect(chunks).toHaveLength(1);
    const text = chunks[0]!;
    expect(text).toMatch(/the message/);
    expect(text).toMatch(/"?component"?: ?["']c["'].*"?ok"?: ?1/s);
    expect(text).toContain(REDACTED);
    expect(text).not.toMatch(/s3cr3t|thrown|used already/);
    // pino serializes a field whose toJSON throws as a placeholder of its own; the console never calls toJSON.
    if (name !== 'an own toJSON that throws' || target === 'winston' || target === 'sink') {
      expect(text).toMatch(/"?body"?: ?["']\[Unreadable]["']/);
    }
  });

  it('passes an Error whose cause getter throws on with its message, only its cause [Unreadable]', () => {
    const { logger, chunks } = targets[target]!();
    expect(() => { logger.error('the message', { error: errorWithUnreadableCause(), body: revoked() }); }).not.toThrow();
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toContain(`failed: token=${REDACTED}`);
    expect(chunks[0]).toMatch(/"?cause"?: ?["']\[Unreadable]["']/);
    expect(chunks[0]).not.toMatch(new RegExp(`s3cr3t|${THROWN}`));
  });

  it('passes the entry on with fields: [Unreadable] when not even their names can be read', () => {
    const { logger, chunks } = targets[target]!();
    expect(() => { logger.child({ component: 'c' }).error('the message', revoked() as never); }).not.toThrow();
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatch(/"?fields"?: ?["']\[Unreadable]["']/);
  });
});

it('passes Maps with object keys to the console, redacted where they hold a secret, even a key whose Symbol.toStringTag getter throws', () => {
  const { logger, chunks } = targets.console!();
  const key = { toString: () => 'k', get [Symbol.toStringTag](): never { throw new Error(THROWN); } };
  expect(() => { logger.info('the message', { map: new Map([[key, 1]]), keyed: new Map([[{ token: SECRET, id: 7 }, 2]]), ok: 1 }); }).not.toThrow();
  expect(chunks).toHaveLength(1);
  expect(chunks[0]).not.toMatch(new RegExp(`${SECRET}|${THROWN}`));
  expect(chunks[0]).toContain(`{ token: '${REDACTED}', id: 7 } => 2`);
  // Node 24's inspect writes such a key itself; earlier ones throw, and the field is [Unreadable].
  expect(chunks[0]).toContain(inspects(key) ? 'map: Map(1) {' : `map: '[Unreadable]'`);
});

it.each(['pino', 'winston'])('passes Map and Set fields to %s as the JSON format writes them, not as {}', (library) => {
  const { logger, chunks } = targets[library]!();
  const retries = new Map<unknown, unknown>([['ess', 3], [1, 'number'], ['1', 'string'], ['token', SECRET]]);
  logger.info('stats', { retries, ids: new Set(['a', 'b']), nested: { inner: new Map([['k', new Set([1])]]) } });
  expect(JSON.parse(chunks[0]!)).toMatchObject({ retries: { ess: 3, 1: 'number', '1#2': 'string', token: REDACTED }, ids: ['a', 'b'], nested: { inner: { k: [1] } } });
  expect(chunks[0]).not.toContain(SECRET);
});

it.each(['pino', 'winston'])('passes a Date field to %s as a Date, which its serializers and formats may expect', (library) => {
  const { chunks, stream } = sinkStream();
  const logger = adaptLogger(library === 'pino'
    ? pino({ serializers: { expiresAt: (date: Date) => date.getTime() } }, stream)
    : winston.createLogger({
      format: winston.format.combine(winston.format((info) => Object.assign(info, { expiresAt: (info.expiresAt as Date).getTime() }))(), winston.format.json()),
      transports: [streamTransport(stream)],
    }));
  logger.info('token stored', { expiresAt: new Date(0) });
  logger.info('token stored', { expiresAt: new Date(0), ids: new Set([1]) });
  expect(chunks.map((chunk) => JSON.parse(chunk) as unknown)).toMatchObject([{ expiresAt: 0 }, { expiresAt: 0, ids: [1] }]);
});

it('copies for pino and winston only what holds a Map, Set or BigInt, and leaves Dates and the rest as they are', () => {
  const date = new Date(0);
  const plain = { a: { b: [1, { at: date }, 'x'] }, n: null };
  expect(toPlain(plain)).toBe(plain);
  const mixed = { plain, map: new Map([['k', new Set([1n])]]), list: [date, 2n] };
  const out = toPlain(mixed) as typeof plain & Record<string, unknown>;
  expect(out).toEqual({ plain, map: { k: ['1'] }, list: [date, '2'] });
  expect(out.plain).toBe(plain);
  expect((out.list as unknown[])[0]).toBe(date);
  expect(mixed.map).toBeInstanceOf(Map);
  // A plain object, as util.inspect (winston's prettyPrint) writes it: not `[Object: null prototype]`.
  expect(Object.getPrototypeOf(out.map)).toBe(Object.prototype);
  expect(inspect(toPlain(new Map([['__proto__', 1]])))).toBe("{ ['__proto__']: 1 }");
});

/** Whether this Node's `util.inspect` writes `value` (Node 24's copes with more throwing getters). */
function inspects(value: unknown): boolean {
  try {
    inspect(value, { depth: Infinity });
    return true;
  } catch {
    return false;
  }
}

it('never throws with the console on what util.inspect cannot write, the field [Unreadable], the entry written once', () => {
  const fn = Object.defineProperty(() => 1, Symbol.toStringTag, { get: (): never => { throw new Error(THROWN); } });
  const custom = { [Symbol.for('nodejs.util.inspect.custom')]: (): never => { throw new Error(THROWN); } };
  const cases = [fn, { nested: { fn } }, new Map([['k', fn]]), new Map([[fn, 1]]), new Map([[custom, 1]])];
  // A custom inspect method that throws makes every Node's inspect throw: the [Unreadable] path is taken.
  expect(cases.filter((bad) => !inspects(bad)).length).toBeGreaterThan(0);
  for (const bad of cases) {
    const { logger, chunks } = targets.console!();
    expect(() => { logger.info('the message', { bad, password: SECRET, ok: 1 }); }).not.toThrow();
    expect(chunks).toHaveLength(1);
    if (inspects(bad)) {
      // Written by inspect itself (Node 24 for the functions), without what the getter threw.
      expect(chunks[0]).toMatch(/^the message \{\s+bad: [^]*ok: 1\s+\}\n$/);
      expect(chunks[0]).toContain(`password: '${REDACTED}'`);
      expect(chunks[0]).not.toContain(THROWN);
    } else {
      expect(chunks[0]).toBe(`the message { bad: '[Unreadable]', password: '${REDACTED}', ok: 1 }\n`);
    }
  }
});

it('lets an error thrown by the console itself through, calling it once', () => {
  const info = vi.fn((): never => { throw new Error('console down'); });
  const logger = adaptLogger({ debug: vi.fn(), info, warn: vi.fn(), error: vi.fn() });
  expect(() => { logger.info('x', { a: 1, fn: () => 1 }); }).toThrow('console down');
  expect(info).toHaveBeenCalledTimes(1);
});

it('lets an error thrown by a sink itself through, calling the sink once', () => {
  const entries: LogEntry[] = [];
  const logger = adaptLogger({ log: (entry: LogEntry): never => { entries.push(entry); throw new Error('sink down'); } });
  expect(() => { logger.info('x', { a: 1 }); }).toThrow('sink down');
  expect(entries).toHaveLength(1);
});
