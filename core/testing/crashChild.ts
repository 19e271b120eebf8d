/**
 * The child of the crash test: submits intents through the core as fast as it can and moves
 * every other one through a transition, printing `ACK <intent id> <seq>` only after the store
 * acknowledged the write. The parent SIGKILLs it at random moments.
 *
 * argv: sqlite <path> | postgres <url> <schema>
 */
import { createAssetRegistry } from '../money/assets.js'
import { submitIntent } from '../pipeline/submitIntent.js'
import { transitionIntent } from '../pipeline/transitionIntent.js'
import { openPostgresStore } from '../store/postgres/postgresStore.js'
import { openSqliteStore } from '../store/sqlite/sqliteStore.js'
import type { Store } from '../store/port.js'

const [driver, a, b] = process.argv.slice(2)
const store: Store = driver === 'sqlite' ? openSqliteStore({ path: a! }) : openPostgresStore({ url: a!, schema: b!, poolSize: 8 })
await store.migrate()
const deps = { store, assets: createAssetRegistry(), destinationsFor: () => ['merchant:crash'] }
process.stdout.write('READY\n')

let i = 0
// A few concurrent writers, so kills land in the middle of group commits and pool traffic.
await Promise.all(
  Array.from({ length: 4 }, async () => {
    for (;;) {
      const n = i++
      const { intent } = await submitIntent(deps, {
        merchantId: 'crash',
        actor: 'agent:crash',
        origin: { protocol: 'gateway', version: 'v1', ref: `crash-${process.pid}-${n}` },
        payer: { agent_id: 'crash' },
        amount: { value: String(100 + n), asset: 'iso4217:USD' },
        instrument: { type: 'alipay.agreement' },
        authorization: { type: 'gateway.api_key' },
      })
      process.stdout.write(`ACK ${intent.id} 1\n`)
      if (n % 2 === 0) {
        await transitionIntent(deps, { intentId: intent.id, event: 'authorize', actor: 'system:crash-test' })
        process.stdout.write(`ACK ${intent.id} 2\n`)
      }
    }
  }),
)
