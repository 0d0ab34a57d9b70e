import { domainToUnicode } from 'node:url';
import { authCode, type DomainRecord, formatDate, generateDomains, isHostName, normalizeDomain, toAscii } from './domains.js';
import { type CommandResult, descriptions, result } from './response-text.js';

/** Who runs a command, after authentication. */
export interface Actor {
  /** The account whose data is in view: the account itself, or a subuser in subuser view. */
  owner: string;
  /** A read-only role may not change anything. */
  readOnly: boolean;
  role: string | undefined;
}

/** Limits of list commands. */
export interface ListLimits {
  defaultLimit: number;
  maxLimit: number;
}

const DAY_MS = 86_400_000;
const PRICE_PER_YEAR = 12;
/**
 * Indexed parameters (`DOMAIN0`, `NAMESERVER0`, ...) are read from index 0 to MAX_INDEXED - 1; one
 * with a higher index is refused (541), not ignored. The protocol sets no limit: this one bounds
 * the work of one command. Documented in GUIDE.md (Command API).
 */
const MAX_INDEXED = 256;

/** Canonical names of the registrar commands, by upper-case name. */
export const REGISTRAR_COMMANDS: ReadonlyMap<string, string> = new Map(
  ['StatusAccount', 'CheckDomain', 'CheckDomains', 'AddDomain', 'StatusDomain', 'ModifyDomain', 'DeleteDomain', 'QueryDomainList', 'ConvertIDN'].map(
    (name) => [name.toUpperCase(), name],
  ),
);

const WRITE_COMMANDS = new Set(['ADDDOMAIN', 'MODIFYDOMAIN', 'DELETEDOMAIN']);

/** Whether a command changes data (a read-only role may not run it). */
export function isWriteCommand(upperName: string): boolean {
  return WRITE_COMMANDS.has(upperName);
}

function properties(entries: readonly (readonly [string, readonly string[]])[]): Map<string, readonly string[]> {
  return new Map(entries);
}

function missing(key: string): CommandResult {
  return result(504, `${descriptions[504]}; ${key}`);
}

function badSyntax(key: string): CommandResult {
  return result(505, `${descriptions[505]}; ${key}`);
}

function badValue(key: string): CommandResult {
  return result(541, `${descriptions[541]}; ${key}`);
}

function isResult(value: unknown): value is CommandResult {
  return typeof value === 'object' && value !== null && 'code' in value;
}

/** A whole number parameter: its value, its default when absent, or a 505/541 result. */
export function integerParameter(
  command: Record<string, string>,
  key: string,
  fallback: number,
  min: number,
  max: number,
): number | CommandResult {
  const raw = command[key];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\s*-?\d{1,15}\s*$/.test(raw)) return badSyntax(key);
  const value = Number(raw);
  return value < min || value > max ? badValue(key) : value;
}

/**
 * `KEY`, `KEY0`, `KEY1`, ... in index order (for bulk parameters such as `DOMAIN0`), or 541 naming
 * the lowest index above the bound, which would otherwise be ignored without a word.
 */
function indexedValues(command: Record<string, string>, key: string): { key: string; value: string }[] | CommandResult {
  let beyond: { name: string; index: number } | undefined;
  for (const name of Object.keys(command)) {
    if (name.length <= key.length || !name.startsWith(key)) continue;
    const digits = name.slice(key.length);
    if (!/^\d+$/.test(digits)) continue;
    const index = Number(digits);
    if (index >= MAX_INDEXED && (beyond === undefined || index < beyond.index)) beyond = { name, index };
  }
  if (beyond !== undefined) return result(541, `${descriptions[541]}; ${beyond.name}: indexes go from 0 to ${String(MAX_INDEXED - 1)}`);
  const values: { key: string; value: string }[] = [];
  const plain = command[key];
  if (plain !== undefined) values.push({ key, value: plain });
  for (let index = 0; index < MAX_INDEXED; index += 1) {
    const value = command[`${key}${index}`];
    if (value !== undefined) values.push({ key: `${key}${index}`, value });
  }
  return values;
}

function money(amount: number): string {
  return amount.toFixed(2);
}

function wildcard(pattern: string): RegExp {
  const escaped = pattern.toLowerCase().replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  return new RegExp(`^${escaped}$`);
}

