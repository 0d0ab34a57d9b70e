/** The text that replaces a secret value. */
export const REDACTED = '[REDACTED]';

/** What a copy holds in place of a value that could not be read, redacted or serialized. */
export const UNREADABLE = '[Unreadable]';

/**
 * Keys whose values are secret wherever they appear: object keys (any depth), URL query
 * parameters, form fields, `KEY=value` command lines and JSON text. Compared without regard
 * to case, `-`, `_` or `.`, so `client_secret`, `clientSecret` and `Client-Secret` are one key;
 * a key that ends in one after a `-`, `_` or `.`, or from a capital after a small letter or digit
 * or from the last of a run of capitals, is secret too (`SESSIONKIT_CLIENT_SECRET`, `X-Auth-Token`,
 * `db.password`, `sessionToken`, `APIToken`).
 */
export const defaultRedactKeys: readonly string[] = (
  'password password_confirmation password_confirm passwd pgpassword pw pwd pass s_pw newpassword secret client_secret ' +
  'secret_key secret_access_key secret_key_base encryption_key signing_key credential credentials token access_token ' +
  'refresh_token id_token code_verifier client_assertion authorization proxy-authorization cookie cookies set-cookie ' +
  'session s_session sessionid jsessionid phpsessid connect.sid otp s_otp auth api_key x-api-key private_key passphrase signature sig'
).split(' ');

/** Options for {@link redact} and for a logger's redaction. */
export interface RedactOptions {
  /** Extra secret keys, added to {@link defaultRedactKeys}: names, at any depth; a path (`user.ssn`, `*.pin`) is also its last name. */
  keys?: readonly string[] | ReadonlySet<string> | undefined;
  /**
   * Replace the default keys instead of adding to them. Only for callers that know their data.
   * @default false
   */
  replaceDefaultKeys?: boolean | undefined;
}

const normalizeKey = (key: string): string => key.toLowerCase().replace(/[-_.\s]/g, '');

/** A compiled redactor: build it once, apply it to many values. */
export interface Redactor {
  /** A deep copy of `value` with every secret replaced. Never mutates its input. */
  value<T>(value: T): T;
  /** `text` with secrets in URLs, forms, command lines, JSON and auth headers replaced. */
  text(text: string): string;
  /**
   * Whether `key` names a secret: it, or its end after a `-`, `_`, `.`, bracket (`user[password]`,
   * `user%5Bpassword%5D`) or camelCase word break (`dbPassword`, `APIToken`), is a secret key. An index in brackets is no name: `password[0]` is `password`.
   */
  isSecretKey(key: string): boolean;
}

