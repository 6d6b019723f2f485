// The X.509 certificates dev-https issues, encoded in DER by hand (RFC 5280) and signed with
// node:crypto: a certificate library would stay in memory for the life of the process (the README's
// "Certificate" section has the measurement).
import { createHash, createPrivateKey, sign, type KeyObject, X509Certificate } from 'node:crypto';
import net from 'node:net';
import { canonicalIp } from '../net.js';

export interface CertificateSpec {
  /** Subject attributes in order, e.g. [['CN', 'localhost'], ['O', 'dev-https']]. */
  subject: [NameAttribute, string][];
  serialNumber: Buffer;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  /**
   * A CA certificate (keyCertSign; `pathLength` CAs may follow it, 0 by default; `permitted`, the
   * names it and the CAs below it may sign for, as a critical Name Constraints extension), or a TLS
   * server leaf for `names`.
   */
  profile: { ca: true; pathLength?: number; permitted?: string[] } | { ca: false; names: string[] };
  /** The signing CA (PEM certificate and key); without one the certificate signs itself. */
  issuer?: { cert: string; key: string };
  /** The key that signs a self-signed certificate. */
  selfSigningKey?: KeyObject;
}

type NameAttribute = 'CN' | 'O';

const OID = {
  CN: '2.5.4.3',
  O: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  nameConstraints: '2.5.29.30',
};

/** The PEM certificate for `spec`, signed with SHA-256 by an EC (ECDSA) or RSA (PKCS #1) key. */
export function encodeCertificate(spec: CertificateSpec): string {
  const issuer = spec.issuer ? new X509Certificate(spec.issuer.cert) : null;
  const signingKey = spec.issuer ? createPrivateKey(spec.issuer.key) : spec.selfSigningKey;
  if (!signingKey) throw new Error('a self-signed certificate needs selfSigningKey');
  const signatureAlgorithm = signatureAlgorithmOf(signingKey);
  const subjectName = name(spec.subject);
  const extensions = [...profileExtensions(spec.profile), extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spec.publicKey)))];
  // The issuer's own Subject Key Identifier, or one computed like ours (RFC 5280 4.2.1.2, method 1).
  if (issuer) extensions.push(extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, subjectKeyIdentifierOf(issuer) ?? keyIdentifier(issuer.publicKey)))));
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(spec.serialNumber),
    signatureAlgorithm,
    issuer ? subjectOf(issuer) : subjectName,
    sequence(time(spec.notBefore), time(spec.notAfter)),
    subjectName,
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, { key: signingKey, dsaEncoding: 'der' });
  const der = sequence(tbs, signatureAlgorithm, bitString(signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}

/** ecdsa-with-SHA256, or sha256WithRSAEncryption (mkcert's CAs are RSA). */
function signatureAlgorithmOf(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'ec') return sequence(oid(OID.ecdsaWithSha256));
  if (key.asymmetricKeyType === 'rsa') return sequence(oid(OID.sha256WithRsa), tlv(0x05, Buffer.alloc(0)));
  throw new Error(`a ${key.asymmetricKeyType ?? 'secret'} key cannot sign certificates here (EC or RSA only)`);
}

function profileExtensions(profile: CertificateSpec['profile']): Buffer[] {
  if (profile.ca) {
    return [
      extension(OID.basicConstraints, true, sequence(boolean(true), integer(Buffer.from([profile.pathLength ?? 0])))),
      // keyCertSign (bit 5) and cRLSign (bit 6); the last bit is 6, so one unused bit.
      extension(OID.keyUsage, true, tlv(0x03, Buffer.from([1, 0x06]))),
      ...(profile.permitted ? [extension(OID.nameConstraints, true, nameConstraints(profile.permitted))] : []),
    ];
  }
  return [
    extension(OID.basicConstraints, true, sequence()),
    // digitalSignature (bit 0): seven unused bits.
    extension(OID.keyUsage, true, tlv(0x03, Buffer.from([7, 0x80]))),
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
    extension(OID.subjectAltName, false, sequence(...profile.names.map(generalName))),
  ];
}

/** A dNSName, or an iPAddress of 4 or 16 bytes. */
function generalName(value: string): Buffer {
  if (net.isIPv4(value)) return tlv(0x87, Buffer.from(value.split('.').map(Number)));
  if (net.isIPv6(value)) return tlv(0x87, ipv6Bytes(value));
  return tlv(0x82, Buffer.from(value, 'ascii'));
}

/**
 * NameConstraints (RFC 5280 4.2.1.10) with only permittedSubtrees: a dNSName for each DNS suffix
 * (`test` permits test and every name under it) and an iPAddress (address then mask) for each CIDR range.
 */
export function nameConstraints(permitted: string[]): Buffer {
  const subtrees = permitted.map((entry) => {
    const cidr = parseCidr(entry);
    if (!cidr) return sequence(tlv(0x82, Buffer.from(entry, 'ascii')));
    return sequence(tlv(0x87, Buffer.concat([cidr.address, cidr.mask])));
  });
  return sequence(tlv(0xa0, Buffer.concat(subtrees)));
}

/** A CIDR range (`10.0.0.0/8`, `fc00::/7`) as address and mask bytes; null when `text` is not one. */
export function parseCidr(text: string): { address: Buffer; mask: Buffer } | null {
  const match = /^(.+)\/(\d{1,3})$/.exec(text);
  if (!match || !net.isIP(match[1]!)) return null;
  const address = net.isIPv4(match[1]!) ? Buffer.from(match[1]!.split('.').map(Number)) : ipv6Bytes(match[1]!);
  const bits = Number(match[2]);
  if (bits > address.length * 8) return null;
  const mask = Buffer.alloc(address.length);
  for (let i = 0; i < bits; i++) mask[i >> 3]! |= 0x80 >> (i & 7);
  return { address: Buffer.from(address.map((b, i) => b & mask[i]!)), mask };
}