const ORDERINGS: Record<string, (a: DomainRecord, b: DomainRecord) => number> = {
  DOMAIN: (a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0),
  DOMAINDESC: (a, b) => (a.domain < b.domain ? 1 : a.domain > b.domain ? -1 : 0),
  CREATEDDATE: (a, b) => a.createdDate.localeCompare(b.createdDate) || a.domain.localeCompare(b.domain),
  CREATEDDATEDESC: (a, b) => b.createdDate.localeCompare(a.createdDate) || a.domain.localeCompare(b.domain),
  EXPIRATIONDATE: (a, b) => a.expirationDate.localeCompare(b.expirationDate) || a.domain.localeCompare(b.domain),
  EXPIRATIONDATEDESC: (a, b) => b.expirationDate.localeCompare(a.expirationDate) || a.domain.localeCompare(b.domain),
};

/** The registry of one entity (system): domains and account balances, apart from every other entity. */
export class Registry {
  readonly entity: string;
  readonly #domains = new Map<string, DomainRecord>();
  readonly #balances = new Map<string, number>();
  readonly #sorted = new Map<string, DomainRecord[]>();
  readonly #clock: () => number;
  readonly #limits: ListLimits;

  constructor(entity: string, owners: ReadonlyMap<string, number>, startingBalance: number, clock: () => number, limits: ListLimits) {
    this.entity = entity;
    this.#clock = clock;
    this.#limits = limits;
    const now = clock();
    const names = new Set<string>();
    for (const [owner, count] of owners) {
      this.#balances.set(owner, startingBalance);
      for (const record of generateDomains(entity, owner, count, now, names)) this.#domains.set(record.domain, record);
    }
  }

  /** Every domain `owner` holds, sorted by name. */
  domainsOf(owner: string): readonly DomainRecord[] {
    let sorted = this.#sorted.get(owner);
    if (sorted === undefined) {
      sorted = [...this.#domains.values()].filter((record) => record.owner === owner).sort(ORDERINGS.DOMAIN);
      this.#sorted.set(owner, sorted);
    }
    return sorted;
  }

  /** Run a registrar command (upper-case name) for an authenticated actor. */
  run(name: string, command: Record<string, string>, actor: Actor): CommandResult {
    switch (name) {
      case 'STATUSACCOUNT':
        return this.#statusAccount(actor);
      case 'CHECKDOMAIN':
        return this.#checkDomain(command);
      case 'CHECKDOMAINS':
        return this.#checkDomains(command);
      case 'ADDDOMAIN':
        return this.#addDomain(command, actor);
      case 'STATUSDOMAIN':
        return this.#statusDomain(command, actor);
      case 'MODIFYDOMAIN':
        return this.#modifyDomain(command, actor);
      case 'DELETEDOMAIN':
        return this.#deleteDomain(command, actor);
      case 'QUERYDOMAINLIST':
        return this.#queryDomainList(command, actor);
      case 'CONVERTIDN':
        return convertIdn(command);
      default:
        return result(500, descriptions[500]);
    }
  }

  #touch(owner: string): void {
    this.#sorted.delete(owner);
  }

