// A WebSocket relay between a client and the sandbox's events gateway, for tests that need an
// answer to arrive late or never: it forwards every frame both ways (and the Authorization
// header of the upgrade), and can hold back or swallow the gateway's answer to a chosen
// command. Not published.
import { type RawData, WebSocket, WebSocketServer } from 'ws';

export type Command = Record<string, unknown> & { command: string; commandId: number };

export interface Relay {
  /** Where the client connects instead of the gateway. */
  readonly url: string;
  /** Every command the client sent, in order. */
  readonly commands: Command[];
  /**
   * The next command that passes `test` reaches the gateway, and takes effect there, but its
   * answer never reaches the client: the relay drops both sockets instead. Resolves then.
   */
  cutAnswer(test: (command: Command) => boolean): Promise<void>;
  /**
   * Hold back the gateway's answer to the next command that passes `test` until `release()`.
   * `held` resolves once the gateway answered it (so it took effect) and the answer is held.
   */
  holdAnswer(test: (command: Command) => boolean): { held: Promise<void>; release: () => void };
  /** The gateway's answer to the next command that passes `test` reaches the client as `rewrite` makes it. */
  rewriteAnswer(test: (command: Command) => boolean, rewrite: (answer: Record<string, unknown>) => Record<string, unknown>): void;
  close(): Promise<void>;
}

interface Rule {
  test: (command: Command) => boolean;
  /** Set once a command passed `test`: its id on that connection. */
  match?: { pair: Pair; commandId: number };
  /** Takes over the gateway's answer to the matched command (it is not forwarded). */
  answered: (pair: Pair, answer: RawData) => void;
}

interface Pair {
  client: WebSocket;
  gateway: WebSocket;
}

export async function startRelay(target: string): Promise<Relay> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  const commands: Command[] = [];
  const rules: Rule[] = [];
  const pairs = new Set<Pair>();

  server.on('connection', (client, request) => {
    const headers: Record<string, string> = {};
    if (request.headers.authorization !== undefined) headers.authorization = request.headers.authorization;
    const gateway = new WebSocket(target, { headers, perMessageDeflate: false });
    const pair: Pair = { client, gateway };
    pairs.add(pair);
    const queued: RawData[] = [];
    const end = (): void => {
      pairs.delete(pair);
      client.terminate();
      gateway.terminate();
    };
    client.on('error', end);
    gateway.on('error', end);
    client.on('close', end);
    gateway.on('close', end);
    gateway.on('open', () => {
      for (const data of queued.splice(0)) gateway.send(data, { binary: false });
    });
    client.on('message', (data: RawData) => {
      const command = JSON.parse((data as Buffer).toString()) as Command;
      commands.push(command);
      const rule = rules.find((candidate) => candidate.match === undefined && candidate.test(command));
      if (rule !== undefined) rule.match = { pair, commandId: command.commandId };
      if (gateway.readyState === WebSocket.OPEN) gateway.send(data, { binary: false });
      else queued.push(data);
    });
    gateway.on('message', (data: RawData) => {
      const frame = JSON.parse((data as Buffer).toString()) as { commandId?: unknown };
      const index = rules.findIndex((rule) => rule.match?.pair === pair && rule.match.commandId === frame.commandId);
      if (index !== -1) {
        const [rule] = rules.splice(index, 1);
        rule?.answered(pair, data);
        return;
      }
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: false });
    });
  });

  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}${new URL(target).pathname}`,
    commands,
    cutAnswer: (test) =>
      new Promise((resolve) => {
        rules.push({
          test,
          answered: (pair) => {
            pair.client.terminate();
            pair.gateway.terminate();
            resolve();
          },
        });
      }),
    holdAnswer: (test) => {
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => {
        rules.push({
          test,
          answered: (pair, answer) => {
            release = () => {
              if (pair.client.readyState === WebSocket.OPEN) pair.client.send(answer, { binary: false });
            };
            resolve();
          },
        });
      });
      return {
        held,
        release: () => {
          release();
        },
      };
    },
    rewriteAnswer: (test, rewrite) => {
      rules.push({
        test,
        answered: (pair, answer) => {
          const frame = JSON.parse((answer as Buffer).toString()) as Record<string, unknown>;
          if (pair.client.readyState === WebSocket.OPEN) pair.client.send(JSON.stringify(rewrite(frame)));
        },
      });
    },
    close: async () => {
      for (const { client, gateway } of pairs) {
        client.terminate();
        gateway.terminate();
      }
      await new Promise((resolve) => {
        server.close(resolve);
      });
    },
  };
}
