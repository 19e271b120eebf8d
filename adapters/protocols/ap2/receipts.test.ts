import { describe, expect, it } from 'vitest'
import { parseAp2Config } from './config.js'
import { b64u } from './jose.js'
import { generateEs256KeyPair } from './issue.js'
import { createReceiptSigner, generateReceiptKey, signCheckoutReceipt, signPaymentReceipt, verifyReceipt } from './receipts.js'
import { createChallengeIds, createNonceService } from './state.js'

describe('receipts', () => {
  const signer = createReceiptSigner({ privateJwk: generateReceiptKey(), issuer: 'https://gw.test' })

  it('a signed Payment Receipt verifies against the published JWK Set and matches the AP2 schema', () => {
    const jwt = signPaymentReceipt(signer, { status: 'Success', reference: 'ref', payment_id: 'pi_1', psp_confirmation_id: 't1', network_confirmation_id: 'alipay:t1' }, { now: 1_800_000_000, referenceJwt: 'rj' })
    const r = verifyReceipt(jwt, signer.jwks())
    expect(r).toMatchObject({ ok: true, header: { alg: 'ES256', typ: 'JWT', kid: signer.kid }, payload: { receipt: 'payment', iss: 'https://gw.test', iat: 1_800_000_000, status: 'Success', reference: 'ref', reference_jwt: 'rj' } })
    const err = signCheckoutReceipt(signer, { status: 'Error', reference: 'ref', error: 'invalid_mandate', error_description: 'no' }, { now: 1 })
    expect(verifyReceipt(err, signer.jwks())).toMatchObject({ ok: true, payload: { receipt: 'checkout', status: 'Error' } })
  })

  it('fails with another key, a tampered payload, or a receipt that breaks the schema', () => {
    const jwt = signPaymentReceipt(signer, { status: 'Error', reference: 'r', payment_id: 'p', error: 'invalid_credential', error_description: 'x' }, { now: 1 })
    const other = createReceiptSigner({ privateJwk: generateReceiptKey(), issuer: 'x' })
    expect(verifyReceipt(jwt, other.jwks())).toMatchObject({ ok: false })
    const [h, p, s] = jwt.split('.') as [string, string, string]
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
    expect(verifyReceipt(`${h}.${b64u(JSON.stringify({ ...payload, status: 'Success' }))}.${s}`, signer.jwks())).toMatchObject({ ok: false })
    const incomplete = signer.sign({ receipt: 'payment', iss: 'x', iat: 1, status: 'Success', reference: 'r', payment_id: 'p' })
    expect(verifyReceipt(incomplete, signer.jwks())).toMatchObject({ ok: false, reason: expect.stringMatching(/psp_confirmation_id/) })
  })

  it('refuses a receipt key whose public half does not match d', () => {
    const a = generateReceiptKey()
    const b = generateReceiptKey()
    expect(() => createReceiptSigner({ privateJwk: { ...a, x: b.x, y: b.y }, issuer: 'x' })).toThrow(/receipt key/)
  })
})

describe('nonces and challenge ids', () => {
  it('issued nonces verify until they expire; forged or foreign ones do not; unique mode takes high-entropy strings', () => {
    const svc = createNonceService({ mode: 'issued', secret: Buffer.alloc(32, 1), ttlSeconds: 60 })
    const { nonce, expiresAt } = svc.issue(1000)
    expect(expiresAt).toBe(1060)
    expect(svc.check(nonce, 1030)).toBeUndefined()
    expect(svc.check(nonce, 1061)).toMatch(/expired/)
    expect(createNonceService({ mode: 'issued', secret: Buffer.alloc(32, 2), ttlSeconds: 60 }).check(nonce, 1030)).toMatch(/not issued/)
    expect(svc.check('b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4', 1030)).toMatch(/not issued/)
    const unique = createNonceService({ mode: 'unique', secret: Buffer.alloc(32), ttlSeconds: 60 })
    expect(unique.check('b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4', 0)).toBeUndefined()
    expect(unique.check('short', 0)).toMatch(/16 to 256/)
  })

  it('a challenge id is bound to one closed mandate and expires', () => {
    const c = createChallengeIds(Buffer.alloc(32, 3), 600)
    const id = c.issue('ref-1', 100)
    expect(c.check(id, 'ref-1', 200)).toBeUndefined()
    expect(c.check(id, 'ref-2', 200)).toMatch(/another mandate/)
    expect(c.check(id, 'ref-1', 701)).toMatch(/expired/)
  })
})

describe('parseAp2Config', () => {
  const user = generateEs256KeyPair().publicJwk
  const key = generateReceiptKey()
  const base = {
    receiptKey: { x: key.x, y: key.y, d: { env: 'AP2_RECEIPT_KEY_D' } },
    trust: { users: [{ jwk: { kty: 'EC', crv: 'P-256', x: user.x, y: user.y } }] },
    merchants: [{ merchantId: 'm1', payee: { id: 'merchant_1', name: 'Demo' }, checkoutKeys: [{ kid: 'merchant-key-1', jwk: { kty: 'EC', crv: 'P-256', x: user.x, y: user.y } }] }],
    stepUp: { amountAtLeast: { USD: '10000' }, otpCode: '123' },
  }

  it('applies defaults and resolves secrets from env', async () => {
    const o = parseAp2Config(base, { AP2_RECEIPT_KEY_D: key.d })
    expect(o).toMatchObject({ basePath: '/ap2', receiptKey: { d: key.d, x: key.x }, clockSkewSeconds: 300, maxPresentationAgeSeconds: 900, stepUp: { amountAtLeast: { USD: '10000' }, maxAttempts: 3 } })
    expect(await o.stepUp!.otp.verify({ challengeId: 'c', code: '123' })).toBe(true)
  })

  it('names the wrong field: a private member in a trusted key, a missing env var, an unknown field', () => {
    expect(() => parseAp2Config({ ...base, trust: { users: [{ jwk: { kty: 'EC', crv: 'P-256', x: key.x, y: key.y, d: key.d } }] } }, { AP2_RECEIPT_KEY_D: key.d })).toThrow(/ap2.trust.users.0.jwk/)
    expect(() => parseAp2Config(base, {})).toThrow(/AP2_RECEIPT_KEY_D is not set/)
    expect(() => parseAp2Config({ ...base, surprise: 1 }, { AP2_RECEIPT_KEY_D: key.d })).toThrow(/additional properties/)
  })
})
