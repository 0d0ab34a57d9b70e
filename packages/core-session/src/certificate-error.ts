/**
 * Whether `code` (an error's `code`, such as Node's `ERR_TLS_CERT_ALTNAME_INVALID` or OpenSSL's
 * `CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`) names a
 * certificate or TLS failure: the same answer comes at every attempt, so retrying cannot help.
 * Shared by the sessionkit clients; anything that is not such a string is false.
 */
export function isCertificateError(code: unknown): boolean {
  return typeof code === 'string' && /^(ERR_(TLS|SSL)_|CERT_|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT|UNABLE_TO_)/.test(code);
}
