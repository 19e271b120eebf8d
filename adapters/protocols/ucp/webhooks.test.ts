import { describe, expect, it } from 'vitest'
import { verifyRequestSignature } from './httpSignatures.js'
import { generateUcpKey } from './testing.js'
import { orderWebhookRow, ucpOutboxDestination } from './webhooks.js'

describe('UCP outbox destinations', () => {
  const key = generateUcpKey('wh-1')
  const keys = [{ kid: 'wh-1', kty: 'EC', crv: 'P-256', x: key.x, y: key.y }]

  it('encodes the platform webhook_url in the row and resolves only ucp: names, signing with our key', () => {
    const row = orderWebhookRow({ webhookUrl: 'https://platform.example/hooks/order?p=1', order: { id: 'ord_1' }, orderId: 'ord_1', kind: 'created', now: new Date() })
    expect(row.destination).toBe('ucp:https://platform.example/hooks/order?p=1')
    const resolve = ucpOutboxDestination({ key, profileUrl: 'https://gw.example/.well-known/ucp' })
    expect(resolve('merchant:m1')).toBeUndefined()
    const d = resolve(row.destination)!
    expect(d.url).toBe('https://platform.example/hooks/order?p=1')
    const body = Buffer.from(row.payload)
    const headers = d.sign({ url: d.url, body, headers: { 'Content-Type': 'application/json', 'Webhook-Id': row.id, 'Webhook-Timestamp': '1700000000', 'Agentswitch-Signature': 't=1,v1=x' } })
    expect(headers['Agentswitch-Signature']).toBeUndefined()
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
    const v = verifyRequestSignature({ method: 'POST', authority: 'platform.example', path: '/hooks/order', query: '?p=1', header: (n) => lower[n], body, keys })
    expect(v).toMatchObject({ ok: true, keyid: 'wh-1' })
    const tampered = verifyRequestSignature({ method: 'POST', authority: 'platform.example', path: '/hooks/order', query: '?p=1', header: (n) => (n === 'webhook-id' ? 'evt_other' : lower[n]), body, keys })
    expect(tampered).toMatchObject({ ok: false, code: 'signature_invalid' })
  })
})
