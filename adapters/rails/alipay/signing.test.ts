import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { AlipaySdk } from 'alipay-sdk'
import { describe, expect, it } from 'vitest'
import * as sandboxCrypto from '../../../sandbox/alipay/crypto.js'
import { parseV3Authorization, renderV2 } from '../../../sandbox/alipay/protocols.js'
import { loadPrivateKey, loadPublicKey } from './keys.js'
import { intentIdFromOutTradeNo, outTradeNoFor, requestNoFor } from './refs.js'
import {
  beijingTimestamp,
  beijingToIso,
  rawTopLevelMembers,
  rsa2Sign,
  rsa2Verify,
  signAntom,
  signV3Request,
  v2SignContent,
  verifyAntom,
  verifyNotification,
  verifyV2Response,
} from './signing.js'
import { testKeys } from './testing.js'

const keys = testKeys()
const appPriv = loadPrivateKey(keys.appPrivateKeyPem)
const appPub = loadPublicKey(keys.appPublicKeyPem)
const aliPriv = loadPrivateKey(keys.alipayPrivateKeyPem)
const aliPub = loadPublicKey(keys.alipayPublicKeyPem)
const sdk = new AlipaySdk({ appId: keys.appId, privateKey: keys.appPrivateKeyPem, alipayPublicKey: keys.alipayPublicKeyPem })

describe('v2 request signing, with alipay-sdk as the oracle', () => {
  it('signs exactly the string alipay-sdk signs (same bytes, same signature)', () => {
    const order = sdk.sdkExecute('alipay.trade.pay', {
      notifyUrl: 'http://127.0.0.1/notify',
      bizContent: { outTradeNo: 'T-1', totalAmount: '88.88', subject: '测试 & 100% off', agreementParams: { agreementNo: '2021' } },
    })
    const params = Object.fromEntries(order.split('&').map((kv) => kv.split('=').map(decodeURIComponent) as [string, string]))
    expect(params['biz_content']).toBe('{"out_trade_no":"T-1","total_amount":"88.88","subject":"测试 & 100% off","agreement_params":{"agreement_no":"2021"}}')
    const content = v2SignContent(params)
    expect(content.startsWith('app_id=9021000000000001&biz_content={"out_trade_no":"T-1"')).toBe(true)
    expect(content).toContain('&sign_type=RSA2&timestamp=')
    // RSASSA-PKCS1-v1_5 is deterministic: equal strings give equal signatures.
    expect(rsa2Sign(content, appPriv)).toBe(params['sign'])
  })

  it('drops empty values (like the real gateway) and sorts by code unit', () => {
    expect(v2SignContent({ b: '2', a: '1', sign: 'x', empty: '', B: '3', u: undefined })).toBe('B=3&a=1&b=2')
  })
})

describe('v2 response verification', () => {
  const envelope = (obj: Record<string, unknown>) => renderV2('alipay_trade_query_response', obj, aliPriv).body

  it('verifies the raw `_response` text (with Alipay\'s `\\/` escapes); alipay-sdk agrees', () => {
    const raw = envelope({ code: '10000', msg: 'Success', qr_code: 'https://qr.alipay.com/bax0', note: 'say "hi" {x}' })
    expect(raw).toContain('https:\\/\\/qr.alipay.com')
    const r = verifyV2Response(raw, 'alipay.trade.query', aliPub)
    expect(r).toMatchObject({ ok: true, key: 'alipay_trade_query_response', body: { code: '10000', qr_code: 'https://qr.alipay.com/bax0', note: 'say "hi" {x}' } })
    const sign = (JSON.parse(raw) as { sign: string }).sign
    expect(() => sdk.checkResponseSign(raw, 'alipay_trade_query_response', sign, 't')).not.toThrow()
  })

  it('rejects a tampered, unsigned or re-serialised answer', () => {
    const raw = envelope({ code: '10000', msg: 'Success', total_amount: '1.00', url: 'https://x/y' })
    expect(verifyV2Response(raw.replace('"1.00"', '"9.00"'), 'alipay.trade.query', aliPub)).toMatchObject({ ok: false, reason: 'bad_signature' })
    // Re-serialising drops the `\/` escapes: the bytes differ, so the signature must not verify.
    const parsed = JSON.parse(raw) as Record<string, unknown>
    expect(verifyV2Response(JSON.stringify(parsed), 'alipay.trade.query', aliPub)).toMatchObject({ ok: false, reason: 'bad_signature' })
    expect(verifyV2Response('{"alipay_trade_query_response":{"code":"10000"}}', 'alipay.trade.query', aliPub)).toMatchObject({ ok: false, reason: 'unsigned' })
    expect(verifyV2Response('{"other_response":{"code":"10000"},"sign":"x"}', 'alipay.trade.query', aliPub)).toMatchObject({ ok: false, reason: 'no_envelope' })
    expect(verifyV2Response('<html>502</html>', 'alipay.trade.query', aliPub)).toMatchObject({ ok: false, reason: 'unparsable' })
    expect(verifyV2Response(raw, 'alipay.trade.query', appPub)).toMatchObject({ ok: false, reason: 'bad_signature' })
  })

  it('finds top-level members without re-serialising (nested, escaped, whitespace)', () => {
    const m = rawTopLevelMembers(' { "a" : {"b":"}\\"{","c":[1,{"d":2}]} , "sign":"s+/=", "n": -1.5e3, "t":true } ')!
    expect(m.get('a')).toBe('{"b":"}\\"{","c":[1,{"d":2}]}')
    expect(m.get('sign')).toBe('"s+/="')
    expect(m.get('n')).toBe('-1.5e3')
    expect(m.get('t')).toBe('true')
    expect(rawTopLevelMembers('[1]')).toBeUndefined()
    expect(rawTopLevelMembers('{"a":"unterminated}')).toBeUndefined()
  })
})