/** The bytes of an IPv4 or IPv6 address. */
export function ipBytes(address: string): Buffer {
  return net.isIPv4(address) ? Buffer.from(address.split('.').map(Number)) : ipv6Bytes(address);
}

/**
 * The permitted subtrees of a certificate's Name Constraints extension, as `nameConstraints` takes
 * them (DNS suffixes and CIDR ranges; other name forms as `<tag N>`); null when it has none.
 */
export function permittedNamesOf(certificate: X509Certificate): string[] | null {
  const der = extensionValue(certificate, OID.nameConstraints);
  if (!der) return null;
  const permitted = children(der, 0).find((at) => der[at] === 0xa0);
  if (permitted === undefined) return [];
  return children(der, permitted).map((subtree) => {
    const base = children(der, subtree)[0]!;
    const [tag, start, end] = readHeader(der, base);
    const value = der.subarray(start, end);
    if (tag === 0x82) return value.toString('ascii');
    if (tag === 0x87 && (value.length === 8 || value.length === 32)) return cidrText(value.subarray(0, value.length / 2), value.subarray(value.length / 2));
    return `<tag ${tag}>`;
  });
}

function cidrText(address: Buffer, mask: Buffer): string {
  let bits = 0;
  for (const byte of mask) for (let b = 7; b >= 0; b--) if (byte & (1 << b)) bits++;
  if (address.length === 4) return `${[...address].join('.')}/${bits}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(address.readUInt16BE(i).toString(16));
  return `${canonicalIp(groups.join(':'))}/${bits}`;
}

function ipv6Bytes(address: string): Buffer {
  let text = address;
  // An embedded IPv4 tail (::ffff:127.0.0.1) becomes two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1). */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const [, bits] = children(spki, 0) as [number, number];
  const [, start, end] = readHeader(spki, bits);
  // Skip the BIT STRING's unused-bits byte.
  return createHash('sha1').update(spki.subarray(start + 1, end)).digest();
}

/**
 * The TBSCertificate's fields after the optional version: serialNumber, signature, issuer,
 * validity, subject, subjectPublicKeyInfo, then the optional unique identifiers and extensions.
 */
function tbsFields(der: Buffer): number[] {
  const fields = children(der, children(der, 0)[0]!);
  return der[fields[0]!] === 0xa0 ? fields.slice(1) : fields;
}

/** The issuer's subject Name, byte for byte as it is in its certificate. */
function subjectOf(certificate: X509Certificate): Buffer {
  const der = certificate.raw;
  const subject = tbsFields(der)[4]!;
  return der.subarray(subject, readHeader(der, subject)[2]);
}

/** The key identifier in a certificate's Subject Key Identifier extension, if it has one. */
function subjectKeyIdentifierOf(certificate: X509Certificate): Buffer | null {
  const value = extensionValue(certificate, OID.subjectKeyIdentifier);
  if (!value) return null;
  // The extnValue holds the identifier's OCTET STRING.
  const [, start, end] = readHeader(value, 0);
  return value.subarray(start, end);
}

/** The DER inside the extnValue of the extension `id`, if the certificate has it. */
function extensionValue(certificate: X509Certificate, id: string): Buffer | null {
  const der = certificate.raw;
  const tagged = tbsFields(der).find((field) => der[field] === 0xa3);
  if (tagged === undefined) return null;
  const wanted = oid(id);
  for (const extension of children(der, children(der, tagged)[0]!)) {
    const parts = children(der, extension);
    if (!der.subarray(parts[0], readHeader(der, parts[0]!)[2]).equals(wanted)) continue;
    // extnValue (after an optional critical flag): an OCTET STRING.
    const [, start, end] = readHeader(der, parts[parts.length - 1]!);
    return der.subarray(start, end);
  }
  return null;
}

/** Offsets of the elements inside the constructed element at `offset`. */
function children(der: Buffer, offset: number): number[] {
  const [, start, end] = readHeader(der, offset);
  const offsets: number[] = [];
  for (let at = start; at < end; at = readHeader(der, at)[2]) offsets.push(at);
  return offsets;
}

/** [tag, start of contents, end of element] of the element at `offset`. */
function readHeader(der: Buffer, offset: number): [number, number, number] {
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[start + i]!;
    start += octets;
  }
  return [tag, start, start + length];
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

function name(attributes: [NameAttribute, string][]): Buffer {
  return sequence(...attributes.map(([type, value]) => tlv(0x31, sequence(oid(OID[type]), tlv(0x0c, Buffer.from(value, 'utf8'))))));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5), to the second. */
function time(date: Date): Buffer {
  const iso = date.toISOString();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

function oid(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [40 * first + second];
  for (const arc of rest) {
    const chunk = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** A non-negative INTEGER from big-endian bytes: minimal, with a leading zero if the top bit is set. */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && bytes[start + 1]! < 0x80) start++;
  const value = bytes.subarray(start);
  return tlv(0x02, value[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value);
}

const boolean = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0]));
const octetString = (value: Buffer) => tlv(0x04, value);
const bitString = (value: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), value]));
const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));

function tlv(tag: number, contents: Buffer): Buffer {
  const n = contents.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), contents]);
}
