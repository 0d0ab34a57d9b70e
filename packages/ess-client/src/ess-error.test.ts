import { describe, expect, it } from 'vitest';
import { EssError } from '@sessionkit/ess-client';
import { closeError } from './ess-error.js';

describe('EssError', () => {
  it('is recognised across copies by its marker, with code, cause and retryable', () => {
    const cause = new Error('socket hang up');
    const error = new EssError('CONNECTION_FAILED', 'failed', { cause, retryable: true });
    expect(EssError.isInstance(error)).toBe(true);
    expect(EssError.isInstance(new Error('x'))).toBe(false);
    expect(EssError.isInstance({ code: 'CLOSED' })).toBe(false);
    expect(error).toMatchObject({ name: 'EssError', code: 'CONNECTION_FAILED', cause, retryable: true });
  });

  it("maps close codes: protocol violations and oversized frames (either side's) halt, the rest reconnects", () => {
    for (const code of [1002, 1003, 1007, 1008]) expect(closeError(code, 'malformed command')).toMatchObject({ code: 'PROTOCOL_ERROR', retryable: false, closeCode: code });
    // 1009 from the gateway: it found a frame the client sent too large; with ws's error as the
    // cause: a frame from the gateway exceeded the client's own maxPayload.
    // Retryable once online: a command over the gateway's limit (not sent again) would halt the client
    // for every consumer; while connecting (a filters subscription too large) it would come again.
    expect(closeError(1009, '')).toMatchObject({ code: 'PROTOCOL_ERROR', retryable: false, closeCode: 1009 });
    expect(closeError(1009, '', undefined, true)).toMatchObject({ code: 'PROTOCOL_ERROR', retryable: true, closeCode: 1009 });
    expect(closeError(1008, '', undefined, true)).toMatchObject({ code: 'PROTOCOL_ERROR', retryable: false });
    expect(closeError(1009, '').message).not.toContain('maxPayload');
    const tooLarge = new RangeError('Max payload size exceeded');
    expect(closeError(1009, '', tooLarge)).toMatchObject({ code: 'FRAME_TOO_LARGE', retryable: false, closeCode: 1009, cause: tooLarge });
    expect(closeError(1009, '', tooLarge).message).toContain('maxPayload');
    for (const code of [1000, 1001, 1006, 1011, 1012, 1013, 4000]) expect(closeError(code, '')).toMatchObject({ code: 'CONNECTION_LOST', retryable: true });
    expect(closeError(1008, 'malformed command: x').message).toContain('malformed command: x');
  });

  it('says in its message which close code and reason ended the connection', () => {
    expect(closeError(1001, 'going away').message).toBe('Connection closed with code 1001 (going away).');
    expect(closeError(1006, '').message).toBe('Connection closed with code 1006.');
    expect(closeError(1008, 'bad').message).toBe('Connection closed with code 1008 (bad): the gateway rejected what was sent.');
    expect(closeError(1009, '', new RangeError('Max payload size exceeded')).message).toBe('Connection closed with code 1009: a frame exceeded maxPayload.');
  });
});
