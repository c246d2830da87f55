/**
 * What the nat layer records about our public mapping. Observations are
 * plain data: sources (STUN client, identify, the RFC 5780 runner) make them,
 * the pure classifier turns them into a NatProfile.
 */

import type { TransportAddress } from './nat-profile.ts'

/**
 * - `stun` a plain Binding request to a STUN server
 * - `rfc5780` a Binding request to an RFC 5780 server's alternate address
 * - `identify` a libp2p peer's observed address for our connection
 */
export type ObservationSource = 'stun' | 'identify' | 'rfc5780'

/**
 * One sighting of our mapped address by one observer
 */
export interface Observation {
  /** the server or peer that saw us (where we sent to) */
  observer: TransportAddress
  /** our socket's local address */
  local: TransportAddress
  /** our address as the observer saw it */
  mapped: TransportAddress
  source: ObservationSource
  /** clock time (ms) the observation was made */
  at: number
  /**
   * clock time (ms) our first packet to this observer left the socket, i.e.
   * when the NAT made the mapping; orders port-allocation samples
   * (default `at`)
   */
  sentAt?: number
  /**
   * the request came from a socket bound just for it (and closed after), so
   * the NAT made a new mapping at `sentAt`: a clean port-allocation sample.
   * Such observations do not describe a socket we keep, so they are left
   * out of the profile's public addresses.
   */
  freshSocket?: boolean
}

/**
 * - `received` the server's answer from the changed address got through
 * - `timeout` it did not (after every retransmission)
 * - `unsupported` the server cannot answer from another address
 */
export type FilteringOutcome = 'received' | 'timeout' | 'unsupported'

/**
 * The result of the RFC 5780 filtering tests (section 4.4) against one
 * server from one local socket
 */
export interface FilteringObservation {
  /** the server's primary address the requests went to */
  observer: TransportAddress
  local: TransportAddress
  /** test II: the answer comes from the other IP and other port */
  changeIpAndPort?: FilteringOutcome
  /** test III: the answer comes from the same IP, other port */
  changePort?: FilteringOutcome
  /** clock time (ms) the tests finished */
  at: number
}
