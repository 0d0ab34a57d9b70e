import { describe, expect, it } from 'vitest';
import { isCertificateError } from '@sessionkit/core-session';

describe('isCertificateError', () => {
  it('names the certificate and TLS failure codes of Node and OpenSSL, and nothing else', () => {
    for (const code of ['ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_WRONG_VERSION_NUMBER', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']) {
      expect(isCertificateError(code)).toBe(true);
    }
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_INVALID_ARG', 'ERR_INVALID_ARG_TYPE', 'X_CERT_HAS_EXPIRED', '', undefined, null, 42]) {
      expect(isCertificateError(code)).toBe(false);
    }
  });
});
