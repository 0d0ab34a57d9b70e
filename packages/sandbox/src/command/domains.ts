import { domainToASCII, domainToUnicode } from 'node:url';

/** One registered domain in the sandbox's registry. */
export interface DomainRecord {
  /** The domain in ASCII (punycode) form, lower case. */
  domain: string;
  /** The account (or subuser) that holds it. */
  owner: string;
  createdDate: string;
  expirationDate: string;
  nameservers: string[];
  auth: string;
  renewalMode: string;
  transferLock: boolean;
  status: string;
  ownerContact: string;
}

// A small deterministic generator (mulberry32): the same seed gives the same registry on
// every machine, so tests can rely on the data.
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function seedOf(text: string): number {
  let hash = 2_166_136_261;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 16_777_619);
  }
  return hash >>> 0;
}

const SYLLABLES = [
  'ka', 'lo', 'mi', 'ren', 'to', 'sa', 'vel', 'nor', 'quin', 'dar', 'bel', 'fen', 'gor', 'hal', 'jun', 'lex',
  'mar', 'nov', 'pix', 'ros', 'sun', 'tam', 'ul', 'vin', 'wex', 'yar', 'zed', 'cor', 'dil', 'esk', 'fy', 'gra',
];
const TLDS = ['com', 'net', 'org', 'de', 'eu', 'io', 'info', 'biz', 'shop', 'app'];
const UNICODE_WORDS = ['müller', 'straße', 'café', 'bücher', 'grün', 'señor', 'smörgås', 'ärger'];
const AUTH_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
const DAY_MS = 86_400_000;
const FIRST_CREATED = Date.UTC(2012, 0, 1);

/** `YYYY-MM-DD HH:MM:SS` in UTC, the registry's date format. */
export function formatDate(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ');
}

/** A random auth code. */
export function authCode(next: () => number): string {
  let code = '';
  for (let index = 0; index < 16; index += 1) code += AUTH_ALPHABET.charAt(Math.floor(next() * AUTH_ALPHABET.length));
  return code;
}

/**
 * `count` domains for `owner` on `entity`, the same on every run, none of them in `names`
 * (which receives the new ones). About one in forty is an internationalised name, stored in
 * its ASCII form.
 */
export function generateDomains(entity: string, owner: string, count: number, nowMs: number, names: Set<string> = new Set<string>()): DomainRecord[] {
  const next = random(seedOf(`${entity}/${owner}`));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const records: DomainRecord[] = [];
  const tag = owner.replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 6) || 'x';
  for (let index = 0; records.length < count && index < count * 4; index += 1) {
    let label = '';
    const syllables = 2 + Math.floor(next() * 3);
    for (let part = 0; part < syllables; part += 1) label += pick(SYLLABLES);
    if (next() < 0.025) label = `${pick(UNICODE_WORDS)}-${label}`;
    else if (next() < 0.3) label = `${label}-${pick(SYLLABLES)}${Math.floor(next() * 100)}`;
    let domain = domainToASCII(`${label}.${pick(TLDS)}`);
    if (domain === '' || names.has(domain)) domain = domainToASCII(`${label}-${tag}${index}.${pick(TLDS)}`);
    if (domain === '' || names.has(domain)) continue;
    names.add(domain);
    const created = FIRST_CREATED + Math.floor(next() * 4000) * DAY_MS + Math.floor(next() * DAY_MS);
    let expiration = created + 365 * DAY_MS;
    while (expiration < nowMs) expiration += 365 * DAY_MS;
    const renewal = next();
    records.push({
      domain,
      owner,
      createdDate: formatDate(created),
      expirationDate: formatDate(expiration),
      nameservers: [`ns1.${pick(['dns', 'host', 'zone'])}-${Math.floor(next() * 9) + 1}.net`, `ns2.${pick(['dns', 'host', 'zone'])}-${Math.floor(next() * 9) + 1}.net`],
      auth: authCode(next),
      renewalMode: renewal < 0.8 ? 'AUTORENEW' : renewal < 0.95 ? 'AUTOEXPIRE' : 'AUTODELETE',
      transferLock: next() < 0.7,
      status: 'ACTIVE',
      ownerContact: `P-${tag.toUpperCase()}${String(Math.floor(next() * 1000)).padStart(3, '0')}`,
    });
  }
  return records;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const TOP_LABEL = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/**
 * `domainToASCII`, made the same on every Node version: '' also when a label claims to be
 * punycode (`xn--`) but does not decode. Node 20 and 22 answer '' for such a name; Node 24
 * passes it through unchanged.
 */
export function toAscii(input: string): string {
  const ascii = domainToASCII(input);
  for (const label of ascii.split('.')) {
    if (label.startsWith('xn--') && domainToUnicode(label).startsWith('xn--')) return '';
  }
  return ascii;
}

/** The ASCII form of a domain name, or undefined when it is not a valid registrable name. */
export function normalizeDomain(input: string): string | undefined {
  const trimmed = input.trim();
  if (trimmed === '' || trimmed.length > 253) return undefined;
  const ascii = toAscii(trimmed.toLowerCase());
  if (ascii === '' || ascii.length > 253) return undefined;
  const labels = ascii.split('.');
  if (labels.length < 2) return undefined;
  const top = labels[labels.length - 1] ?? '';
  if (!TOP_LABEL.test(top)) return undefined;
  return labels.every((label) => LABEL.test(label)) ? ascii : undefined;
}

/** Whether `input` is a valid host name (for name servers). */
export function isHostName(input: string): boolean {
  return normalizeDomain(input) !== undefined;
}
