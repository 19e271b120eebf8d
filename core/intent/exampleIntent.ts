import type { PaymentIntent } from './types.js'

/**
 * A complete, schema-valid {@link PaymentIntent}: a USDC-paying agent buying from a CNY Alipay
 * merchant with a locked FX quote (DESIGN, "cross-border agent platforms"). For tests, docs and
 * examples; every call returns a fresh deep copy, so callers may mutate it.
 *
 * @example const bad = exampleIntent(); bad.amount.value = '19.99'
 */
export function exampleIntent(): PaymentIntent {
  return {
    id: 'pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F',
    merchant_id: 'm_shop_1',
    created_at: '2026-11-21T12:00:00.000Z',
    updated_at: '2026-11-21T12:00:05.000Z',
    agent_initiated: true,
    origin: { protocol: 'x402', version: '2', ref: 'req_7f3a' },
    payer: { agent_id: 'agent_42', wallet_id: 'w_1', address: '0x1111111111111111111111111111111111111111' },
    amount: { value: '1990000', asset: 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913' },
    settlement_amount: { value: '1423', asset: 'iso4217:CNY' },
    fx_quote: {
      from: 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913',
      to: 'iso4217:CNY',
      rate: '7.15',
      source: 'sandbox',
      expires_at: '2026-11-21T12:05:00.000Z',
    },
    line_items: [{ id: 'sku_1', title: 'Search API call', quantity: 1, unit_amount: { value: '1990000', asset: 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913' } }],
    totals: [{ type: 'total', amount: { value: '1990000', asset: 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913' } }],
    instrument: { type: 'evm.eip3009', ref: '0x' + 'ab'.repeat(32), network: 'eip155:8453' },
    authorization: { type: 'x402.signature', verified_at: '2026-11-21T12:00:01.000Z', constraints: { max_amount: '1990000' } },
    status: 'succeeded',
    route: {
      rail: 'alipay',
      endpoint: 'sandbox',
      idempotency_key: 'pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F:settle',
      attempts: [{ rail: 'alipay', at: '2026-11-21T12:00:02.000Z', outcome: 'succeeded', duration_ms: 120 }],
    },
    settlement: { rail: 'alipay', reference: '2026112122001400000000000001', settled_at: '2026-11-21T12:00:03.000Z' },
    refunds: [],
    metadata: { order: 'A-1' },
    version: 4,
  }
}
