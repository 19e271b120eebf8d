import { CheckFailure } from '../assert.js'
import { message, type EvidenceRecorder, type Exchange } from '../http.js'
import type { Redactor } from '../redact.js'
import { startLocalServer, type LocalServer, type ReceivedRequest } from './localServer.js'

/** One request the receiver got. */
export interface Delivery extends ReceivedRequest {
  /** 1, 2, 3… in arrival order. */
  seq: number
  text: string
  /** The body parsed as JSON, when it is JSON. */
  json: unknown
  /** The status the receiver answered. */
  answered: number
}

/** Decides the answer to a delivery: a status, or `undefined` to let the next policy (finally 200) decide. */
export type ResponsePolicy = (delivery: Delivery) => number | undefined

/**
 * A local webhook receiver: accepts POSTs on any path, records every delivery (headers and exact
 * body bytes), and answers 200 unless a policy says otherwise (to test retries). Verifying
 * signatures is the suite's business: each protocol signs differently.
 */
export interface WebhookReceiver {
  /** Base URL, e.g. `http://127.0.0.1:8284`. */
  readonly url: string
  /** An absolute URL on the receiver (`urlFor('/hooks/core')`). */
  urlFor(path: string): string
  /** Every delivery so far, oldest first (the newest 1000). */
  deliveries(): readonly Delivery[]
  /** Add an answer policy; returns a function that removes it. The newest policy is asked first. */
  respond(policy: ResponsePolicy): () => void
  /**
   * The first delivery (already received or arriving later) that matches; recorded in the
   * current check's evidence. Fails the check when none arrives within `timeoutMs`.
   */
  waitFor(predicate: (d: Delivery) => boolean, options: { timeoutMs: number; signal?: AbortSignal | undefined; what?: string | undefined }): Promise<Delivery>
  close(): Promise<void>
}

const KEEP = 1000

/** Start a receiver on `host:port` (port 0 = any free port). */
export async function startWebhookReceiver(options: {
  host: string
  port: number
  redactor: Redactor
  evidence: { current: EvidenceRecorder | undefined }
}): Promise<WebhookReceiver> {
  const received: Delivery[] = []
  const policies: ResponsePolicy[] = []
  const waiters = new Set<(d: Delivery) => void>()
  let seq = 0

  const server: LocalServer = await startLocalServer(options, (req, res) => {
    const text = req.body.toString('utf8')
    let json: unknown
    try {
      json = text ? JSON.parse(text) : undefined
    } catch {
      json = undefined
    }
    const d: Delivery = { ...req, seq: ++seq, text, json, answered: 200 }
    for (let i = policies.length - 1; i >= 0; i--) {
      const status = policies[i]!(d)
      if (status !== undefined) {
        d.answered = status
        break
      }
    }
    received.push(d)
    if (received.length > KEEP) received.splice(0, received.length - KEEP)
    res.writeHead(d.answered, { 'content-type': 'application/json' }).end(JSON.stringify({ received: d.answered < 300 }))
    for (const w of [...waiters]) w(d)
  })

  const toExchange = (d: Delivery): Exchange => ({
    direction: 'inbound',
    startedAt: d.receivedAt.toISOString(),
    durationMs: 0,
    request: { method: d.method, url: options.redactor.url(`${server.url}${d.path}`), ...message(options.redactor, d.headers, d.body) },
    response: { status: d.answered, ...message(options.redactor, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify({ received: d.answered < 300 }))) },
  })

  return {
    url: server.url,
    urlFor: (path) => `${server.url}${path.startsWith('/') ? '' : '/'}${path}`,
    deliveries: () => received,
    respond(policy) {
      policies.push(policy)
      return () => {
        const i = policies.indexOf(policy)
        if (i >= 0) policies.splice(i, 1)
      }
    },
    waitFor(predicate, { timeoutMs, signal, what }) {
      const recorder = options.evidence.current
      const found = received.find(predicate)
      if (found) {
        recorder?.add(toExchange(found))
        return Promise.resolve(found)
      }
      return new Promise<Delivery>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer)
          waiters.delete(onDelivery)
          signal?.removeEventListener('abort', onAbort)
        }
        const onDelivery = (d: Delivery): void => {
          if (!predicate(d)) return
          done()
          recorder?.add(toExchange(d))
          resolve(d)
        }
        const onAbort = (): void => {
          done()
          reject(new CheckFailure(`aborted while waiting for ${what ?? 'a webhook delivery'}`))
        }
        const timer = setTimeout(() => {
          done()
          reject(new CheckFailure(`no ${what ?? 'matching webhook delivery'} at ${server.url} within ${timeoutMs} ms (${received.length} deliveries received in this run)`))
        }, timeoutMs)
        waiters.add(onDelivery)
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    },
    close: () => server.close(),
  }
}
