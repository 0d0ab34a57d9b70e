import { generate } from 'selfsigned';

/** A certificate and its private key, in PEM. */
export interface TlsMaterial {
  key: string;
  cert: string;
}

/**
 * A fresh self-signed certificate for `localhost`, `127.0.0.1` and `::1`, valid one day.
 * Clients trust it explicitly by passing `sandbox.certificate` as their CA.
 */
export async function createSelfSignedCertificate(): Promise<TlsMaterial> {
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { key: pems.private, cert: pems.cert };
}
