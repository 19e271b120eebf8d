import { describe, expect, it } from 'vitest'
import { ContractFunctionRevertedError, HttpRequestError, RpcRequestError, TimeoutError } from 'viem'
import { BreakerOpenError, BreakerRegistry } from '../shared/breakers.js'
import { errorText, isEndpointFailure, isRevert, provablyNotSent, RpcPool, shortError } from './rpcPool.js'
import { eip3009Abi } from './abi.js'

const url = 'https://rpc.example.com/v2/SECRET_API_KEY'
const refused = (): HttpRequestError =>
  new HttpRequestError({ url, cause: new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) }) })

// The rules that decide failover and "never broadcast twice", on viem's real error classes.
describe('RPC error classification', () => {
  it('connection refused: an endpoint failure that provably sent nothing (safe to try the next URL)', () => {
    expect(isEndpointFailure(refused())).toBe(true)
    expect(provablyNotSent(refused())).toBe(true)
    expect(provablyNotSent(new BreakerOpenError('evm:x'))).toBe(true)
  })

  it('a timeout or a 5xx: an endpoint failure that may have reached the node (never re-broadcast)', () => {
    const timeout = new TimeoutError({ body: { method: 'eth_sendRawTransaction' }, url })
    expect(isEndpointFailure(timeout)).toBe(true)
    expect(provablyNotSent(timeout)).toBe(false)
    const bad = new HttpRequestError({ url, status: 502, details: 'bad gateway' })
    expect(isEndpointFailure(bad)).toBe(true)
    expect(provablyNotSent(bad)).toBe(false)
    expect(provablyNotSent(new HttpRequestError({ url, status: 429 }))).toBe(true)
  })

  it('a JSON-RPC answer is the node working: not a failure; a revert is a verdict', () => {
    const revert = new RpcRequestError({ body: {}, error: { code: 3, message: 'execution reverted: AgentswitchUSD: authorization is expired' }, url })
    expect(isEndpointFailure(revert)).toBe(false)
    expect(isRevert(revert)).toBe(true)
    expect(errorText(revert)).toMatch(/authorization is expired/)
    expect(isRevert(new ContractFunctionRevertedError({ abi: eip3009Abi, functionName: 'transferWithAuthorization', message: 'x' }))).toBe(true)
    const internal = new RpcRequestError({ body: {}, error: { code: -32603, message: 'internal error' }, url })
    expect(isEndpointFailure(internal)).toBe(false)
    expect(isRevert(internal)).toBe(false)
    const funds = new RpcRequestError({ body: {}, error: { code: -32000, message: 'insufficient funds for gas * price + value' }, url })
    expect(isRevert(funds)).toBe(false)
  })

  it('messages and breaker names never carry the RPC URL’s path, query or credentials', () => {
    expect(shortError(refused())).not.toContain('SECRET_API_KEY')
    expect(shortError(new Error(`request to ${url} failed`))).toBe('request to <rpc-url> failed')
    const breakers = new BreakerRegistry()
    const pool = new RpcPool({ network: 'eip155:8453', urls: ['https://user:pw@rpc.example.com/v2/SECRET_API_KEY?x=1', 'http://127.0.0.1:8545'], breakers, pollingIntervalMs: 50 })
    expect(pool.endpoints.map((e) => e.label)).toEqual(['eip155:8453/0:rpc.example.com', 'eip155:8453/1:127.0.0.1:8545'])
    expect(breakers.list().map((b) => b.name)).toEqual(['evm:eip155:8453/0:rpc.example.com', 'evm:eip155:8453/1:127.0.0.1:8545'])
    breakers.shutdown()
  })
})
