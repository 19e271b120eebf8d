/**
 * The `payment-identifier` extension (digest §9, spec `extensions/payment_identifier.md`): the
 * client's idempotency key. New id → processed; same id + same payload → the first answer again;
 * same id + another payload → 409; `required: true` and no id → 400. Claims live in the store's
 * idempotency table, so they hold across gateway instances.
 */
import { createHash, randomUUID } from 'node:crypto'
import type { Store, StoredResponse } from '../../../core/store/port.js'
import { canonicalJson } from '../../../core/util/canonicalJson.js'
import type { HttpAnswer } from './pricedRoutes/types.js'
import type { ExtensionDeclaration } from './v2/wire.js'

export const PAYMENT_IDENTIFIER = 'payment-identifier'
const ID = /^[A-Za-z0-9_-]{16,128}$/

/** The declaration a 402 carries (the SDK's `declarePaymentIdentifierExtension`). */
export function declarePaymentIdentifier(required: boolean): ExtensionDeclaration {
  return {
    info: { required },
    schema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: { required: { type: 'boolean' }, id: { type: 'string', minLength: 16, maxLength: 128, pattern: '^[a-zA-Z0-9_-]+$' } },
      required: ['required'],
    },
  }
}

/** The id a payload carries: absent, well-formed, or malformed. */
export function paymentIdOf(extensions: Record<string, unknown> | undefined): { kind: 'none' } | { kind: 'id'; id: string } | { kind: 'invalid'; message: string } {
  const ext = extensions?.[PAYMENT_IDENTIFIER] as { info?: { id?: unknown } } | undefined
  const id = ext?.info?.id
  if (id === undefined) return { kind: 'none' }
  if (typeof id !== 'string' || !ID.test(id)) return { kind: 'invalid', message: 'payment-identifier id must be 16-128 characters of [A-Za-z0-9_-]' }
  return { kind: 'id', id }
}

/** SHA-256 of the canonical JSON of a payload: "the same payload" whatever the key order. */
export function payloadFingerprint(payload: unknown): string {
  return createHash('sha256').update(canonicalJson(payload)).digest('hex')
}

/** The outcome of claiming an id. */
export type PaymentIdClaim =
  | { kind: 'claimed'; complete(answer: HttpAnswer): Promise<void>; release(): Promise<void> }
  | { kind: 'replay'; answer: HttpAnswer }
  | { kind: 'conflict' }
  | { kind: 'in_flight'; retryAfterMs: number }

/**
 * Claim `id` in `scope` for a payload. Stored answers keep their exact bytes (base64 in the
 * store); 5xx answers are released, never stored.
 */
export async function claimPaymentId(store: Store, p: { scope: string; id: string; fingerprint: string; leaseMs: number }): Promise<PaymentIdClaim> {
  const owner = randomUUID()
  const r = await store.claimIdempotencyKey({ scope: p.scope, key: p.id, fingerprint: p.fingerprint, owner, now: new Date(), leaseMs: p.leaseMs })
  switch (r.kind) {
    case 'replay':
      return { kind: 'replay', answer: fromStored(r.response) }
    case 'conflict':
      return { kind: 'conflict' }
    case 'in_flight':
      return { kind: 'in_flight', retryAfterMs: r.retryAfterMs }
    case 'claimed':
      return {
        kind: 'claimed',
        async complete(answer) {
          if (answer.status >= 500) return store.releaseIdempotencyKey({ scope: p.scope, key: p.id, owner })
          await store.completeIdempotencyKey({ scope: p.scope, key: p.id, owner, response: toStored(answer), now: new Date() })
        },
        release: () => store.releaseIdempotencyKey({ scope: p.scope, key: p.id, owner }),
      }
  }
}

function toStored(a: HttpAnswer): StoredResponse {
  return { status: a.status, headers: a.headers, body: a.body.toString('base64') }
}

function fromStored(s: StoredResponse): HttpAnswer {
  return { status: s.status, headers: { ...s.headers, 'idempotent-replayed': 'true' }, body: Buffer.from(s.body, 'base64') }
}
