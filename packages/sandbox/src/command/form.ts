// The sandbox's own application/x-www-form-urlencoded decoder. It shares nothing with any
// client: a client and the sandbox that agreed only because they shared a bug would hide it.

const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

// Byte-wise decoding for text that decodeURIComponent rejects (a stray `%`, a broken UTF-8
// sequence): valid escapes become bytes, anything else stays as it was, bad UTF-8 becomes U+FFFD.
function decodeLeniently(text: string): string {
  const bytes: number[] = [];
  let plain = '';
  const flushPlain = (): void => {
    if (plain === '') return;
    for (const byte of utf8Encoder.encode(plain)) bytes.push(byte);
    plain = '';
  };
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charAt(index);
    if (char === '%' && index + 2 < text.length) {
      const high = hexDigit(text.charCodeAt(index + 1));
      const low = hexDigit(text.charCodeAt(index + 2));
      if (high >= 0 && low >= 0) {
        flushPlain();
        bytes.push(high * 16 + low);
        index += 2;
        continue;
      }
    }
    plain += char;
  }
  flushPlain();
  return utf8.decode(new Uint8Array(bytes));
}

/** Decode one form component: `+` is a blank, `%XX` a byte of UTF-8. Never throws. */
export function decodeFormComponent(text: string): string {
  const hasPlus = text.includes('+');
  if (!hasPlus && !text.includes('%')) return text;
  const spaced = hasPlus ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return decodeLeniently(spaced);
  }
}

/**
 * Decode a form body (or a query string) into fields. Field names are compared without regard
 * to case (`S_COMMAND` is `s_command`); when a name repeats, the last value wins.
 */
export function decodeForm(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  if (text === '') return fields;
  for (const part of text.split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const name = decodeFormComponent(equals === -1 ? part : part.slice(0, equals)).toLowerCase();
    const value = equals === -1 ? '' : decodeFormComponent(part.slice(equals + 1));
    fields.set(name, value);
  }
  return fields;
}
