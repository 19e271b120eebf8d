/**
 * Child process of the idempotency race (see `idempotencyRace.ts`): opens the store named in
 * `RACE_CONFIG`, says `ready`, waits for `go` on stdin, then fires every attempt at once. An
 * attempt that claims the key "executes the operation": it inserts an intent and completes the
 * key with a response naming it. Prints one `RESULT <json>` line and exits.
 */
import { randomUUID } from 'node:crypto'
import { createInterface } from 'node:readline'
import { buildCreateEvent, buildIntent } from '../../testing/builders.js'
import { openStore, type StoreConfig } from '../open.js'
import type { ClaimIdempotencyResult } from '../port.js'
import type { RaceAttemptResult } from './idempotencyRace.js'

interface RaceConfig {
  store: StoreConfig
  scope: string
  key: string
  fingerprint: string
  attempts: number
  leaseMs: number
}

const config = JSON.parse(process.env['RACE_CONFIG'] ?? '') as RaceConfig
const store = openStore(config.store)

async function attempt(): Promise<RaceAttemptResult> {
  const owner = randomUUID()
  let claim: ClaimIdempotencyResult
  try {
    claim = await store.claimIdempotencyKey({ scope: config.scope, key: config.key, fingerprint: config.fingerprint, owner, now: new Date(), leaseMs: config.leaseMs })
  } catch (err) {
    return { kind: 'error', message: String(err) }
  }
  switch (claim.kind) {
    case 'claimed': {
      const intent = buildIntent({ merchant_id: 'm_race' })
      const r = await store.insertIntent({ intent, event: buildCreateEvent(intent) })
      if (!r.ok) return { kind: 'error', message: `insert failed: ${JSON.stringify(r)}` }
      await store.completeIdempotencyKey({
        scope: config.scope,
        key: config.key,
        owner,
        now: new Date(),
        response: { status: 201, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: intent.id }) },
      })
      return { kind: 'claimed', intentId: intent.id }
    }
    case 'replay':
      return { kind: 'replay', status: claim.response.status, intentId: (JSON.parse(claim.response.body) as { id: string }).id }
    case 'in_flight':
      return { kind: 'in_flight', retryAfterMs: claim.retryAfterMs }
    case 'conflict':
      return { kind: 'conflict' }
  }
}

// Warm up (connections, prepared statements) so the burst is a burst.
await store.ping()
process.stdout.write('ready\n')
const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  if (line.trim() !== 'go') continue
  const results = await Promise.all(Array.from({ length: config.attempts }, () => attempt()))
  process.stdout.write(`RESULT ${JSON.stringify(results)}\n`)
  break
}
lines.close()
await store.close()
