import { b64uJson, hashB64u, isObject, parseCompactJws, type CompactJws, type SdHashAlg } from './jose.js'

/**
 * SD-JWT (RFC 9901) and Delegate SD-JWT chains as AP2 v0.2 uses them (digest §4.1, §4.4 step 1):
 * `<root>~<disc>…~~<hop>~<disc>…~`, hops separated by `~~`. Pure functions; malformed input comes
 * back as a reason string, never as an exception.
 */

/** One segment of a chain: a JWT and its disclosures, plus the exact text the hashes cover. */
export interface ChainSegment {
  /** The segment as it appears in the chain, with the trailing `~` restored on non-final segments. */
  text: string
  jwt: CompactJws
  /** Disclosures as presented (base64url strings), in order. */
  disclosures: string[]
  /**
   * Whether this is a plain JWT with no `~` at all: only allowed as the last segment (a trailing
   * KB-JWT, the "dSD-JWT+KB" shape of the DPC sample).
   */
  plainJwt: boolean
}

/** Longest chain accepted (root + hops); deeper re-delegation is out of AP2 v0.2's scope. */
export const MAX_CHAIN_SEGMENTS = 5
/** Largest compact chain accepted (characters). A checkout JWT inside makes chains a few KB. */
export const MAX_CHAIN_LENGTH = 256 * 1024
/** Most disclosures per segment. */
export const MAX_DISCLOSURES = 200

/**
 * Split a compact chain into segments. Each non-final segment gets back the `~` that the `~~`
 * separator consumed, so `sd_hash` can be recomputed over exactly what the next hop signed.
 */
export function splitChain(compact: string): ChainSegment[] | string {
  if (typeof compact !== 'string' || compact.length === 0) return 'the mandate chain is empty'
  if (compact.length > MAX_CHAIN_LENGTH) return `the mandate chain is longer than ${MAX_CHAIN_LENGTH} characters`
  if (!/^[A-Za-z0-9_.~-]+$/.test(compact)) return 'the mandate chain contains characters outside base64url, "." and "~"'
  const raw = compact.split('~~')
  if (raw.length > MAX_CHAIN_SEGMENTS) return `the chain has ${raw.length} segments; at most ${MAX_CHAIN_SEGMENTS} are accepted`
  const out: ChainSegment[] = []
  for (let i = 0; i < raw.length; i++) {
    const last = i === raw.length - 1
    let text = raw[i]!
    if (text.length === 0) return `segment ${i} is empty`
    if (!last) text += '~'
    const plainJwt = !text.includes('~')
    if (plainJwt && !last) return `segment ${i} is not an SD-JWT (no "~")`
    const parts = text.split('~')
    const jwtText = parts[0]!
    // `a~b~` splits into [a, b, ""]: the final empty string is the terminator, not a disclosure.
    const disclosures = plainJwt ? [] : parts.slice(1, -1)
    if (!plainJwt && parts[parts.length - 1] !== '') return `segment ${i} does not end with "~"`
    if (disclosures.some((d) => d.length === 0)) return `segment ${i} has an empty disclosure`
    if (disclosures.length > MAX_DISCLOSURES) return `segment ${i} has more than ${MAX_DISCLOSURES} disclosures`
    const jwt = parseCompactJws(jwtText)
    if (typeof jwt === 'string') return `segment ${i}: ${jwt}`
    out.push({ text, jwt, disclosures, plainJwt })
  }
  return out
}

/** `sd_hash` of a segment: H over the JWT, its disclosures and the trailing `~`. */
export function sdHashOf(segment: ChainSegment, alg: SdHashAlg): string {
  return hashB64u(alg, segment.text)
}

/** `issuer_jwt_hash` of a segment: H over its JWT only (later hops may redact disclosures). */
export function issuerJwtHashOf(segment: ChainSegment, alg: SdHashAlg): string {
  return hashB64u(alg, segment.jwt.compact)
}