describe('notification verification, with alipay-sdk checkNotifySignV2 as the oracle', () => {
  const form = {
    notify_time: '2026-11-21 12:00:00',
    notify_type: 'trade_status_sync',
    notify_id: 'n1',
    app_id: keys.appId,
    charset: 'utf-8',
    version: '1.0',
    sign_type: 'RSA2',
    trade_no: '2026112122001400000000000001',
    out_trade_no: 'pi_X',
    trade_status: 'TRADE_SUCCESS',
    total_amount: '88.88',
    subject: '100% off & more',
    passback_params: 'a%3Db',
  }
  it('rsaCheckV1 (signed without sign and sign_type) and V2 (with sign_type) both verify; tampering fails', () => {
    const v1 = { ...form, sign: rsa2Sign(v2SignContent(form, ['sign', 'sign_type']), aliPriv) }
    const v2 = { ...form, sign: rsa2Sign(v2SignContent(form, ['sign']), aliPriv) }
    for (const f of [v1, v2]) {
      expect(verifyNotification(f, aliPub)).toBe(true)
      expect(sdk.checkNotifySignV2(f)).toBe(true)
      const bad = { ...f, total_amount: '0.01' }
      expect(verifyNotification(bad, aliPub)).toBe(false)
      expect(sdk.checkNotifySignV2(bad)).toBe(false)
    }
    expect(verifyNotification({ ...form }, aliPub)).toBe(false)
    expect(verifyNotification(v1, appPub)).toBe(false)
  })
})

describe('v3 and Antom signatures interoperate with the sandbox implementation', () => {
  it('v3 Authorization verifies with the sandbox parser; a changed body does not', () => {
    const h = signV3Request({ appId: keys.appId, key: appPriv, httpMethod: 'POST', pathAndQuery: '/v3/alipay/trade/query', body: '{"out_trade_no":"T"}', nonce: 'n-1', timestampMs: 1_700_000_000_000 })
    const auth = parseV3Authorization(h)!
    expect(auth.fields).toEqual({ app_id: keys.appId, nonce: 'n-1', timestamp: '1700000000000' })
    const content = (body: string) => `${auth.authString}\nPOST\n/v3/alipay/trade/query\n${body}\n`
    expect(sandboxCrypto.rsa2Verify(content('{"out_trade_no":"T"}'), auth.sign, appPub)).toBe(true)
    expect(sandboxCrypto.rsa2Verify(content('{"out_trade_no":"U"}'), auth.sign, appPub)).toBe(false)
  })

  it('Antom Signature headers (url-encoded base64) verify both ways', () => {
    const args = { httpMethod: 'POST', path: '/ams/api/v1/payments/pay', clientId: 'C1', time: '2026-11-21T12:08:56.253+08:00', body: '{"a":1}' }
    const ours = signAntom({ ...args, key: appPriv })
    expect(ours).toMatch(/^algorithm=RSA256,keyVersion=1,signature=[A-Za-z0-9%._-]+$/)
    const parsed = sandboxCrypto.parseAntomSignatureHeader(ours)!
    expect(sandboxCrypto.rsa2Verify(sandboxCrypto.antomSignContent('POST', args.path, 'C1', args.time, args.body), parsed.signature, appPub)).toBe(true)
    const theirs = sandboxCrypto.antomSignatureHeader(sandboxCrypto.rsa2Sign(sandboxCrypto.antomSignContent('POST', args.path, 'C1', args.time, args.body), aliPriv))
    expect(verifyAntom({ ...args, header: theirs, key: aliPub })).toBe(true)
    expect(verifyAntom({ ...args, body: '{"a":2}', header: theirs, key: aliPub })).toBe(false)
    expect(verifyAntom({ ...args, header: theirs.replace('RSA256', 'RSA'), key: aliPub })).toBe(false)
    expect(verifyAntom({ ...args, header: undefined, key: aliPub })).toBe(false)
  })
})

