import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'

/**
 * The sandbox's own RSA helpers. Deliberately independent of `adapters/rails/alipay` (the client we
 * test against this sandbox): the two implementations check each other, and the official
 * `alipay-sdk` checks both (Alipay digest §1.4, §1.5, §1.7, §2.4, §5).
 */

/** A PEM key pair: private key as PKCS#1 PEM, public key as SPKI PEM (`MIIBIj…`). */
export interface RsaKeyPairPem {
  privateKeyPem: string
  publicKeyPem: string
}

/** A fresh RSA-2048 key pair (the size Alipay requires). */
export function generateRsaKeyPair(): RsaKeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }
}

const pemBody = (s: string): string => s.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '')

/** A private key from PEM (PKCS#1 or PKCS#8) or bare base64 DER. */
export function privateKeyFrom(input: string): KeyObject {
  if (input.includes('-----BEGIN')) return createPrivateKey(input)
  const der = Buffer.from(pemBody(input), 'base64')
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  } catch {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs1' })
  }
}

/** A public key from PEM (SPKI or PKCS#1) or bare base64 SPKI DER. */
export function publicKeyFrom(input: string): KeyObject {
  if (input.includes('-----BEGIN')) return createPublicKey(input)
  return createPublicKey({ key: Buffer.from(pemBody(input), 'base64'), format: 'der', type: 'spki' })
}

/** SHA256withRSA (RSASSA-PKCS1-v1_5) over the UTF-8 bytes, standard base64. */
export function rsa2Sign(content: string, key: KeyObject): string {
  return sign('sha256', Buffer.from(content, 'utf8'), key).toString('base64')
}

/** Verify a base64 SHA256withRSA signature; malformed input is simply `false`. */
export function rsa2Verify(content: string, signatureB64: string, key: KeyObject): boolean {
  try {
    return verify('sha256', Buffer.from(content, 'utf8'), key, Buffer.from(signatureB64, 'base64'))
  } catch {
    return false
  }
}

/**
 * The v2 sign string (digest §1.4): every parameter except those in `exclude`, empty values
 * dropped (what the real gateway does), sorted by name in code-unit order, `k=v` joined by `&`,
 * raw values (no URL encoding).
 */
export function v2SignContent(params: Readonly<Record<string, string>>, exclude: readonly string[] = ['sign']): string {
  return Object.keys(params)
    .filter((k) => !exclude.includes(k) && params[k] !== undefined && params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&')
}

/** Antom's string to sign (digest §5): `"<METHOD> <path>\n<Client-Id>.<time>.<body>"`. */
export function antomSignContent(method: string, path: string, clientId: string, time: string, body: string): string {
  return `${method} ${path}\n${clientId}.${time}.${body}`
}

/** `algorithm=RSA256,keyVersion=1,signature=<url-encoded base64>` (digest §5). */
export function antomSignatureHeader(signatureB64: string, keyVersion = '1'): string {
  return `algorithm=RSA256,keyVersion=${keyVersion},signature=${encodeURIComponent(signatureB64)}`
}

/** Parse an Antom `Signature` header; `undefined` when malformed. */
export function parseAntomSignatureHeader(header: string | undefined): { algorithm: string; keyVersion: string; signature: string } | undefined {
  if (!header) return undefined
  const out: Record<string, string> = {}
  for (const part of header.split(',')) {
    const i = part.indexOf('=')
    if (i <= 0) return undefined
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim()
  }
  if (!out['algorithm'] || !out['signature']) return undefined
  let signature: string
  try {
    signature = decodeURIComponent(out['signature'].replace(/\+/g, '%20'))
  } catch {
    return undefined
  }
  return { algorithm: out['algorithm'], keyVersion: out['keyVersion'] ?? '1', signature }
}
