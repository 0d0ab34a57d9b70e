import type { IncomingMessage } from 'node:http';

/**
 * Read the whole request body as UTF-8 text, or undefined when it is larger than `maxBytes`.
 * A larger body is read on and thrown away rather than destroyed: destroying the request would
 * reset the connection before the caller's 413 reaches the client.
 */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      if (size > maxBytes) return;
      size += chunk.length;
      if (size > maxBytes) {
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    request.once('end', () => {
      const [only] = chunks;
      resolve(chunks.length === 1 && only !== undefined ? only.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    request.once('error', reject);
  });
}
