import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { signWebhook } from '../core/events/webhookSignature.js'
import { verifyAgentswitchSignature } from './core/helpers.js'
import { fromRoot } from './framework/paths.js'
import { PROTOCOLS } from './framework/types.js'
import { loadSuites, protocolsWithSuites, SUITE_LOADERS } from './suites.js'

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : []
  })
}

describe('the conformance tool is black-box', () => {
  /**
   * No known debt: every suite builds its requests (SD-JWT mandate chains, JOSE, RFC 9421
   * signatures, EIP-3009 authorisations) with its own implementation, so a bug shared by the
   * gateway's signer and verifier cannot hide from the suite. Test files may import the gateway to
   * cross-check the two. A new entry here needs a reason and an issue.
   */
  const KNOWN: ReadonlyMap<string, string> = new Map()

  it('no non-test file under conformance/ imports the gateway (core/, adapters/, sandbox/), beyond the listed debt', () => {
    const offenders: string[] = []
    for (const f of tsFiles(fromRoot('conformance')).filter((f) => !f.endsWith('.test.ts'))) {
      for (const m of readFileSync(f, 'utf8').matchAll(/(?:from|import\()\s*'([^']+)'/g)) {
        const rel = relative(fromRoot(), f)
        const known = [...KNOWN.keys()].some((k) => rel.startsWith(k) && m[1]!.includes(`/adapters/protocols/${k.split('/')[1]}/`))
        if (/^(\.\.\/)+(core|adapters|sandbox)\//.test(m[1]!) && !known) offenders.push(`${rel} imports ${m[1]}`)
      }
    }
    expect(offenders).toEqual([])
  })

  it('verifies webhook signatures from the documented recipe, agreeing with the gateway signer', () => {
    const body = Buffer.from('{"id":"evt_1","type":"payment_intent.created"}')
    const now = 1_700_000_000
    const header = signWebhook({ secret: 'whsec_x', body, timestamp: now })
    expect(verifyAgentswitchSignature(header, body, 'whsec_x', now)).toEqual({ ok: true, t: now })
    expect(verifyAgentswitchSignature(header, Buffer.from(`${body.toString()} `), 'whsec_x', now)).toMatchObject({ ok: false, reason: expect.stringContaining('no v1 signature matches') })
    expect(verifyAgentswitchSignature(header, body, 'whsec_other', now)).toMatchObject({ ok: false })
    expect(verifyAgentswitchSignature(header, body, 'whsec_x', now + 301)).toMatchObject({ ok: false, reason: expect.stringContaining('300 s') })
    expect(verifyAgentswitchSignature(undefined, body, 'whsec_x', now)).toMatchObject({ ok: false })
  })
})

describe('the suite registry', () => {
  it('registers every conformance/<protocol>/suite.ts, and nothing else', () => {
    const folders = PROTOCOLS.filter((p) => {
      try {
        return statSync(fromRoot('conformance', p, 'suite.ts')).isFile()
      } catch {
        return false
      }
    })
    expect(protocolsWithSuites()).toEqual(folders)
    expect(Object.keys(SUITE_LOADERS).sort()).toEqual([...folders].sort())
  })

  it('every suite loads (its registry passes defineSuite) and ids are unique across suites', async () => {
    const { suites, missing } = await loadSuites(PROTOCOLS)
    expect(suites.map((s) => s.protocol)).toEqual(protocolsWithSuites())
    expect([...suites.map((s) => s.protocol), ...missing].sort()).toEqual([...PROTOCOLS].sort())
    const ids = suites.flatMap((s) => s.requirements.map((r) => r.id))
    expect(new Set(ids).size).toBe(ids.length)
    for (const s of suites) expect(s.requirements.length, s.protocol).toBeGreaterThan(0)
  })
})
