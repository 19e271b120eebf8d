import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { compileToken, serializeArtifact, TOKEN_ARTIFACT_PATH } from './compile.js'

// Drift check: the committed artifact must be what the committed source compiles to. This is
// the one test that runs solc-js (about 1.5–3 s); everything else uses the committed artifact.
describe('token artifact (drift check, runs solc ~2 s)', () => {
  it('sandbox/chain/artifacts/AgentswitchUSD.json equals a fresh compile of the source', () => {
    const fresh = serializeArtifact(compileToken())
    const committed = readFileSync(TOKEN_ARTIFACT_PATH, 'utf8')
    // On failure: npx tsx sandbox/chain/compile.ts, then commit the artifact.
    expect(committed).toBe(fresh)
  }, 30_000)
})
