import { expect } from 'vitest'
import { openStore, type StoreConfig } from '../open.js'
import type { RaceAttemptResult } from './idempotencyRace.js'

/**
 * The acceptance criteria of the idempotency race: across all processes exactly one attempt
 * claimed the key (and executed: exactly one intent exists, the one it created); every other
 * attempt got a replay naming that intent or `in_flight`; afterwards the key replays it.
 */
export async function expectOneExecution(perProcess: RaceAttemptResult[][], intentIds: string[], config: StoreConfig): Promise<void> {
  const all = perProcess.flat()
  expect(perProcess.every((r) => r.length > 0)).toBe(true)
  expect(all.length).toBeGreaterThanOrEqual(200)
  expect(all.filter((r) => r.kind === 'error' || r.kind === 'conflict')).toEqual([])
  const claimed = all.filter((r) => r.kind === 'claimed')
  expect(claimed).toHaveLength(1)
  const winner = claimed[0]!.intentId
  expect(intentIds).toEqual([winner])
  for (const r of all) {
    if (r.kind === 'replay') expect(r).toEqual({ kind: 'replay', status: 201, intentId: winner })
    else if (r.kind === 'in_flight') expect(r.retryAfterMs).toBeGreaterThanOrEqual(1000)
    else expect(r.kind).toBe('claimed')
  }
  // Once the winner completed, the key replays its response to anyone.
  const store = openStore(config)
  try {
    const late = await store.claimIdempotencyKey({
      scope: 'agent:race POST /v1/intents',
      key: 'race-key',
      fingerprint: 'a'.repeat(64),
      owner: 'late',
      now: new Date(),
      leaseMs: 30_000,
    })
    expect(late.kind).toBe('replay')
    if (late.kind === 'replay') expect(JSON.parse(late.response.body)).toEqual({ id: winner })
  } finally {
    await store.close()
  }
}
