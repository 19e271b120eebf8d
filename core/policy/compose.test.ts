import { describe, expect, it } from 'vitest'
import type { PaymentIntent } from '../intent/types.js'
import { buildIntent } from '../testing/builders.js'
import { composePolicies } from './compose.js'
import type { PolicyContext, PolicyDecision, PolicyEngine } from './port.js'

/** An engine that answers `decision` and records what it was asked (a reserving engine when it allows). */
function engine(decision: PolicyDecision | ((ctx?: PolicyContext) => PolicyDecision)) {
  const calls = { evaluated: [] as Array<PolicyContext | undefined>, released: [] as string[], settled: [] as string[] }
  const e: PolicyEngine = {
    async evaluate(_intent: PaymentIntent, ctx?: PolicyContext) {
      calls.evaluated.push(ctx)
      return typeof decision === 'function' ? decision(ctx) : decision
    },
    async release(intent) {
      calls.released.push(intent.id)
    },
    async settled(intent) {
      calls.settled.push(intent.id)
    },
  }
  return { e, calls }
}

describe('composePolicies', () => {
  const intent = buildIntent()

  it('allows when every engine allows, concatenating reasons and merging constraints', async () => {
    const a = engine({ decision: 'allow', reasons: ['wallet_ok'], constraints: { wallet_id: 'wal_1' } })
    const b = engine({ decision: 'allow', reasons: ['risk_ok'], constraints: { risk_score: 3 } })
    const d = await composePolicies([a.e, b.e]).evaluate(intent)
    expect(d).toEqual({ decision: 'allow', reasons: ['wallet_ok', 'risk_ok'], constraints: { wallet_id: 'wal_1', risk_score: 3 } })
    expect(a.calls.released).toEqual([])
  })

  it('deny wins over review and allow; earlier reservations are released; later engines do not run', async () => {
    const a = engine({ decision: 'allow', reasons: ['wallet_ok'] })
    const r = engine({ decision: 'review', reasons: ['risk_velocity'] })
    const d = engine({ decision: 'deny', reasons: ['token_used'] })
    const z = engine({ decision: 'allow' })
    const out = await composePolicies([a.e, r.e, d.e, z.e]).evaluate(intent)
    expect(out).toEqual({ decision: 'deny', reasons: ['token_used', 'risk_velocity', 'wallet_ok'] })
    expect(a.calls.released).toEqual([intent.id])
    expect(z.calls.evaluated).toHaveLength(0)
  })

  it('review wins over allow and releases every allowing engine, including those after the review', async () => {
    const a = engine({ decision: 'allow', reasons: ['wallet_ok'] })
    const r = engine({ decision: 'review', reasons: ['wallet_approval_threshold'] })
    const b = engine({ decision: 'allow', reasons: ['risk_ok'] })
    const out = await composePolicies([a.e, r.e, b.e]).evaluate(intent)
    expect(out).toEqual({ decision: 'review', reasons: ['wallet_approval_threshold', 'wallet_ok', 'risk_ok'] })
    expect(a.calls.released).toEqual([intent.id])
    expect(b.calls.released).toEqual([intent.id])
    expect(r.calls.released).toEqual([])
  })

  it('passes the context (approved) to every engine', async () => {
    const a = engine((ctx) => (ctx?.approved ? { decision: 'allow', reasons: ['approved'] } : { decision: 'review', reasons: ['threshold'] }))
    const p = composePolicies([a.e])
    expect(await p.evaluate(intent)).toEqual({ decision: 'review', reasons: ['threshold'] })
    expect(await p.evaluate(intent, { approved: true })).toEqual({ decision: 'allow', reasons: ['approved'] })
    expect(a.calls.evaluated).toEqual([undefined, { approved: true }])
  })

  it('an engine that throws releases the earlier reservations and rethrows', async () => {
    const a = engine({ decision: 'allow' })
    const boom: PolicyEngine = {
      async evaluate() {
        throw new Error('risk store down')
      },
    }
    await expect(composePolicies([a.e, boom]).evaluate(intent)).rejects.toThrow('risk store down')
    expect(a.calls.released).toEqual([intent.id])
  })

  it('forwards release and settled to every engine that has them; no engines allows', async () => {
    const a = engine({ decision: 'allow' })
    const plain: PolicyEngine = { evaluate: async () => ({ decision: 'allow' }) }
    const p = composePolicies([a.e, plain])
    await p.release?.(intent)
    await p.settled?.(intent)
    expect(a.calls.released).toEqual([intent.id])
    expect(a.calls.settled).toEqual([intent.id])
    expect(await composePolicies([]).evaluate(intent)).toEqual({ decision: 'allow', reasons: [] })
  })
})
