/**
 * STUN server addresses from configuration: IP literals or DNS host names,
 * resolved to the IP addresses the STUN client sends to.
 */

import { lookup as dnsLookup } from 'node:dns/promises'
import { AbortError } from '@libp2p/interface'
import { NAT_DNS_MAX_ADDRESSES_PER_NAME, NAT_DNS_TIMEOUT_MS, NAT_MAX_STUN_SERVERS } from '../../constants.ts'
import { addressKey, canonicalHost, ipFamily } from '../ip.ts'
import type { StunServerAddress } from './client.ts'
import type { AbortOptions, Logger } from '@libp2p/interface'

/** a configured STUN server: `host` is an IP address or a DNS host name */
export interface StunServerName {
  host: string
  port: number
}

/** one answer of a DNS lookup, as `dns.promises.lookup(host, { all: true })` gives them */
export interface LookupAddress {
  address: string
  family: number
}

export interface ResolveStunServersOptions extends AbortOptions {
  /**
   * keep only addresses of this family: the family of the socket that
   * will send (classify IPv4 and IPv6 separately)
   */
  family?: 4 | 6
  /** how long to wait for one name, in ms (default NAT_DNS_TIMEOUT_MS) */
  timeoutMs?: number
  /** addresses kept per name (default NAT_DNS_MAX_ADDRESSES_PER_NAME) */
  maxAddressesPerName?: number
  /** servers returned at most (default NAT_MAX_STUN_SERVERS) */
  maxServers?: number
  /**
   * the DNS lookup of one name, both families (default
   * `dns.promises.lookup(host, { all: true })`, the system resolver)
   */
  lookup?(host: string): Promise<LookupAddress[]>
  /** where names that fail and servers that are left out are reported */
  log?: Logger
}

/**
 * The IP addresses to send STUN to, in the order given: IP literals as they
 * are, host names looked up (both families, in parallel, each bounded by
 * `timeoutMs`; at most `maxAddressesPerName` of `family` kept per name).
 * Repeats, other families, invalid ports, names that fail or time out, and
 * servers beyond `maxServers` are left out and logged. Only an abort
 * rejects (AbortError, at once).
 */
export async function resolveStunServers (servers: readonly StunServerName[], options: ResolveStunServersOptions = {}): Promise<StunServerAddress[]> {
  const signal = options.signal
  const log = options.log
  const maxPerName = options.maxAddressesPerName ?? NAT_DNS_MAX_ADDRESSES_PER_NAME
  const maxServers = options.maxServers ?? NAT_MAX_STUN_SERVERS
  const lookup = options.lookup ?? defaultLookup
  const timeoutMs = options.timeoutMs ?? NAT_DNS_TIMEOUT_MS
  signal?.throwIfAborted()

  const perEntry = await Promise.all(servers.map(async server => resolveOne(server, { ...options, lookup, timeoutMs, maxPerName })))
  const seen = new Set<string>()
  const out: StunServerAddress[] = []

  for (const server of perEntry.flat()) {
    const key = addressKey(server)

    if (seen.has(key)) {
      continue
    }

    seen.add(key)
    out.push(server)
  }

  if (out.length > maxServers) {
    log?.('using %d of %d STUN servers: %s left out', maxServers, out.length, out.slice(maxServers).map(s => `${s.host}:${s.port}`).join(', '))
  }

  return out.slice(0, maxServers)
}

interface ResolveOneOptions extends ResolveStunServersOptions {
  lookup(host: string): Promise<LookupAddress[]>
  timeoutMs: number
  maxPerName: number
}

async function resolveOne (server: StunServerName, options: ResolveOneOptions): Promise<StunServerAddress[]> {
  const { log, signal } = options
  const host = unbracket(String(server.host ?? '').trim())

  if (!isPort(server.port)) {
    log?.('STUN server %s:%s left out: the port must be 1..65535', host, server.port)
    return []
  }

  const literal = ipFamily(host)

  if (literal != null) {
    if (options.family != null && literal !== options.family) {
      log?.('STUN server %s:%d left out: IPv%d, the socket is IPv%d', host, server.port, literal, options.family)
      return []
    }

    return [{ host: canonicalHost(host), port: server.port }]
  }

  if (host === '') {
    log?.('STUN server with an empty host left out')
    return []
  }

  try {
    const answers = await bounded(options.lookup(host), options.timeoutMs, signal)
    const addresses = answers
      .map(a => a.address)
      .filter(a => {
        const family = ipFamily(a)
        return family != null && (options.family == null || family === options.family)
      })
      .map(a => canonicalHost(a))
    const kept = [...new Set(addresses)].slice(0, options.maxPerName)

    if (kept.length === 0) {
      log?.('STUN server %s has no IPv%s address', host, options.family ?? '4/6')
    }

    return kept.map(address => ({ host: address, port: server.port }))
  } catch (err: any) {
    if (signal?.aborted === true) {
      throw err
    }

    log?.('could not resolve STUN server %s, left out of this run - %s', host, err?.message ?? String(err))
    return []
  }
}

async function defaultLookup (host: string): Promise<LookupAddress[]> {
  return dnsLookup(host, { all: true })
}

function isPort (port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 0xffff
}

/** `[::1]` → `::1` (host names and other literals unchanged) */
function unbracket (host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

/**
 * The promise's value, or a rejection after `ms` (the lookup itself cannot
 * be cancelled: its late answer is ignored), or AbortError at once when the
 * signal aborts; no timer or listener is left behind
 */
async function bounded<T> (promise: Promise<T>, ms: number, signal?: AbortSignal): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  let onAbort: (() => void) | undefined

  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => { reject(new Error(`no answer within ${ms} ms`)) }, ms)
        onAbort = () => { reject(new AbortError('Resolving the STUN servers was aborted')) }
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    ])
  } finally {
    clearTimeout(timer)

    if (onAbort != null) {
      signal?.removeEventListener('abort', onAbort)
    }
  }
}
