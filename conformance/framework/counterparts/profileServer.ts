import { message, type EvidenceRecorder } from '../http.js'
import type { Redactor } from '../redact.js'
import { startLocalServer } from './localServer.js'

/** One document the server serves. */
export interface ServedDocument {
  body: string
  contentType: string
  headers: Readonly<Record<string, string>>
}

/**
 * A local server for documents the target fetches from the runner: a UCP platform (agent)
 * profile, a JWKS, an AP2 agent card. Suites provide the documents; every fetch is recorded in
 * the current check's evidence (inbound), so a report shows that the target really fetched them.
 */
export interface ProfileServer {
  /** Base URL, e.g. `http://127.0.0.1:8285`. */
  readonly url: string
  /** Serve `document` (JSON unless a string with its own content type) at `path`; returns its absolute URL. */
  serve(path: string, document: unknown, options?: { contentType?: string; headers?: Record<string, string> }): string
  /** Stop serving `path` (later fetches get 404). */
  remove(path: string): void
  /** How many times each path was fetched. */
  fetches(path: string): number
  close(): Promise<void>
}

/** Start a profile server on `host:port` (port 0 = any free port). */
export async function startProfileServer(options: {
  host: string
  port: number
  redactor: Redactor
  evidence: { current: EvidenceRecorder | undefined }
}): Promise<ProfileServer> {
  const docs = new Map<string, ServedDocument>()
  const counts = new Map<string, number>()
  const server = await startLocalServer(options, (req, res) => {
    const path = req.path.split('?')[0] ?? '/'
    const doc = req.method === 'GET' || req.method === 'HEAD' ? docs.get(path) : undefined
    counts.set(path, (counts.get(path) ?? 0) + 1)
    const status = doc ? 200 : req.method === 'GET' || req.method === 'HEAD' ? 404 : 405
    const headers = doc ? { 'content-type': doc.contentType, 'cache-control': 'no-store', ...doc.headers } : { 'content-type': 'text/plain' }
    const body = Buffer.from(doc ? doc.body : status === 404 ? 'not found' : 'method not allowed', 'utf8')
    options.evidence.current?.add({
      direction: 'inbound',
      startedAt: req.receivedAt.toISOString(),
      durationMs: 0,
      request: { method: req.method, url: options.redactor.url(`${server.url}${req.path}`), ...message(options.redactor, req.headers, req.body) },
      response: { status, ...message(options.redactor, headers, body) },
    })
    res.writeHead(status, headers).end(req.method === 'HEAD' ? undefined : body)
  })
  return {
    url: server.url,
    serve(path, document, opts = {}) {
      const p = path.startsWith('/') ? path : `/${path}`
      const isText = typeof document === 'string'
      docs.set(p, {
        body: isText ? document : JSON.stringify(document, null, 2),
        contentType: opts.contentType ?? (isText ? 'text/plain; charset=utf-8' : 'application/json'),
        headers: opts.headers ?? {},
      })
      return `${server.url}${p}`
    },
    remove(path) {
      docs.delete(path.startsWith('/') ? path : `/${path}`)
    },
    fetches: (path) => counts.get(path.startsWith('/') ? path : `/${path}`) ?? 0,
    close: () => server.close(),
  }
}
