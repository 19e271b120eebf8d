import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import YAML from 'yaml'
import { parseConfig } from '../core/config/load.js'
import { fromRoot } from '../core/util/paths.js'

// No Docker engine runs here: these checks keep the Dockerfile and compose file consistent with
// the CLI and the config schema, which is what can be checked without building an image.
const dockerfile = readFileSync(fromRoot('docker', 'Dockerfile'), 'utf8')
const compose = YAML.parse(readFileSync(fromRoot('docker', 'compose.yaml'), 'utf8')) as {
  services: Record<string, { command?: string[]; environment?: Record<string, string>; healthcheck?: { test: string[] }; build?: { dockerfile: string } }>
}

describe('docker/', () => {
  it('Dockerfile is multi-stage, runs as a non-root user, has a health check on /healthz and starts the CLI', () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2)
    expect(dockerfile).toMatch(/^USER agentswitch$/m)
    expect(dockerfile).toMatch(/^HEALTHCHECK [\s\S]*\/healthz/m)
    expect(dockerfile).toContain('ENTRYPOINT ["node", "bin/agentswitch.js"]')
    expect(dockerfile).toContain('CMD ["serve", "--config", "/etc/agentswitch/gateway.json"]')
    expect(dockerfile).toContain('npm ci')
    // Every COPY source in the build context exists.
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(?:--chown=\S+ )?(.+) \S+$/gm)) {
      for (const src of m[1]!.split(' ')) expect(existsSync(fromRoot(src)), src).toBe(true)
    }
  })

  it('compose runs the gateway with the same command and a config the gateway accepts', () => {
    const gw = compose.services['gateway']!
    expect(gw.build?.dockerfile).toBe('docker/Dockerfile')
    expect(gw.command).toEqual(['serve', '--config', '/etc/agentswitch/gateway.json'])
    expect(gw.healthcheck?.test.join(' ')).toContain('/healthz')
    expect(compose.services['postgres']).toBeDefined()
    const env = Object.fromEntries(Object.keys(gw.environment ?? {}).map((k) => [k, `value-of-${k}-0123456789`]))
    const config = parseConfig(JSON.parse(readFileSync(fromRoot('docker', 'gateway.config.json'), 'utf8')), env, 'docker/gateway.config.json')
    expect(config.store.driver).toBe('postgres')
    expect(config.server.port).toBe(8402)
    // Every secret the config needs is provided by compose.
    expect(() => parseConfig(JSON.parse(readFileSync(fromRoot('docker', 'gateway.config.json'), 'utf8')), {}, 'x')).toThrow(/DATABASE_URL/)
  })
})