// Each pattern finds a key and its value in text, as three groups: the text up to the value
// (what leads up to the key, the key and the separator), the key, and the value. A quoted value
// stays quoted once redacted. A key starts with a letter after any `_` and `-` (which key
// comparison ignores): `_token`, `--password`, but not `1password`, `-5` or `401`. In INLINE it may
// end in bracketed names, as form keys do (`user[password]=`, `user%5Bpassword%5D=`), when an `=` or
// `%3D` follows them directly, an `=>` after its closing quote or blanks (`"user[password]"=>…` in a
// Ruby hash, `'user[password]' => …` in a Map), or an `=` or `:` after blanks or a single quote
// (`user[password] = …`, `{'user[password]': …}`) unless the last name is an index:
// `PROPERTY[DOMAIN][0] = …` lines of an ISPAPI response are no keys, as before, so that a long list
// is not searched value by value (twice the time).
//
// `KEY=value` (ISPAPI command text) and `Key: value` (header lines such as `Cookie: a=b; c=d`)
// starting a line or following `,` or `{`: the value, `&` and blanks included, runs to the end
// of the line. The value is not taken, so that after a key that is not secret the rest of the
// line is still searched (`status: 401, token: …`); after a secret one, CUT marks where the line
// is cut (with the lines indented below it: see CUT_REST). The last group is the value's opening
// double quote, if any.
const LINE = /((?:^[ \t]*|[,{]\s*)([_-]*[A-Za-z][\w.-]*)[ \t]*[=:][ \t]*)(?=("?))/gm;
// The same command text URL-encoded inside a form field: `%0AAUTH%3Dsecret%0A…`, also with encoded
// blanks before the `%3D` (`OTP%20%3D…`); the value may hold `%26`. The indented lines below it
// (`%0A%20…`, `%0A+…`) are part of the value, as CUT_REST takes them below a plain `AUTH=…`. The
// fourth group is empty; the fifth is INLINE's: what ends the value, but for the end of a line (the
// `m` flag: a raw line break ends it too; without it, each candidate was scanned to the next line
// break and failed there, in quadratic time).
const ENCODED = /((?:%0[AD]|s_command=)([_-]*[A-Za-z][\w.-]*)(?:%20|%09|\+)*%3D)(.*?(?=%0[AD]|&|$)(?:(?:%0[AD])+(?=%20|%09|\+).*?(?=%0[AD]|&|$))*)()(?=(%0[AD]|&)|$)/gim;
// `key=value` and `key: value` in query strings, form bodies and log text, `'key' => value` in
// `util.inspect` output of a Map (`"key"=>value` of a Ruby hash), `--key value` on a command line,
// and `"--key", "value"` in an argument array written as JSON or by `util.inspect` (a quoted value
// that does not start with `-`, which would be the next option, and is not followed by a `:` or
// `=>`: then the flag is a value in an object, hash or Map, and what follows it is the next key,
// which must stay a key: `{"flag":"--password","password":"…"}`): the value is quoted (a missing closing quote
// reads to the end), in escaped quotes (`\"…\"`, JSON inside a string, to the end of the text if
// cut short, but not past a bare quote; an escape in the inner string, `\\` and what it escapes, is
// taken whole, so a run of backslashes is read one way only), an opening bracket (`(` before a
// quote too: `("…")`; under a secret key, the line is cut there; not the `[` of a value already
// redacted), or runs to the next separator (a `&`, `,` or `;` right after the separator starts the
// value, unless a blank, a separator or a word and a separator follows it: `password=&x` is `&x`,
// `password=&user=bob` is empty; an auth scheme and the blanks after it are part of the value:
// `Bearer …` is one, however short the credential, unless the word after it is a `--` flag or a
// key and its separator: `type=Bearer token => …` is `Bearer`, then the key `token`). A key and its
// separator after a blank is taken as the value of the key before it (`user => password => …`:
// `password` is the value of `user`; QUOTED_KEY reads it afterwards). The key may be single-quoted, as
// in a Python or JavaScript literal: `{'token': 'value'}`; in escaped single quotes, as in a
// JavaScript string logged as it is (`\'password\': …`), or double-quoted before an `=` (`"password" =
// "…"` in TOML or HCL; not `==`, a comparison: `assert "password" == x`), when one of these quotes
// opens it too and its value does not read as a key and its separator (`"user" = token = …`,
// `\'a\': 'token': …`: then the key is not read so, and the one after it is still found, as before; a
// key before `=>` needs no opening quote: `x"=>…`). A value in escaped single quotes (`\'…\'`) ends on
// its line: it is read first as a string inside the string, whose own escapes are escaped again
// (`\'it\\\'s\'`, `\\\\` a backslash), and where that finds no closing `\'`, as escaped once
// (`\'a\\\'` and a line break: `a\\`, then its closing `\'`). The character before the key is looked
// at, not taken, so a key right after a quoted value (`"a'b", 'x': "token=…`) is still found.
// That a blank follows a `--` flag is checked after the blank (the lookbehind), so the check
// runs once per word, not once for every shorter key a long word could be cut to, and only at the
// end of the blanks (`(?![-\t ])`), so that a long run of blanks is not tried at each of them. The
// value of a `--` flag may follow a shell line continuation (`--password \`, the value on the next line).
// A key may follow a `#` as in a URL fragment (`#access_token=…`), or a `:` as a Ruby symbol
// (`:password=>…`), only with an `=` or `=>` right after it: `#https://…` or `#anchor: …` is no
// key, whose value would take the key after it (that `=` is looked for only after a `#` or `:`: in
// a lookbehind the engine would look for it first, from every character of a long word, in
// quadratic time). A value that is a `--` flag takes the flag's own
// value with it (`args: --password …`, so that the flag is looked at as a key when the value is
// searched): one word without a key's start or a separator in it, or a quoted string, taken whole
// (the lookahead's group, which the engine does not take apart again) and not followed by a
// separator: a word that is itself a key (`--name token = …`) is left to be found as one. The
// fifth group is the `&`, `,` or `;` after the value, which starts what follows as something else
// (undefined before a blank, a quote or the end of the text, after which the value may go on).
const INLINE = /((?:(?<=^|[?&;,\s"'(])|(?<=[#:])(?=[\w.-]+(?:=|[ \t]*=>)))([_-]*[A-Za-z][\w.-]*(?:(?:\[[\w.-]*]|%5B[\w.-]*%5D)+(?==|%3D|["']?[ \t]*=>|(?<!\[\d*]|%5B\d*%5D)'?[ \t]*[=:]))?)(?:'|(?:\\'|"(?=[ \t]*=(?![=~])))(?<=(?:\\'|")[\w.-]+(?:\\'|"))(?![ \t]*(?:=>|[=:])[ \t]*\\?["']?[_-]*[A-Za-z][\w.-]*(?:\\?["'][ \t]*|[ \t]+)(?:=>|[=:]))|"(?=[ \t]*=>))?(?:[ \t]*(?:=>|[=:])[ \t]*|%3D|["'](?<=["']-[\w.-]*["'])\s*,\s*(?="(?!-)[^"\\]*(?:\\.[^"\\]*)*(?:"|$)(?!\s*(?::|=>))|'(?!-)[^'\\]*(?:\\.[^'\\]*)*(?:'|$)(?!\s*(?::|=>)))|[ \t]+(?:\\\r?\n[ \t]*)?(?![-\t ])(?<=(?:^|\s)--[\w.-]+[ \t]+(?:\\\r?\n[ \t]*)?)))(?![_-]*[A-Za-z][\w.-]*:(?!\S))(--[_-]*[A-Za-z][\w.-]*[ \t]+(?:\\\r?\n[ \t]*)?(?=("[^"\\]*(?:\\.[^"\\]*)*"?|'[^'\\]*(?:\\.[^'\\]*)*'?|[^-\s&,;"'\\=:?#(){}[\]][^\s&,;"'\\=:?#(){}[\]]*))\4(?![ \t]*(?:[=:]|%3D))|"[^"\\]*(?:\\.[^"\\]*)*"?|'[^'\\]*(?:\\.[^'\\]*)*'?|\\"[^"\\]*(?:(?:\\[^"\\]|\\\\(?:\\.|[^"\\]))[^"\\]*)*(?:\\"|$)|\\'[^'\\\n]*(?:(?:\\[^'\\]|\\\\(?:\\.|[^'\\\n]))[^'\\\n]*)*(?:\\'|$)|\\'[^'\\\n]*(?:\\[^'][^'\\\n]*)*(?:\\'|$)|\((?=[ \t]*\\?["'])|\([^()\n]*\)(?=[)}\]]*(?:$|[\s&,;"']))|\{|\[(?!REDACTED])|(?:(?:bearer|basic|digest)[ \t]+(?=[^&\s,;"'])(?!-|[_-]*[A-Za-z][\w.-]*[ \t]*(?:=|%3D|:(?!\S))))?(?:[&,;](?![\s&,;]|$|[^\s&,;"'=:(]*[ \t]*(?:[=:(]|%3D)))?[^&\s,;"']*)(?=([&,;])|)/gi;
// A quoted key and its value right after a separator, where INLINE took the key for the value of
// the key before it: `Error: 'password': '…'` inside text (`login failed: ${error}`, a cause in a
// stack or in `util.inspect` output), `x => 'token' => …`, also in escaped quotes (`Error: \'password\': …`),
// or unquoted between two `=>` (`user => password => …`) unless its value reads as a key and a
// separator (`login => password => mfa => ok` is prose). Looked for once the key/value patterns
// are done, so that a secret key's value is hidden and the rest is read as before (INLINE reading
// such a string as a key moved where values end: one then ran over the key after it, and a fuzz
// found texts that kept more). A value that starts as a key and its separator is not taken, as its
// own value may follow it (`'token': name = x`): after a blank the value is then empty, and the rest
// of the line is cut. The groups are INLINE's first three; its values are INLINE's.
const QUOTED_KEY = /((?:\\?["'](?<=[=:>][ \t]*\\?.)|(?=[\w-])(?<==>[ \t]+))([_-]*[A-Za-z][\w.-]*(?:\[[\w.-]*]|%5B[\w.-]*%5D)*)(?:\\?["']|(?=[ \t]*=>[ \t]*(?![ \t]|[_-]*[A-Za-z][\w.-]*[ \t]*[=:])))[ \t]*(?:=>|[=:]|%3D)[ \t]*)(?![_-]*[A-Za-z][\w.-]*[ \t]*(?:[=:]|%3D))("[^"\\]*(?:\\.[^"\\]*)*"?|'[^'\\]*(?:\\.[^'\\]*)*'?|\\"[^"\\]*(?:(?:\\[^"\\]|\\\\(?:\\.|[^"\\]))[^"\\]*)*(?:\\"|$)|\\'[^'\\\n]*(?:(?:\\[^'\\]|\\\\(?:\\.|[^'\\\n]))[^'\\\n]*)*(?:\\'|$)|\\'[^'\\\n]*(?:\\[^'][^'\\\n]*)*(?:\\'|$)|\((?=[ \t]*\\?["'])|\([^()\n]*\)(?=[)}\]]*(?:$|[\s&,;"']))|\{|\[(?!REDACTED])|(?:(?:bearer|basic|digest)[ \t]+(?=[^&\s,;"'])(?!-|[_-]*[A-Za-z][\w.-]*[ \t]*(?:=|%3D|:(?!\S))))?[^&\s,;"']*)/gi;
// "key": "value" and "key": 123 inside JSON text (a string cut short reads to the end), also with
// its quotes escaped (`{\"key\": \"value\"}`: JSON inside a string, logged as it is), as four
// groups: the text up to the value, the escape before each quote (none or `\`), the key and the
// value. An object or array value is only its opening bracket: under a secret key it is redacted
// to its closing one (`close`), under another the members nested in it are still looked at. The
// key may hold escapes (`"\u0074oken"`; not `\"`, so that a key never runs past its closing
// quote, which made long runs of escaped quotes take quadratic time), but no blank, bare quote or
// comma, so a match never starts between two strings (`["a", ":", {"token": …}]`). In a string
// with escaped quotes, `\\\"` is a quote inside it. Here, in TOKEN and in INLINE a loop takes a run of
// plain characters at a time, not one (`[^"\\]*(?:\\.[^"\\]*)*`, not `(?:[^"\\]|\\.)*`): megabytes of
// one string would exhaust the backtracking stack (a RangeError). A value in escaped quotes after
// a key that has none, a `(` before a quote and an auth scheme before a word are read as in INLINE
// (the scheme in any case: `BEARER` too).
const JSON_MEMBER = /((\\?)"((?=[\w.[\]-]|\\[^"])[\w.[\]-]*(?:\\[^"][\w.[\]-]*)*)\2"\s*:\s*)(\2"[^"\\]*(?:(?:\\\2\2.|\\[^"])[^"\\]*)*(?:\2")?|\\"[^"\\]*(?:(?:\\[^"\\]|\\\\(?:\\.|[^"\\]))[^"\\]*)*(?:\\"|$)|\((?=[ \t]*\\?["'])|[{[]|(?:(?:bearer|basic|digest)[ \t]+(?=[^\s"{[,}\]]))?(?:[^\s"{[,}\]]+|\[REDACTED])+)/gi;
// What `close` counts: a string (its quotes escaped or not, to the end of the text if cut short),
// an opening bracket (the second group) or a closing one.
const TOKEN = /(\\?)"[^"\\]*(?:(?:\\\1\1.|\\[^"])[^"\\]*)*(?:\1")?|([{[])|[}\]]/g;
// The password in a URL's user information (`redis://user:secret@host`), or the whole of it when
// it has none: a token goes there (`https://ghp_…@github.com/…`, a DSN's key). It runs to the
// last `@` before the path, as a URL parser reads it (`user:p@ss@host`, Azure's
// `user@server:…@host`), but not past a quote (`"https://u:p@h","e":"a@b"`). The scheme starts
// where a word does (not after a letter, digit, `+`, `.` or `-`), so that a long word is tried
// once, not from each of its letters.
const URL_PASSWORD = /(?<![\w+.-])([a-z][\w+.-]*:\/\/(?:[^\s/?#:@]*:)?)[^\s/?#:@][^\s/?#@]*(?:@[^\s/?#@"']*)*@/gi;
// A key, its `=` or `:` and a double-quoted value with a line break in it (a .env file's
// `KEY="…\n…"`), to its closing quote or the end of the text: the line patterns below would cut
// only its first line. The groups: the key, the separator, and the closing quote. Runs of
// characters, not one at a time (megabytes of one value); the search goes on after a match.
const QUOTED_LINES = /(?<![\w.-])([_-]*[A-Za-z][\w.-]*)([ \t]*[=:][ \t]*)"[^"\\\n]*(?:\\[^][^"\\\n]*)*\n[^"\\]*(?:\\[^][^"\\]*)*("|$)/g;
// The boxed primitives, by the tag Object.prototype.toString gives them (from their internal slot).
const boxes: Record<string, { prototype: { valueOf(this: unknown): unknown } } | undefined> = { '[object String]': String, '[object Number]': Number, '[object Boolean]': Boolean };
// A PEM private key (`-----BEGIN RSA PRIVATE KEY-----` …), under any key or none, to its end line
// or the end of the text.
const PEM = /-----BEGIN [A-Z\d ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z\d ]*PRIVATE KEY-----|$)/g;
// Where a secret line value starts: a private-use character, taken out of the input first.
const CUT = '\uE000';
// A mark and the rest of its line, and the lines right below it indented deeper than its line,
// and then a closing bracket at its line's indentation: what `util.inspect` (or YAML) writes for
// an object or array under the key, over as many lines as it takes, whatever its strings hold.
// The text before the mark is kept. The indentation is taken whole, in a lookahead, which gives
// none back: else each shorter one was tried again to the line's end (quadratic in the blanks of
// a line in text stored two bytes a character, where V8 does not rule the mark out at once).
const CUT_REST = /^(?=([ \t]*))\1(.*?)\uE000.*(?:\r?\n\1[ \t]+.*)*(?:\r?\n\1[}\]])?/gm;
// Credentials after an auth scheme, anywhere in text, also after a `+` (a blank in a form value:
// `h=Bearer+…`) or on the next line, but not a header's name there (`Bearer\nSet-Cookie: …`: its
// value is left to the header's own key). Credentials are long; requiring eight characters keeps
// prose such as "bearer tokens expire" intact. A key, an `=` and a value after the scheme word is
// no credential (`kind=Bearer Authorization=…`: the key is read as one); base64 padding is no `=` here.
// Nor, where the key/value patterns read a key (after a blank), is a secret key before an `=` and a
// quoted value (`kind=Bearer Authorization="…"`) or a secret `--` flag before blanks and its value
// (`type=Bearer --password …`): the third group marks them for the key check in `text`. Only a word
// that reads as a key's or flag's name: up to 32 letters, `_`, `.` and `-` (no digit), and a value
// that opens as one (a letter, digit, `_` or `[` after the quote, the fourth group) and closes on its
// line, no backslash before its closing quote. A credential ends like a key name often enough
// (`…Pw`, `…_pw`, `…-auth`), and its padding and closing quote (`"Bearer …Pw=" was …`,
// `"…Pw=","a":1`) are no key and value. The look for the closing quote stops at the next one of its
// kind, a backslash or a line break, so no stretch of text is read by two such looks for one kind.
// Any other word there is still a credential (`Bearer abc123==" …`, `type=Bearer --verbose …`).
// A `Digest` scheme's parameters are left to DIGEST: a known parameter name and `="` after it
// (`username="…"`; `username=bob` is a key and its value anyway). Any other word there is a
// credential, also one that ends in `=` before a quote (`"Digest c2VjcmV0="`).
const AUTH_SCHEME = /\b((?:Bearer|Basic|Digest)(?:[ \t+]+|\s+(?![\w.~+/-]+[ \t]*:)))(?![_-]*[A-Za-z][\w.-]*=[\w%]|(?=(?:username|realm|nonce|uri|response|algorithm|cnonce|opaque|qop|nc|userhash)[ \t]*=[ \t]*\\?")(?<=t[ \t]+))([\w.~+/-]{8,})=*(?=((?<=\s--[a-z_.-]{1,30})[ \t]+[^-\s]|(?<=\s[a-z_.-]{1,32}=)(\\?["'])[\w[][^\\\n]*?\4)?)/gi;
// The parameters of a `Digest` credential or challenge, anywhere in text (`Digest username="bob",
// nonce="…", response="…"`, with its quotes escaped too): a list of `name=value` after `Digest` and
// blanks, `,` between them (a quoted value is read with its escapes, once; an unquoted one starts
// right after the `=`, holds no `&`, `;` or `=` but its padding, and ends its item: before a `,`
// or the end of the text, or right before a quote when no padding ends it; so the word after
// `nonce= `, and `nonce=Bearer abc` or `nonce=x;password="…"`, are left to the other patterns).
// In the list,
// DIGEST_SECRET finds the values of `response`, `cnonce` and `nonce` (a hash of the password, and
// what it was made with); the other parameters (`username`, `realm`, `uri`, `qop`) stay readable.
const DIGEST = /\bDigest[ \t]+[A-Za-z][\w-]*[ \t]*=(?:[ \t]*"[^"\\\n]*(?:\\.[^"\\\n]*)*"|[ \t]*\\"[^"\\\n]*\\"|[^\s,"\\&;=]*(?:=+(?=[ \t]*(?:,|$))|(?=\\?["']|[ \t]*(?:,|$))))(?:[ \t]*,[ \t]*[A-Za-z][\w-]*[ \t]*=(?:[ \t]*"[^"\\\n]*(?:\\.[^"\\\n]*)*"|[ \t]*\\"[^"\\\n]*\\"|[^\s,"\\&;=]*(?:=+(?=[ \t]*(?:,|$))|(?=\\?["']|[ \t]*(?:,|$)))))*/gi;
const DIGEST_SECRET = /(\b(?:c?nonce|response)[ \t]*=[ \t]*\\?")[^"\\\n]+|(\b(?:c?nonce|response)=)[^\s,"\\&;=]+=*/gi;
// A JWT anywhere in text, under any key or none: a base64url header and payload that both
// start with `{"` (`eyJ`), and a signature (empty with `alg: none`). It starts where a run of
// base64url characters does, or right after a percent-escape (`%3DeyJ…` in an encoded query),
// so that a long run (`eyJeyJ…`, `-eyJ-eyJ…`) is tried once, not from each `eyJ` in it.
const JWT = /(?:(?<![\w-])|(?<=%\w\w))eyJ[\w-]*\.eyJ[\w-]*\.[\w-]*/g;
// In a decoded layer of an encoded value (a query or a form, mostly): `key=value` after any
// character but a key's own, where the patterns below see no key's start (`/cb/token=…`,
// `a|password=…`, `x:token = …`): the key and its separator. A key starts where a run of key
// characters does, so a long run is tried once, and not inside an escape (`%26token%3D…` is left
// to the next layer). The value of a secret key (VALUE) runs to the next `&`, quote, angle bracket
// or line break, unless it is redacted already: a blank does not end it, as a form writes one as
// `+` (`password=hunter+two`), nor does a `,` or `;`. Blanks and line breaks around the `=` are
// skipped (`token=\nQv7…`, as http-client's own pattern read it).
const KEY_VALUE = /(?<![\w.-]|%(?=[\da-f]{2}))([\w.-]+)\s*(?:=|%3D)\s*/gi;
const VALUE = /(?!\[REDACTED])[^&\r\n"'<>]+/y;
// A value with percent-escapes (`next=%2Fcb%3Ftoken%3D…`: a URL in a query value, as searchParams
// encodes it), after a `=`, a blank or a quote, or at the start of the text. It holds none of
// these, so each character is looked at from one start only. A `%` without two hex digits after
// it (`cpu at 95%`) makes no such value.
const PERCENT_VALUE = /(?<=^|[=\s"'])[^&\s"'<>=]*%[\da-f]{2}[^&\s"'<>=]*/gi;
const ESCAPE = /%[\da-f]{2}/i;
// A name (an Error's, if it ends in `Error`; a Node error's code after it) and `: `, as an
// Error's text and stack start.
const PREFIX = /^(\w+)(?: \[ERR_\w+])?: /;
// The parts of a layer of encoding: runs of escapes, each decoded whole (those of ASCII characters
// apart from the others, which may not be UTF-8); runs of the characters that encoding leaves as
// they are (cut or not, they come out of it the same: fewer parts than one a character); and any
// other character alone.
const UNITS = /(?:%[0-7][\da-f])+|(?:%[89a-f][\da-f])+|[\w.!~*'()-]+|[^]/gi;

// The backslashes a value ends with: one may escape the quote after it (`x=a\"token\":…`, JSON
// inside a string, logged as it is), so a value redacted or cut keeps them.
const ending = (value: string): string => value.replace(/^[^]*[^\\]/, '');

// A part of a layer of encoding decoded: a run of escapes as the text it stands for (ASCII ones by
// decodeURIComponent, the fastest; others as UTF-8 with U+FFFD for bytes that are not, where
// decodeURIComponent would throw, a few microseconds each); a `+` as a blank, as a form writes
// one; any other part as it is.
const decode = (part: string): string => {
  if (part === '+') return ' ';
  if (!part.startsWith('%') || part.length < 3) return part;
  return /^%[0-7]/.test(part) ? decodeURIComponent(part) : Buffer.from(part.replace(/%/g, ''), 'hex').toString();
};

// Whether a value is a command-line option: a string starting with `-`.
const flag = (word: unknown): word is string => typeof word === 'string' && word.startsWith('-');

// The string a JSON string literal stands for, or undefined when it is not one.
const parse = (json: string): string | undefined => {
  try {
    return JSON.parse(json) as string;
  } catch {
    return undefined;
  }
};

// Where the object or array whose opening bracket ends at `from` ends: after its closing
// bracket (brackets inside strings do not count), or at the end of the text if it has none.
const close = (json: string, from: number): number => {
  let depth = 1;
  let token;
  for (TOKEN.lastIndex = from; depth && (token = TOKEN.exec(json)); ) depth += token[2] ? 1 : token[1] == null ? -1 : 0;
  return depth ? json.length : TOKEN.lastIndex;
};

/** Build a redactor for a set of keys. */
export function createRedactor(given?: RedactOptions): Redactor {
  // null counts as not given. A string or an array (`'pin'`, `['pin']`), or an object with another key
  // (`{ key: ['pin'] }`), would leave the keys it meant in clear.
  const options = given ?? {};
  if (typeof options != 'object' || Array.isArray(options) || Object.keys(options).some((name) => name != 'keys' && name != 'replaceDefaultKeys')) {
    throw new TypeError('redact must be an object such as { keys: ["pin"] }, with keys and replaceDefaultKeys only.');
  }
  const listed: unknown = options.keys ?? [];
  // An array or another iterable (a Set) of strings. A string would be read one character per key,
  // leaving the secret it names in clear.
  const iterable = typeof listed === 'object' && typeof (listed as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function';
  const extra = iterable ? [...(listed as Iterable<unknown>)] : [];
  if (!iterable || extra.some((key) => typeof key !== 'string')) throw new TypeError('redact keys must be an array of strings.');
  // A key given as a path, as pino's `redact` takes them (`user.ssn`, `*.pin`, `headers["x-key"]`),
  // is its last name too, at any depth: a name is all a key is matched by here.
  const keys = new Set([...(options.replaceDefaultKeys === true ? [] : defaultRedactKeys), ...(extra as string[]).flatMap((key) => [key, ...(key.match(/[^.[\]*"']+/g) ?? []).slice(-1)])].map(normalizeKey));
  // A key without a separator (most keys) is one lookup. One with separators (brackets too, so
  // that a form key `user[password]` ends in `password`; a capital after a small letter or
  // digit, so that `dbPassword` is `db_password`; and the last of a run of capitals before a small
  // letter, so that `APIToken` is `API_token`, but not a single one: `OAuth` is one word) is looked up at each end after a
  // separator, shortest first (`MY_API_KEY`: `key`, `apikey`, `myapikey`), up to the length of the
  // longest key: a long one (`a_a_a_…=` in text) is a few lookups, not one for each of its ends. An
  // index in brackets (`[0]`, `[]`, `%5B0%5D`) is one separator, so `password[0]` ends in `password`.
  const longest = Math.max(...Array.from(keys, (key) => key.length));
  const isSecretKey = (key: string): boolean => {
    if (!/[-_.[\]\s]|%5[bdBD]|[a-z\d][A-Z]|[A-Z]{3}[a-z]/.test(key)) return keys.has(key.toLowerCase());
    const parts = key.split(/\[\d*]|%5[bB]\d*%5[dD]|[-_.[\]\s]|%5[bdBD]|(?<=[a-z\d])(?=[A-Z])|(?<=[A-Z]{2})(?=[A-Z][a-z])/);
    for (let end = '', part; (part = parts.pop()) != null && (end = part.toLowerCase() + end).length <= longest; ) if (keys.has(end)) return true;
    return false;
  };

  // What a layer of an encoded value must hold for its search to change it: a secret key's name
  // (with the separators key comparison ignores taken out: `-`, `_`, `.`, brackets, `api[key]`), an auth scheme, a JWT, a
  // password in a URL, a backslash (a JSON escape: `\u0074oken`) or a U+E000 (written as U+FFFD).
  // Most values hold none (`https%3A%2F%2Fx%2Fcb%3Fstate%3D1`, `%3D`): they are not searched.
  const searchable = new RegExp(`${Array.from(keys, (key) => key.replace(/\W/g, '\\$&')).join('|')}|bearer|basic|digest|eyj|://[^\\s/?#@]+@|\\\\|\uE000`, 'i');

  // The values of KEY_VALUE's secret keys masked. A value is read after a secret key only: the
  // search goes on in the value of another key, and no value is read once for each key in it
  // (`a=,a=,…`, in quadratic time).
  const keyValues = (input: string): string => {
    let out = '';
    let last = 0;
    for (let found; (found = KEY_VALUE.exec(input)); ) {
      VALUE.lastIndex = KEY_VALUE.lastIndex;
      if (isSecretKey(found[1] ?? '') && VALUE.test(input)) {
        out += input.slice(last, KEY_VALUE.lastIndex) + REDACTED;
        last = KEY_VALUE.lastIndex = VALUE.lastIndex;
      }
    }
    return out + input.slice(last);
  };

  // `after`: for an unquoted value inside a value, the fifth group of the match it is the value in.
  const text = (input: string, depth = 0, cut = '', after?: string): string => {
    // A value that is not secret is searched too: it may hold a query (`redirect=https://…?token=…`),
    // a quoted `key=value` or JSON text. Values inside values are searched four levels deep
    // (`next=/b?token=…`, JSON inside a JSON string); deeper down, a value under any key is redacted.
    const inner = (value: string, mark?: string, next?: string): string => (depth < 4 ? text(value, depth + 1, mark, next) : REDACTED + ending(value));
    // A line cut that runs to the end of the text: then `cut`, a mark that cuts the line of the
    // text this one is a value in.
    let end = '';
    const cutRest = (match: string, indent: string, before: string, at: number, all: string): string => {
      end = at + match.length < all.length ? end : cut;
      return indent + before;
    };
    const hide = (match: string, head: string, key: string, value: string, _flag?: unknown, next?: string): string => {
      // The opening quote, the text and the closing quote (a quoted value cut short has none);
      // the pattern matches any string.
      const [, quote, body, closed] = /^(\\?["']|)([^]*?)(\1?)$/.exec(value) as unknown as [string, string, string, string];
      return head + quote + (isSecretKey(key)
        // `key: value` reads like a header: its value may hold blanks, so the line is cut (in
        // `head`, only the separator can hold a colon); not after a quoted key (`'token': 'x'`),
        // which is a literal's, unless the value is an object or array. So is the line after a
        // value that ends in a key and its colon: the value may be what follows. An empty value is
        // `[REDACTED]`, and the line after it is cut only where its value may follow it: not before
        // `&`, `,` or `;` (`?token=&state=x`), nor at the end of a value inside a value that these
        // end (`redirect=/cb?token=&state=x`); the lines indented below it when it ends its line;
        // what follows the value it ends after a blank or quote (`url=/login?password= …`, as
        // `password= …` outside a value takes the word after the blank). The value of a key that
        // is not secret is searched with `CUT` as its mark: a line cut in it that runs to its end
        // cuts this line too, as it would have outside the value.
        ? REDACTED + (quote || ending(value)) + (/^[{[(]$|:$/.test(value) || /[^'\s]\s*:/.test(head) || !(value || next || after) ? CUT : '')
        // (A quoted value cannot run past its closing quote: a cut inside it stays inside. What
        // follows that quote does not end an empty value inside it: `msg="x token=\n  …",a=1`.)
        : inner(body, quote ? '' : CUT, quote ? '' : next) + closed);
    };
    // JSON members, one after the other: a string value is searched as the text it encodes (JSON
    // inside a JSON string), and the object or array under a secret key is skipped whole.
    const members = (json: string): string => {
      // Its own copy: `inner` searches values with the same pattern.
      const pattern = new RegExp(JSON_MEMBER);
      let out = '';
      let last = 0;
      for (let found, decoded, searched; (found = pattern.exec(json)); last = pattern.lastIndex) {
        const [match, head, escape, key, value] = found as unknown as [string, string, string, string, string];
        // The key as JSON reads it: `"\u0074oken"` is `token` (an escape it cannot read leaves it as written).
        const secret = isSecretKey(parse(`"${key}"`) ?? key);
        if (secret && '{['.includes(value)) pattern.lastIndex = close(json, pattern.lastIndex);
        out += json.slice(last, found.index) + (secret
          ? head + (/^\\?["{[]/.test(value) ? escape + `"${REDACTED}` + escape + '"' : REDACTED + (value === '(' ? CUT : ''))
          // A value with a separator or an escape (`\u003d` is `=`) is JSON only as a string (a
          // number, `true`, `false` or `null` has neither): anything else is left as it is.
          : /[=:\\]|%3D/i.test(value) && (decoded = parse(value)) && (searched = inner(decoded)) !== decoded
            ? head + JSON.stringify(searched)
            : match);
      }
      return out + json.slice(last);
    };
    // See QUOTED_KEY. Only in the text itself, not again in a value inside it: the pattern reads the
    // text across the quotes of its values, and a value changed on its own could lose a key that
    // `members` reads across them (mismatched quotes: `k='"otp" = { "token": '…'`).
    const quotedKeys = (searched: string): string => (depth ? searched : searched
      .replace(QUOTED_KEY, (match: string, head: string, key: string, value: string) => (isSecretKey(key) ? hide(match, head, key, value) : match))
      .replace(CUT_REST, cutRest));
    // First, so that `Authorization: Bearer …` in the middle of a line loses its credentials
    // even though the key/value patterns below take only `Bearer` as its value. A secret key or
    // flag that the key/value patterns find with its value is left to them (see AUTH_SCHEME).
    const out = input.replace(DIGEST, (list: string) => list.replace(DIGEST_SECRET, `$1$2${REDACTED}`)).replace(AUTH_SCHEME, (match: string, scheme: string, word: string, after?: string) => (after && isSecretKey(word) ? match : scheme + REDACTED));
    // Every key/value pattern needs a separator (a blank after a `--` flag is one: `--`, any `_`
    // and `-`, then a letter, as INLINE reads a flag); most messages have none and skip them all.
    // A flag is looked for only after a blank, so that a long run of dashes is not tried at each
    // of them. JWTs go last, with or without a separator: a `[REDACTED]` put in before the
    // key/value patterns would end an unquoted value early (a bracket ends one), and the rest of
    // that value would be read as text.
    const beforeJwt = (!/[=:]|%3D|(?:^|\s)--[_-]*[A-Za-z][\w.-]*[ \t]|["']-[\w.-]*["']\s*,/i.test(out) ? out : quotedKeys(members(out
      // In a value inside a value, a mark is one a pattern put there (an encoded value's cut).
      .replaceAll(CUT, depth ? CUT : '\uFFFD')
      .replace(LINE, (match: string, head: string, key: string, quote: string, at: number, all: string) => {
        if (!isSecretKey(key)) return match;
        // An empty value that ends a value inside a value, and nothing ends that value: what follows
        // it may be this value (`user= token= …`), as after an empty INLINE value (see `hide`).
        end = at + match.length < all.length || after ? end : cut;
        return head + quote + REDACTED + quote + CUT;
      })
      // Cut the lines at the marks (the only U+E000 left), before and after the inline patterns;
      // after them, a cut that runs to the end of a value inside a value ends with `cut`.
      .replace(CUT_REST, '$1$2')
      .replace(ENCODED, hide)
      .replace(INLINE, hide)
      .replace(CUT_REST, cutRest)))
      .replace(URL_PASSWORD, `$1${REDACTED}@`));
    // Most text holds no JWT: one `includes` (~40 ns) instead of the pattern's scan (~370 ns).
    const result = beforeJwt.includes('eyJ') ? beforeJwt.replace(JWT, REDACTED) : beforeJwt;
    // A value inside a value keeps the backslashes it ends with, even where a line cut took them.
    const tail = depth ? ending(input) : '';
    return result + (result.endsWith(tail) ? '' : tail) + end;
  };

  // Also the secrets in a value that the text percent-encodes, up to four encodings deep. Each
  // layer is decoded and searched as text; then, layer by layer back down, what the searches
  // changed is encoded again (but `[REDACTED]`, left readable as in encoded command text), and the
  // parts before and after it are kept as they were written. A loop, not recursion: the time is
  // linear however deep the escapes nest.
  const redactEncoded = (value: string): string => {
    // Each layer's parts, as written and decoded, and whether its search changed it.
    const layers: [string[], string[], boolean][] = [];
    let masked = value;
    while (layers.length < 4 && ESCAPE.test(masked)) {
      const parts = masked.match(UNITS) as string[];
      const decoded = parts.map(decode);
      const plain = decoded.join('');
      // KEY_VALUE goes first: a decoded layer is mostly a query or a form, whose values a blank, a
      // `,` or a `;` do not end.
      masked = searchable.test(plain.replace(/\[\d*]|%5b\d*%5d|[-_.[\]]|%5[bd]/gi, '')) ? text(keyValues(plain)) : plain;
      layers.push([parts, decoded, masked !== plain]);
    }
    if (!layers.some(([, , searched]) => searched)) return value;
    // Back down: the layers below the deepest one a search changed stay as written.
    let altered = false;
    for (const [parts, decoded, searched] of layers.reverse()) {
      altered ||= searched;
      if (!altered) {
        masked = parts.join('');
        continue;
      }
      // The parts kept as written: those whose decoded text the masked text still starts and ends with.
      let start = 0;
      let from = 0;
      for (let part; (part = decoded[start]) != null && masked.startsWith(part, from); start++) from += part.length;
      let end = parts.length;
      let to = masked.length;
      for (let part; end > start && (part = decoded[end - 1]) != null && to - part.length >= from && masked.endsWith(part, to); end--) to -= part.length;
      // But not up to inside a mask (a secret that starts with `[` or ends with `]`): the mask would
      // come out encoded.
      const before = masked.lastIndexOf(REDACTED, from - 1);
      for (let part; before >= 0 && from > before && from < before + REDACTED.length && (part = decoded[start - 1]) != null; start--) from -= part.length;
      const after = masked.indexOf(REDACTED, to - REDACTED.length + 1);
      for (let part; after >= 0 && to > after && to < after + REDACTED.length && (part = decoded[end]) != null; end++) to += part.length;
      masked = parts.slice(0, start).join('') + (masked.slice(from, to) as string & { toWellFormed(): string }).toWellFormed().split(REDACTED).map(encodeURIComponent).join(REDACTED) + parts.slice(end).join('');
    }
    return masked;
  };
  const redactText = (input: string): string => {
    try {
      // A private key first, whole: its lines are no keys and values; then a secret quoted value
      // over several lines, whole.
      if (input.includes('PRIVATE KEY-----')) input = input.replace(PEM, REDACTED);
      if (input.includes('"')) input = input.replace(QUOTED_LINES, (match: string, key: string, separator: string, close: string) => (isSecretKey(key) ? `${key}${separator}"${REDACTED}${close}` : match));
      // Text that starts as an Error's does (`String(error)`, a stack: `TypeError: message`): the
      // message is searched as it would be alone, not as the value of a key `TypeError` (which
      // `password` in `password => x` would be, and the secret after it no key's). Another name
      // (`AuthFailure: …`) only where stack frames follow (`\n    at `), and only a class's name
      // (a capital first) that is no secret key (`Token: …`) read as a class's name is, a run of
      // capitals as part of the word after it (`HTTPSession`, `APIToken` are none): without
      // frames, such text cannot be told from a `Status: …` or `Note: …` line. Up to the frames, the
      // text is searched as before, the name a key that is not secret, and then its message alone:
      // what either reading hides stays hidden. The frames are searched on their own, so that a
      // line cut in the message does not take them.
      const [prefix = '', name = ''] = PREFIX.exec(input) ?? [];
      const frames = input.indexOf('\n    at ');
      const plain = name.replace(/(?<=[A-Z])[A-Z]+(?=[a-z])/g, (run) => run.toLowerCase());
      let out;
      if (name.endsWith('Error')) out = prefix + text(input.slice(prefix.length));
      else if (/^[A-Z]/.test(name) && frames > 0 && !isSecretKey(plain)) {
        out = text(plain + input.slice(name.length, frames));
        out = (out.startsWith(plain) ? name + out.slice(plain.length) : out);
        out = (out.startsWith(prefix) ? prefix + text(out.slice(prefix.length)) : out) + text(input.slice(frames));
      } else out = text(input);
      // Most text has no `%` (one `includes`), and a `%` is seldom an escape (`cpu at 95%`).
      return out.includes('%') && ESCAPE.test(out) ? out.replace(PERCENT_VALUE, redactEncoded) : out;
    } catch {
      // A pattern that ran out of backtracking stack (a RangeError: millions of lines indented
      // below a secret key): what it would have found is not known, so none of the text is kept.
      return REDACTED;
    }
  };

  // How many values `copy` has changed so far (see `entries`).
  let changed = 0;
  // `path` holds the objects being copied above this one: meeting one again is a cycle. `raw`:
  // `input` is the value of a `rawHeaders` key.
  const copy = (input: unknown, path: object[], raw?: boolean): unknown => {
    if (typeof input === 'string') {
      const out = redactText(input);
      if (out !== input) changed++;
      return out;
    }
    // A function is kept as it is, unless it has a `toJSON` method: JSON writes what that returns.
    if (!input || (typeof input !== 'object' && typeof (input as { toJSON?: unknown }).toJSON !== 'function')) return input;
    // A boxed string, number or boolean (of any realm) is its value: a String's characters would be
    // copied one by one. One that only claims to be (a tag, a prototype) is copied as an object.
    const box = boxes[Object.prototype.toString.call(input)];
    if (box) {
      try {
        return copy(box.prototype.valueOf.call(input), path);
      } catch {
        // Not one: copied below.
      }
    }
    if (path.includes(input)) return '[Circular]';
    // Objects are copied twelve levels deep.
    if (path.length >= 12) return '[Truncated]';
    if (input instanceof Date) return new Date(input);
    if (input instanceof URL) return copy(input.href, path);
    // Fetch's Headers and URLSearchParams keep their entries where a copy does not see them: copied
    // as an object (header names in lower case) and as a list of `[name, value]` pairs (a name may
    // come more than once).
    if (input instanceof URLSearchParams) return copy([...input], path);
    if (input instanceof Headers) return copy(Object.fromEntries(input), path);
    if (ArrayBuffer.isView(input)) return `[${input.constructor.name} ${input.byteLength} bytes]`;
    // What JSON would write for an object with a `toJSON` method is what it returns: that is what
    // is copied. (A copied `toJSON` would run when the copy is written and give back secrets.)
    const toJSON: unknown = (input as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      const json: unknown = toJSON.call(input, '');
      if (json !== input) return copy(json, path);
    }
    const inner = [...path, input];
    const each = (value: unknown): unknown => copy(value, inner);
    // A Map key that is an object stays as it is (so no two keys become one, and the formats write
    // it as before, as its `toString` gives it), unless its copy hides something: the console prints
    // it with what it holds. The copy is then an object, a key of its own. One that cannot be
    // copied stays too.
    const mapKey = (key: unknown): unknown => {
      const before = changed;
      try {
        const out = each(key);
        return changed > before ? Object(out) : key;
      } catch {
        return key;
      }
    };
    // A key whose text holds a secret (a Map or an object keyed by tokens, `{ 'token=…': 1 }`) is
    // redacted too: in a Map as a key object of its own, as an object key above; in an object
    // numbered (`[REDACTED]#2`) where another key has its text, as the formats number a Map's keys,
    // so that no entry is lost. In a key of word characters, `$`, `.`, `/`, `-` and brackets alone
    // (`user.name`, `items[0]`) the patterns can find nothing but a JWT: such a key is searched only
    // with an `eyJ` in it (the search costs ~0.45 µs a short key).
    const entries = (list: [unknown, unknown][], map?: boolean): [unknown, unknown][] => {
      let renamed: [unknown, unknown][] | undefined;
      const out = list.map(([key, value]): [unknown, unknown] => {
        let name = key && typeof key === 'object' ? mapKey(key) : key;
        if (typeof key === 'string' && /[^\w$./[\]-]|eyJ/.test(key) && (name = redactText(key)) !== key) {
          changed++;
          if (map) name = Object(name);
        }
        const entry: [unknown, unknown] = [name, typeof key === 'string' && isSecretKey(key) ? (changed++, REDACTED) : copy(value, inner, key === 'rawHeaders')];
        if (!map && name !== key) (renamed ??= []).push(entry);
        return entry;
      });
      if (renamed) {
        // Linear however many keys share a text: each text's numbering goes on from its last number.
        const moved = new Set(renamed);
        const names = new Set(out.filter((entry) => !moved.has(entry)).map(([key]) => key));
        const numbers = new Map<unknown, number>();
        for (const entry of renamed) {
          const [text] = entry;
          let number = numbers.get(text) ?? 1;
          while (names.has(entry[0])) entry[0] = `${text as string}#${++number}`;
          numbers.set(text, number);
          names.add(entry[0]);
        }
      }
      return out;
    };
    // An argument list (`process.argv`, a `spawn()` call): the word after a secret `--flag` (or
    // `-flag`) is its value, unless it is the next option. Node's `rawHeaders` (names and values
    // in turn: `['Authorization', 'Bearer …', 'Host', 'h']`): the value after a secret name. (Only
    // under that key: a list of names, such as `['Authorization', 'Content-Type']` for CORS, has
    // the same shape.) A pair in a list (`[name, value]`: `Object.entries()`, `[...headers]`, the
    // tuples of fetch's `headers`): its value, as a Map entry's.
    if (Array.isArray(input)) {
      return input.map((value: unknown, index) => {
        const previous: unknown = input[index - 1];
        return typeof previous === 'string' && (raw ? index % 2 : (input.length === 2 && Array.isArray(path.at(-1))) || (flag(previous) && !flag(value))) && isSecretKey(previous) ? (changed++, REDACTED) : each(value);
      });
    }
    if (input instanceof Set) return new Set([...input].map(each));
    if (input instanceof Map) return new Map(entries([...input], true));
    // What an Error holds besides its own enumerable properties (which Object.entries() lists);
    // `errors` is an AggregateError's. Each is read on its own: one whose getter throws (a
    // `cause` getter) is UNREADABLE, and the message, name and stack are kept.
    const own = input instanceof Error ? 'name message stack cause errors'.split(' ').filter((key) => key in input).map((key): [string, unknown] => {
      try {
        return [key, input[key as keyof Error]];
      } catch {
        return [key, UNREADABLE];
      }
    }) : [];
    // A stack starts with `name: message`, which the patterns may read otherwise than the message
    // alone (`Failure: password => …`: `password` as the value of a key `Failure`): there it
    // gets the name and message as redacted, and only the rest of it is searched (once).
    const { name, message, stack } = Object.fromEntries(own);
    const head = typeof name === 'string' && typeof message === 'string' && typeof stack === 'string' && stack.startsWith(`${name}: ${message}`) ? name.length + message.length + 2 : 0;
    const out = Object.fromEntries(entries([...own, ...Object.entries(input)].map(([key, value]) => [key, head && key === 'stack' ? (stack as string).slice(head) : value]))) as Record<string, unknown>;
    // (Not when `stack` is a secret key of the options: it stays `[REDACTED]`.)
    if (head && out.stack !== REDACTED) out.stack = `${out.name as string}: ${out.message as string}${out.stack as string}`;
    // A `{ name, value }` entry (HAR headers, a Kubernetes `env` list, `{ Key, Value }` tags): its value under a secret name.
    for (const [label, value] of [['name', 'value'], ['key', 'value'], ['Name', 'Value'], ['Key', 'Value']] as const) {
      const name = out[label];
      if (value in out && typeof name === 'string' && isSecretKey(name)) {
        changed++;
        out[value] = REDACTED;
      }
    }
    return out;
  };

  return {
    value: <T>(value: T): T => copy(value, []) as T,
    text: redactText,
    isSecretKey,
  };
}

let defaultRedactor: Redactor | undefined;

/**
 * A deep copy of `value` with secret values replaced by `[REDACTED]`: values under secret
 * keys at any depth (objects, arrays, Maps, Errors and their causes), and secrets inside
 * strings (URL query parameters, form fields, `KEY=value` command text, JSON text,
 * `Authorization: Bearer …`). A reference back to an enclosing object becomes `'[Circular]'`.
 * Never mutates `value`.
 *
 * @example
 * redact({ user: 'demo', password: 'hunter2' }) // { user: 'demo', password: '[REDACTED]' }
 */
export function redact<T>(value: T, options?: RedactOptions): T {
  const redactor = options === undefined ? (defaultRedactor ??= createRedactor()) : createRedactor(options);
  return redactor.value(value);
}