interface Disclosure {
  digest: string
  /** `[salt, name, value]` (object property) or `[salt, value]` (array element). */
  name?: string | undefined
  value: unknown
  used: boolean
}

/**
 * Resolve an SD-JWT payload with its disclosures (RFC 9901 §7.1): every `_sd` digest with a
 * disclosure becomes a claim, every `{"...": digest}` array element with one becomes its value,
 * undisclosed digests (decoys or redactions) disappear. Fails when a disclosure is malformed,
 * referenced twice or not at all, of the wrong form for where it is referenced, would overwrite a
 * claim, or when a digest repeats. `_sd_alg` is removed from the top level.
 */
export function resolveDisclosures(payload: Record<string, unknown>, disclosures: readonly string[], alg: SdHashAlg): Record<string, unknown> | string {
  const byDigest = new Map<string, Disclosure>()
  for (const [i, d] of disclosures.entries()) {
    const decoded = b64uJson(d)
    if (!Array.isArray(decoded)) return `disclosure ${i} is not a base64url JSON array`
    if (typeof decoded[0] !== 'string') return `disclosure ${i} has no string salt`
    const digest = hashB64u(alg, d)
    if (byDigest.has(digest)) return `disclosure ${i} is duplicated`
    if (decoded.length === 3) {
      const name = decoded[1]
      if (typeof name !== 'string') return `disclosure ${i}: the claim name is not a string`
      if (name === '_sd' || name === '...') return `disclosure ${i}: the claim name ${name} is reserved`
      byDigest.set(digest, { digest, name, value: decoded[2], used: false })
    } else if (decoded.length === 2) {
      byDigest.set(digest, { digest, value: decoded[1], used: false })
    } else {
      return `disclosure ${i} has ${decoded.length} elements; 2 or 3 are allowed`
    }
  }
  const seen = new Set<string>()
  const claim = (digest: unknown): Disclosure | undefined | string => {
    if (typeof digest !== 'string') return 'a digest is not a string'
    if (seen.has(digest)) return `the digest ${digest} appears twice`
    seen.add(digest)
    const d = byDigest.get(digest)
    if (!d) return undefined
    d.used = true
    return d
  }
  const walk = (node: unknown, depth: number): unknown => {
    if (depth > 32) throw new SdError('the payload is nested too deeply')
    if (Array.isArray(node)) {
      const out: unknown[] = []
      for (const el of node) {
        if (isObject(el) && Object.hasOwn(el, '...')) {
          if (Object.keys(el).length !== 1) throw new SdError('an array element with "..." has other members')
          const d = claim(el['...'])
          if (typeof d === 'string') throw new SdError(d)
          if (!d) continue // undisclosed: removed
          if (d.name !== undefined) throw new SdError(`an object-property disclosure (${d.name}) is referenced as an array element`)
          out.push(walk(d.value, depth + 1))
        } else out.push(walk(el, depth + 1))
      }
      return out
    }
    if (isObject(node)) {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(node)) {
        if (k === '_sd') continue
        out[k] = walk(v, depth + 1)
      }
      const sd = node['_sd']
      if (sd !== undefined) {
        if (!Array.isArray(sd)) throw new SdError('_sd is not an array')
        for (const digest of sd) {
          const d = claim(digest)
          if (typeof d === 'string') throw new SdError(d)
          if (!d) continue
          if (d.name === undefined) throw new SdError('an array-element disclosure is referenced from _sd')
          if (Object.hasOwn(out, d.name)) throw new SdError(`the disclosed claim ${d.name} already exists`)
          out[d.name] = walk(d.value, depth + 1)
        }
      }
      return out
    }
    return node
  }
  let resolved: Record<string, unknown>
  try {
    resolved = walk(payload, 0) as Record<string, unknown>
  } catch (e) {
    if (e instanceof SdError) return e.message
    throw e
  }
  for (const d of byDigest.values()) if (!d.used) return `a disclosure (digest ${d.digest}) is not referenced by the payload`
  delete resolved['_sd_alg']
  return resolved
}

class SdError extends Error {}
