import { request } from 'undici'
import { createOutboxWorker, type OutboxDestination, type OutboxWorker, type OutboxWorkerOptions, type WebhookTransport } from '../../../core/events/outboxWorker.js'
import { WEBHOOK_SIGNATURE_HEADER } from '../../../core/events/webhookSignature.js'
import type { OutboxInsert, Store } from '../../../core/store/port.js'
import { newId } from '../../../core/util/ids.js'
import { signMessage, contentDigest, type EcPrivateJwk } from './httpSignatures.js'

/**
 * UCP order webhooks through the gateway outbox (DIGEST §8, §11).
 *
 * An outbox row's destination is `ucp:<webhook_url>`: the platform's `config.webhook_url` from
 * the negotiated order capability, captured when the checkout was created (so delivery never
 * re-fetches a profile and an order always goes to the platform that placed it). The payload is
 * the full order entity; the transport signs it with **our** key (RFC 9421 over
 * `@method @authority @path content-digest content-type ucp-agent webhook-id webhook-timestamp`)
 * and adds `UCP-Agent: profile="<our /.well-known/ucp>"`. `Webhook-Id` and `Webhook-Timestamp`
 * come from the outbox worker (same id and timestamp format on every retry of one event).
 */
export const UCP_DESTINATION_PREFIX = 'ucp:'

/** Placeholder HMAC secret: the worker requires one; the UCP transport removes the HMAC header. */
const UNUSED_SECRET = 'ucp-rfc9421-signed'

/** The outbox row for one order snapshot. */
export function orderWebhookRow(params: { webhookUrl: string; order: unknown; orderId: string; kind: 'created' | 'updated'; now: Date }): OutboxInsert {
  return {
    id: newId('evt'),
    type: `ucp.order.${params.kind}`,
    destination: `${UCP_DESTINATION_PREFIX}${params.webhookUrl}`,
    payload: JSON.stringify(params.order),
    aggregateId: params.orderId,
    createdAt: params.now,
  }
}

/** Resolve `ucp:<url>` destinations (`undefined` for other names, which belong to the gateway). */
export function resolveUcpDestination(name: string, timeoutMs?: number): OutboxDestination | undefined {
  if (!name.startsWith(UCP_DESTINATION_PREFIX)) return undefined
  const url = name.slice(UCP_DESTINATION_PREFIX.length)
  return { url, secret: UNUSED_SECRET, ...(timeoutMs === undefined ? {} : { timeoutMs }) }
}

/** Plain undici POST (the worker's own transport is internal). */
export const undiciTransport: WebhookTransport = async (req) => {
  const res = await request(req.url, { method: 'POST', headers: req.headers, body: req.body, headersTimeout: req.timeoutMs, bodyTimeout: req.timeoutMs })
  await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined)
  return { statusCode: res.statusCode }
}

/**
 * The UCP headers of one webhook: the worker's headers minus its HMAC header, plus `UCP-Agent`
 * (our profile), `Content-Digest` over the exact bytes sent and our RFC 9421 signature over
 * `@method @authority @path [@query] content-digest content-type ucp-agent webhook-id webhook-timestamp`.
 */
export function ucpWebhookHeaders(params: { key: EcPrivateJwk; profileUrl: string; url: string; headers: Record<string, string>; body: Uint8Array; now?: Date | undefined }): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(params.headers)) if (k.toLowerCase() !== WEBHOOK_SIGNATURE_HEADER.toLowerCase()) headers[k] = v
  headers['UCP-Agent'] = `profile="${params.profileUrl}"`
  headers['Content-Digest'] = contentDigest(params.body)
  const u = new URL(params.url)
  const get = (n: string): string | undefined => Object.entries(headers).find(([k]) => k.toLowerCase() === n)?.[1]
  const components = ['@method', '@authority', '@path', ...(u.search ? ['@query'] : []), 'content-digest', 'content-type', 'ucp-agent', 'webhook-id', 'webhook-timestamp']
  const created = Math.floor((params.now ?? new Date()).getTime() / 1000)
  return { ...headers, ...signMessage(components, { method: 'POST', authority: u.host, path: u.pathname, query: u.search, header: get }, params.key, created) }
}

/** A transport that turns every request of a worker into a signed UCP webhook (see {@link ucpWebhookHeaders}). */
export function ucpSigningTransport(params: { key: EcPrivateJwk; profileUrl: string; next?: WebhookTransport | undefined; clock?: (() => Date) | undefined }): WebhookTransport {
  const next = params.next ?? undiciTransport
  return async (req) => next({ ...req, headers: ucpWebhookHeaders({ key: params.key, profileUrl: params.profileUrl, url: req.url, headers: req.headers, body: req.body, now: params.clock?.() }) })
}

/**
 * For the gateway's own worker once `OutboxDestination` has a per-destination `sign` hook (the
 * proposed core change, see README): resolves `ucp:<url>` and signs with our key. Other names
 * return `undefined` (the gateway resolves them).
 */
export function ucpOutboxDestination(params: { key: EcPrivateJwk; profileUrl: string; timeoutMs?: number | undefined }): (name: string) => (OutboxDestination & { sign(req: { url: string; headers: Record<string, string>; body: Buffer }): Record<string, string> }) | undefined {
  return (name) => {
    const d = resolveUcpDestination(name, params.timeoutMs)
    return d && { ...d, sign: (req) => ucpWebhookHeaders({ key: params.key, profileUrl: params.profileUrl, url: req.url, headers: req.headers, body: req.body }) }
  }
}

/**
 * A worker delivering only UCP rows. Use it where the gateway's own worker is off (tests), or
 * until `createGateway` routes `ucp:` destinations itself (see README wiring): the gateway worker
 * treats an unknown destination as dead, so only one of them may run against a store.
 */
export function createUcpWebhookWorker(params: {
  store: Pick<Store, 'claimOutbox' | 'recordOutboxAttempt'>
  key: EcPrivateJwk
  profileUrl: string
  options?: Partial<OutboxWorkerOptions> | undefined
}): OutboxWorker {
  return createOutboxWorker(
    { store: params.store, resolveDestination: (n) => resolveUcpDestination(n), transport: ucpSigningTransport({ key: params.key, profileUrl: params.profileUrl }) },
    { workerId: `ucp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, pollIntervalMs: 200, backoff: { baseMs: 200, maxMs: 5_000 }, ...params.options },
  )
}
