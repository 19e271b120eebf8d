import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { GatewayError } from '../../../core/errors/gatewayError.js'

/** How a configured private key is encoded: `auto` tries PKCS#8, then PKCS#1. */
export type PrivateKeyFormat = 'auto' | 'pkcs1' | 'pkcs8'

const LABELED = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/

/** Re-wrap a PEM body into 64-character lines (Alipay's consoles hand out one-line bodies). */
function normalizePem(label: string, body: string): string {
  const b64 = body.replace(/\s+/g, '')
  return `-----BEGIN ${label}-----\n${b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`
}

function bareDer(input: string, what: string): Buffer {
  const b64 = input.replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new GatewayError('GW_CONFIG_INVALID', `${what}: expected PEM or bare base64`)
  return Buffer.from(b64, 'base64')
}

function checkRsa(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'rsa') throw new GatewayError('GW_CONFIG_INVALID', `${what}: expected an RSA key, got ${key.asymmetricKeyType ?? 'unknown'}`)
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < 2048) throw new GatewayError('GW_CONFIG_INVALID', `${what}: RSA keys must have at least 2048 bits (RSA2), got ${bits}`)
  return key
}

/**
 * Load an RSA private key in any form Alipay hands out (digest §1.3): PKCS#1
 * (`-----BEGIN RSA PRIVATE KEY-----`) or PKCS#8 (`-----BEGIN PRIVATE KEY-----`), PEM or bare
 * base64. Error messages never contain key material.
 *
 * @example loadPrivateKey(process.env.ALIPAY_APP_PRIVATE_KEY!) // KeyObject
 */
export function loadPrivateKey(input: string, format: PrivateKeyFormat = 'auto', what = 'private key'): KeyObject {
  try {
    const m = LABELED.exec(input)
    if (m) return checkRsa(createPrivateKey(normalizePem(m[1]!, m[2]!)), what)
    const der = bareDer(input, what)
    const types: Array<'pkcs8' | 'pkcs1'> = format === 'auto' ? ['pkcs8', 'pkcs1'] : [format]
    for (const type of types) {
      try {
        return checkRsa(createPrivateKey({ key: der, format: 'der', type }), what)
      } catch (e) {
        if (e instanceof GatewayError) throw e
      }
    }
    throw new GatewayError('GW_CONFIG_INVALID', `${what}: not a PKCS#1 or PKCS#8 RSA private key`)
  } catch (e) {
    if (e instanceof GatewayError) throw e
    // The OpenSSL message says nothing secret, but keep ours uniform and key-free.
    throw new GatewayError('GW_CONFIG_INVALID', `${what}: cannot be parsed as an RSA private key`)
  }
}

/**
 * Load an RSA public key: SPKI (`-----BEGIN PUBLIC KEY-----`, bare base64 `MIIBIj…`), PKCS#1
 * (`-----BEGIN RSA PUBLIC KEY-----`), or an X.509 certificate PEM (public-key certificate mode).
 */
export function loadPublicKey(input: string, what = 'public key'): KeyObject {
  try {
    const m = LABELED.exec(input)
    if (m) return checkRsa(createPublicKey(normalizePem(m[1]!, m[2]!)), what)
    const der = bareDer(input, what)
    for (const type of ['spki', 'pkcs1'] as const) {
      try {
        return checkRsa(createPublicKey({ key: der, format: 'der', type }), what)
      } catch (e) {
        if (e instanceof GatewayError) throw e
      }
    }
    throw new GatewayError('GW_CONFIG_INVALID', `${what}: not an SPKI or PKCS#1 RSA public key`)
  } catch (e) {
    if (e instanceof GatewayError) throw e
    throw new GatewayError('GW_CONFIG_INVALID', `${what}: cannot be parsed as an RSA public key`)
  }
}

/** Key material for dev mode: the merchant app's pair and the sandbox's ("Alipay's") pair. */
export interface DevAlipayKeys {
  /** Sandbox-style app id (`9021…`). */
  appId: string
  /** Antom `Client-Id` of the same merchant. */
  clientId: string
  /** The app's private key, PKCS#1 PEM (what the rail signs with). */
  appPrivateKeyPem: string
  /** The app's public key, SPKI PEM (what the sandbox verifies with). */
  appPublicKeyPem: string
  /** The sandbox's private key, PKCS#1 PEM (pass to the sandbox as `ALIPAY_SANDBOX_PRIVATE_KEY`). */
  alipayPrivateKeyPem: string
  /** The sandbox's public key, SPKI PEM (the rail's `alipayPublicKey` / `antomPublicKey`). */
  alipayPublicKeyPem: string
}

function pair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(), publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() }
}

/**
 * Fresh RSA-2048 keys for dev mode (the sandbox's app and its "Alipay" key): the gateway signs with
 * `appPrivateKeyPem`, the sandbox verifies with `appPublicKeyPem` and signs with `alipayPrivateKeyPem`.
 *
 * @example
 * const keys = generateDevAlipayKeys()
 * registry.start(alipaySandboxChildSpec({ apps: [{ appId: keys.appId, publicKeyPem: keys.appPublicKeyPem }], alipayPrivateKeyPem: keys.alipayPrivateKeyPem }))
 */
export function generateDevAlipayKeys(appId = '9021000000000001'): DevAlipayKeys {
  const app = pair()
  const alipay = pair()
  return {
    appId,
    clientId: appId,
    appPrivateKeyPem: app.privateKeyPem,
    appPublicKeyPem: app.publicKeyPem,
    alipayPrivateKeyPem: alipay.privateKeyPem,
    alipayPublicKeyPem: alipay.publicKeyPem,
  }
}