  #statusAccount(actor: Actor): CommandResult {
    const amount = this.#balances.get(actor.owner) ?? 0;
    return {
      ...result(200, descriptions[200]),
      properties: properties([
        ['AMOUNT', [money(amount)]],
        ['CREDIT', [money(1000)]],
        ['CURRENCY', ['EUR']],
        ['DEPOSIT', [money(0)]],
        ['DOMAINCOUNT', [String(this.domainsOf(actor.owner).length)]],
      ]),
    };
  }

  #checkDomain(command: Record<string, string>): CommandResult {
    const raw = command.DOMAIN;
    if (raw === undefined || raw.trim() === '') return missing('DOMAIN');
    const domain = normalizeDomain(raw);
    if (domain === undefined) return badSyntax('DOMAIN');
    return this.#domains.has(domain) ? result(211, descriptions[211]) : result(210, descriptions[210]);
  }

  #checkDomains(command: Record<string, string>): CommandResult {
    const inputs = indexedValues(command, 'DOMAIN');
    if (isResult(inputs)) return inputs;
    if (inputs.length === 0) return missing('DOMAIN0');
    const domains: string[] = [];
    const checks: string[] = [];
    for (const input of inputs) {
      const domain = normalizeDomain(input.value);
      domains.push(domain ?? input.value);
      if (domain === undefined) checks.push(`505 ${descriptions[505]}`);
      else checks.push(this.#domains.has(domain) ? `211 ${descriptions[211]}` : `210 ${descriptions[210]}`);
    }
    return { ...result(200, descriptions[200]), properties: properties([['DOMAIN', domains], ['DOMAINCHECK', checks]]) };
  }

  #nameservers(command: Record<string, string>): string[] | CommandResult {
    const inputs = indexedValues(command, 'NAMESERVER');
    if (isResult(inputs)) return inputs;
    const nameservers: string[] = [];
    for (const { key, value } of inputs) {
      if (value.trim() === '') continue;
      if (!isHostName(value)) return badSyntax(key);
      nameservers.push(toAscii(value.trim().toLowerCase()));
    }
    if (nameservers.length > 13) return badValue('NAMESERVER');
    return nameservers;
  }

  #addDomain(command: Record<string, string>, actor: Actor): CommandResult {
    const raw = command.DOMAIN;
    if (raw === undefined || raw.trim() === '') return missing('DOMAIN');
    const domain = normalizeDomain(raw);
    if (domain === undefined) return badSyntax('DOMAIN');
    const period = integerParameter(command, 'PERIOD', 1, 1, 10);
    if (isResult(period)) return period;
    const nameservers = this.#nameservers(command);
    if (isResult(nameservers)) return nameservers;
    if (this.#domains.has(domain)) return result(549, `${descriptions[549]}; domain name not available`);
    const now = this.#clock();
    const record: DomainRecord = {
      domain,
      owner: actor.owner,
      createdDate: formatDate(now),
      expirationDate: formatDate(now + period * 365 * DAY_MS),
      nameservers,
      auth: command.AUTH ?? authCode(Math.random),
      renewalMode: 'AUTORENEW',
      transferLock: true,
      status: 'ACTIVE',
      ownerContact: command.OWNERCONTACT0 ?? command.OWNERCONTACT ?? 'P-DEFAULT',
    };
    this.#domains.set(domain, record);
    this.#touch(actor.owner);
    this.#balances.set(actor.owner, (this.#balances.get(actor.owner) ?? 0) - PRICE_PER_YEAR * period);
    return {
      ...result(200, descriptions[200]),
      properties: properties([
        ['CREATEDDATE', [record.createdDate]],
        ['REGISTRATIONEXPIRATIONDATE', [record.expirationDate]],
        ['STATUS', [record.status]],
      ]),
    };
  }

  #owned(command: Record<string, string>, actor: Actor): DomainRecord | CommandResult {
    const raw = command.DOMAIN;
    if (raw === undefined || raw.trim() === '') return missing('DOMAIN');
    const domain = normalizeDomain(raw);
    if (domain === undefined) return badSyntax('DOMAIN');
    const record = this.#domains.get(domain);
    return record?.owner === actor.owner ? record : result(545, `${descriptions[545]}; domain ${domain}`);
  }

  #statusDomain(command: Record<string, string>, actor: Actor): CommandResult {
    const record = this.#owned(command, actor);
    if (isResult(record)) return record;
    return {
      ...result(200, descriptions[200]),
      properties: properties([
        ['AUTH', [record.auth]],
        ['CREATEDDATE', [record.createdDate]],
        ['DOMAIN', [record.domain]],
        ['IDN', [domainToUnicode(record.domain)]],
        ['NAMESERVER', record.nameservers],
        ['OWNERCONTACT', [record.ownerContact]],
        ['REGISTRATIONEXPIRATIONDATE', [record.expirationDate]],
        ['RENEWALMODE', [record.renewalMode]],
        ['STATUS', [record.status]],
        ['TRANSFERLOCK', [record.transferLock ? '1' : '0']],
      ]),
    };
  }

  #modifyDomain(command: Record<string, string>, actor: Actor): CommandResult {
    const record = this.#owned(command, actor);
    if (isResult(record)) return record;
    const renewalMode = command.RENEWALMODE?.trim().toUpperCase();
    if (renewalMode !== undefined && !['AUTORENEW', 'AUTOEXPIRE', 'AUTODELETE', 'DEFAULT'].includes(renewalMode)) {
      return badValue('RENEWALMODE');
    }
    const transferLock = command.TRANSFERLOCK?.trim();
    if (transferLock !== undefined && transferLock !== '0' && transferLock !== '1') return badValue('TRANSFERLOCK');
    const auth = command.AUTH;
    if (auth?.length === 0 || (auth !== undefined && auth.length > 64)) return badValue('AUTH');
    const sent = indexedValues(command, 'NAMESERVER');
    const nameservers = isResult(sent) || sent.length > 0 ? this.#nameservers(command) : undefined;
    if (isResult(nameservers)) return nameservers;
    if (renewalMode !== undefined) record.renewalMode = renewalMode === 'DEFAULT' ? 'AUTORENEW' : renewalMode;
    if (transferLock !== undefined) record.transferLock = transferLock === '1';
    if (auth !== undefined) record.auth = auth;
    if (nameservers !== undefined) record.nameservers = nameservers;
    return result(200, descriptions[200]);
  }

  #deleteDomain(command: Record<string, string>, actor: Actor): CommandResult {
    const record = this.#owned(command, actor);
    if (isResult(record)) return record;
    this.#domains.delete(record.domain);
    this.#touch(actor.owner);
    return result(200, descriptions[200]);
  }

  #queryDomainList(command: Record<string, string>, actor: Actor): CommandResult {
    const first = integerParameter(command, 'FIRST', 0, 0, Number.MAX_SAFE_INTEGER);
    if (isResult(first)) return first;
    const requested = integerParameter(command, 'LIMIT', this.#limits.defaultLimit, 1, Number.MAX_SAFE_INTEGER);
    if (isResult(requested)) return requested;
    const limit = Math.min(requested, this.#limits.maxLimit);
    const orderBy = (command.ORDERBY ?? 'DOMAIN').trim().toUpperCase() || 'DOMAIN';
    const ordering = ORDERINGS[orderBy];
    if (ordering === undefined) return badValue('ORDERBY');
    let list = this.domainsOf(actor.owner);
    const pattern = command.DOMAIN?.trim();
    if (pattern !== undefined && pattern !== '') {
      const matcher = wildcard(pattern);
      list = list.filter((record) => matcher.test(record.domain) || matcher.test(domainToUnicode(record.domain)));
    }
    if (orderBy !== 'DOMAIN') list = [...list].sort(ordering);
    const page = list.slice(first, first + limit);
    const wide = command.WIDE?.trim() === '1';
    const entries: [string, readonly string[]][] = [
      ['COUNT', [String(page.length)]],
      ['DOMAIN', page.map((record) => record.domain)],
      ['FIRST', [String(first)]],
      ['LAST', [String(first + page.length - 1)]],
      ['LIMIT', [String(limit)]],
      ['TOTAL', [String(list.length)]],
    ];
    if (wide) {
      entries.push(
        ['CREATEDDATE', page.map((record) => record.createdDate)],
        ['REGISTRATIONEXPIRATIONDATE', page.map((record) => record.expirationDate)],
        ['RENEWALMODE', page.map((record) => record.renewalMode)],
        ['STATUS', page.map((record) => record.status)],
      );
    }
    return { ...result(200, descriptions[200]), properties: properties(entries) };
  }
}

/** ConvertIDN: the ASCII and Unicode forms of each `DOMAIN`/`DOMAINn`. */
export function convertIdn(command: Record<string, string>): CommandResult {
  const inputs = indexedValues(command, 'DOMAIN');
  if (isResult(inputs)) return inputs;
  if (inputs.length === 0) return missing('DOMAIN');
  const ace: string[] = [];
  const idn: string[] = [];
  for (const input of inputs) {
    const ascii = toAscii(input.value.trim().toLowerCase());
    if (ascii === '') return badSyntax(input.key);
    ace.push(ascii);
    idn.push(domainToUnicode(ascii));
  }
  return { ...result(200, descriptions[200]), properties: properties([['ACE', ace], ['IDN', idn]]) };
}
