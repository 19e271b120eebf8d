import type { Request, Response } from 'express'

/** Who is calling, from a verified API key. */
export interface Principal {
  /** Public id of the key (never the key). */
  keyId: string
  kind: 'admin' | 'merchant' | 'agent'
  /** Merchant or agent id the key acts as. */
  id: string
  scopes: readonly string[]
}

/** Per-request state kept on `res.locals`. */
export interface RequestLocals {
  requestId: string
  principal?: Principal | undefined
}

export function locals(res: Response): RequestLocals {
  return res.locals as RequestLocals
}

/** The raw request body bytes (kept for signature checks; never re-serialise a signed body). */
export function rawBody(req: Request): Buffer | undefined {
  return (req as Request & { rawBody?: Buffer }).rawBody
}