describe('keys: PKCS#1 and PKCS#8, PEM or bare base64', () => {
  const pk = createPrivateKey(keys.appPrivateKeyPem)
  const forms = {
    pkcs1Pem: pk.export({ type: 'pkcs1', format: 'pem' }).toString(),
    pkcs8Pem: pk.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pkcs1Bare: pk.export({ type: 'pkcs1', format: 'der' }).toString('base64'),
    pkcs8Bare: pk.export({ type: 'pkcs8', format: 'der' }).toString('base64'),
    oneLinePem: `-----BEGIN RSA PRIVATE KEY-----${pk.export({ type: 'pkcs1', format: 'der' }).toString('base64')}-----END RSA PRIVATE KEY-----`,
  }
  it.each(Object.entries(forms))('%s signs verifiably', (_name, input) => {
    const k = loadPrivateKey(input)
    expect(rsa2Verify('hello', rsa2Sign('hello', k), appPub)).toBe(true)
  })

  it('explicit formats, public keys in SPKI / PKCS#1 / bare, and refusals without key material in the message', () => {
    expect(() => loadPrivateKey(forms.pkcs1Bare, 'pkcs1')).not.toThrow()
    expect(() => loadPrivateKey(forms.pkcs8Bare, 'pkcs8')).not.toThrow()
    const pub = createPublicKey(keys.appPublicKeyPem)
    for (const p of [keys.appPublicKeyPem, pub.export({ type: 'spki', format: 'der' }).toString('base64'), pub.export({ type: 'pkcs1', format: 'pem' }).toString()]) {
      expect(rsa2Verify('x', rsa2Sign('x', appPriv), loadPublicKey(p))).toBe(true)
    }
    const secret = forms.pkcs8Bare.slice(0, 200) + 'garbage'
    let msg = ''
    try {
      loadPrivateKey(secret)
    } catch (e) {
      msg = (e as Error).message
      expect(e).toMatchObject({ code: 'GW_CONFIG_INVALID' })
    }
    expect(msg).not.toContain(forms.pkcs8Bare.slice(20, 60))
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
    expect(() => loadPrivateKey(small)).toThrow(/at least 2048/)
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    expect(() => loadPrivateKey(ec)).toThrow(/expected an RSA key/)
  })
})

describe('Beijing time and idempotency keys', () => {
  it('formats Beijing time whatever the process time zone, and parses it back', () => {
    const d = new Date('2026-11-21T16:30:05.000Z')
    expect(beijingTimestamp(d)).toBe('2026-11-22 00:30:05')
    expect(beijingToIso('2026-11-22 00:30:05')).toBe('2026-11-21T16:30:05.000Z')
    expect(beijingToIso('22/11/2026')).toBeUndefined()
  })

  it('out_trade_no: the intent id for settlement keys, the key itself when it fits, a hash otherwise', () => {
    const id = 'pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F'
    expect(outTradeNoFor(`${id}:settle`)).toBe(id)
    expect(intentIdFromOutTradeNo(id)).toBe(id)
    expect(outTradeNoFor(`${id}:settle`, 'gw1_')).toBe(`gw1_${id}`)
    expect(intentIdFromOutTradeNo(`gw1_${id}`, 'gw1_')).toBe(id)
    expect(outTradeNoFor('order_42')).toBe('order_42')
    const hashed = outTradeNoFor('weird key/with:chars')
    expect(hashed).toMatch(/^h[0-9a-f]{40}$/)
    expect(outTradeNoFor('weird key/with:chars')).toBe(hashed)
    expect(outTradeNoFor(hashed)).not.toBe(hashed)
    expect(outTradeNoFor('x'.repeat(65))).toMatch(/^h[0-9a-f]{40}$/)
    expect(intentIdFromOutTradeNo(hashed)).toBeUndefined()
    expect(requestNoFor(`${id}:refund:1`)).toMatch(/^h[0-9a-f]{40}$/)
    expect(requestNoFor('R1')).toBe('R1')
  })
})
