/**
 * One call for a full NAT behaviour discovery: plan, run, classify
 */

import { networkInterfaces } from 'node:os'
import { InvalidParametersError } from '@libp2p/interface'
import { NAT_ALLOCATION_FRESH_SOCKETS } from '../../constants.ts'
import { classify } from '../classify/classify.ts'
import { StunClient } from '../stun/client.ts'
import { createProbePlan } from './plan.ts'
import { runProbePlan } from './runner.ts'
import type { ProbePlanOptions } from './plan.ts'
import type { BindingClient, DiscoveryResult } from './runner.ts'
import type { DatagramSocket } from '../../socket/datagram-socket.ts'
import type { ClassifyOptions } from '../classify/classify.ts'
import type { NatProfile } from '../nat-profile.ts'
import type { Observation } from '../observation.ts'
import type { StunClientInit, StunServerAddress } from '../stun/client.ts'
import type { AbortOptions, ComponentLogger } from '@libp2p/interface'

export interface DiscoverNatOptions<S extends DatagramSocket = DatagramSocket> extends AbortOptions, ProbePlanOptions {
  /** clock in ms (default Date.now) */
  now?(): number
  /** earlier observations (e.g. from identify) to classify together with the new ones */
  observations?: readonly Observation[]
  classify?: Omit<ClassifyOptions, 'now' | 'filtering'>
  /**
   * Bind a fresh socket of the main socket's address family (for example
   * `() => pool.bindExtra('0.0.0.0')`). With it, discovery takes
   * port-allocation samples from `allocationSockets` fresh sockets (default
   * NAT_ALLOCATION_FRESH_SOCKETS) and runs the filtering tests on fresh
   * sockets (`filteringSockets`, default true). Every socket it opens is
   * closed with `closeSocket` before discovery returns or rejects.
   */
  openSocket?(): S | Promise<S>
  /** close a socket that `openSocket` made (for example `s => pool.closeSocket(s)`) */
  closeSocket?(socket: S): unknown
  /** logger for the STUN clients on fresh sockets (required with `openSocket`) */
  logger?: ComponentLogger
  /**
   * settings of the STUN clients on fresh sockets (default: the client
   * defaults, including the process-wide pacer that keeps all our STUN
   * clients at 10 new transactions per second)
   */
  freshClient?: Omit<StunClientInit, 'socket'>
}

export interface NatDiscovery extends DiscoveryResult {
  profile: NatProfile
  /** ms from start to the classified profile (clock of `now`) */
  durationMs: number
}

/**
 * Run the RFC 5780 test plan against `servers` and classify the result.
 *
 * `client` runs on the main socket: the socket whose public mapping we
 * classify and punch from. See DiscoverNatOptions.openSocket for fresh
 * sockets.
 */
export async function discoverNat<S extends DatagramSocket = DatagramSocket> (client: BindingClient, servers: readonly StunServerAddress[], options: DiscoverNatOptions<S> = {}): Promise<NatDiscovery> {
  const now = options.now ?? Date.now
  const started = now()
  const { openSocket, closeSocket } = options
  const canOpen = openSocket != null && closeSocket != null
  const plan = createProbePlan(servers, {
    rfc5780: options.rfc5780,
    allocationSockets: options.allocationSockets ?? (canOpen ? NAT_ALLOCATION_FRESH_SOCKETS : 0),
    filteringSockets: options.filteringSockets ?? canOpen
  })
  const opened = new Map<string, Promise<{ socket: S, client: StunClient }>>()
  const logger = options.logger

  if (canOpen && logger == null) {
    throw new InvalidParametersError('discoverNat needs a logger for the STUN clients on fresh sockets')
  }

  const clientFor = canOpen
    ? async (name: string): Promise<BindingClient> => {
      let entry = opened.get(name)

      if (entry == null) {
        entry = Promise.resolve(openSocket()).then(socket => ({
          socket,
          client: new StunClient({ logger: logger as ComponentLogger }, { ...options.freshClient, socket })
        }))
        opened.set(name, entry)
      }

      return (await entry).client
    }
    : undefined

  try {
    const result = await runProbePlan(client, plan, { signal: options.signal, now, clientFor })
    const profile = classify([...(options.observations ?? []), ...result.observations], {
      ...options.classify,
      localHosts: options.classify?.localHosts ?? ownAddresses(),
      now: now(),
      filtering: result.filtering
    })

    return { ...result, profile, durationMs: now() - started }
  } finally {
    if (canOpen) {
      await Promise.allSettled([...opened.values()].map(async entry => {
        const { socket, client } = await entry
        client.close()
        await closeSocket(socket)
      }))
    }
  }
}

/**
 * This host's interface addresses (for telling "no NAT" on sockets bound to
 * 0.0.0.0 or ::)
 */
function ownAddresses (): string[] {
  try {
    return Object.values(networkInterfaces()).flatMap(list => (list ?? []).map(i => i.address))
  } catch {
    return []
  }
}
