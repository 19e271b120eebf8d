import type { RailAdapter, RailOutcome } from '../rails/port.js'

/**
 * A scripted FAKE rail for testing the pipeline's decisions (the real rails, Alipay sandbox and
 * anvil, are exercised by their own tests). Each `settle` / `query` call takes the next scripted
 * outcome; a scripted `Error` is thrown (an unknown outcome). Every call is recorded.
 */
export function createScriptedFakeRail(script: { settle?: Array<RailOutcome | Error>; query?: Array<RailOutcome | Error> }): RailAdapter & {
  calls: Array<{ op: 'settle' | 'query'; idempotencyKey: string; reference?: string | undefined }>
} {
  const settle = [...(script.settle ?? [])]
  const query = [...(script.query ?? [])]
  const calls: Array<{ op: 'settle' | 'query'; idempotencyKey: string; reference?: string | undefined }> = []
  const next = (list: Array<RailOutcome | Error>, op: string): RailOutcome => {
    const v = list.shift()
    if (v === undefined) throw new Error(`fake rail: no scripted ${op} outcome left`)
    if (v instanceof Error) throw v
    return v
  }
  return {
    rail: 'fake',
    instruments: ['alipay.agreement', 'evm.eip3009'],
    calls,
    async settle(p) {
      calls.push({ op: 'settle', idempotencyKey: p.idempotencyKey })
      return next(settle, 'settle')
    },
    async query(p) {
      calls.push({ op: 'query', idempotencyKey: p.idempotencyKey, reference: p.reference })
      return next(query, 'query')
    },
  }
}
