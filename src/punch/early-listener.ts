import { decodeProbe, encodeProbe } from './probe.ts'
import type { ProbeRouter, ProbeSession } from './probe-router.ts'
import type { ProbeDatagram } from './probe.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { RemoteInfo } from '../socket/datagram-socket.ts'
import type { Logger } from '@libp2p/interface'

/** The first path on which the responder's early probes reached us */
export interface EarlyPath {
  socket: BoundSocket
  remote: RemoteInfo
}

export interface EarlyProbeListenerInit {
  sessionId: Uint8Array
  secret: Uint8Array
  /** the socket our OFFER's candidates belong to: probes elsewhere are ignored */
  mainSocket: BoundSocket
  /** our IPv6 socket, whose candidates OFFER also carries (FEATURE_IPV6_RACE) */
  ipv6Socket?: BoundSocket
  router: ProbeRouter
  /** most acks sent before the session's executor takes over */
  maxAcks: number
  log: Logger
}

/**
 * The initiator's ear between OFFER and its own punch (feature
 * EARLY_PROBES, docs/PROTOCOL.md section 4): a responder that needs no
 * simultaneous start probes as soon as it sends ANSWER, so its probes can
 * arrive before ANSWER does. We authenticate them, ack them (so the
 * responder keeps consent and measures the RTT) and remember the first
 * path; the executor selects it as soon as it starts.
 *
 * It sends nothing but acks, at most `maxAcks`, and only while registered.
 */
export class EarlyProbeListener implements ProbeSession {
  private readonly init: EarlyProbeListenerInit
  private unregister?: () => void
  private acks = 0
  private seq = 0
  found?: EarlyPath

  constructor (init: EarlyProbeListenerInit) {
    this.init = init
    this.unregister = init.router.add(init.sessionId, this)
  }

  receive (data: Uint8Array, _parsed: ProbeDatagram, from: RemoteInfo, socket: BoundSocket): void {
    // throws ProbeAuthenticationError: counted as dropped by the socket
    const probe = decodeProbe(data, { sessionId: this.init.sessionId, secret: this.init.secret, sender: 'responder' })

    if (probe.type !== 'probe' || (socket !== this.init.mainSocket && socket !== this.init.ipv6Socket)) {
      return
    }

    if (this.found == null) {
      this.found = { socket, remote: { ...from } }
      this.init.log('early probe from the responder at %s:%d', from.host, from.port)
    }

    if (this.acks >= this.init.maxAcks) {
      return
    }

    this.acks++
    const ack = encodeProbe({
      type: 'ack',
      sender: 'initiator',
      sessionId: this.init.sessionId,
      seq: (this.seq = (this.seq + 1) >>> 0),
      timestamp: probe.timestamp
    }, this.init.secret)

    socket.send(ack, from.port, from.host).catch((err: Error) => {
      this.init.log.trace('early ack to %s:%d failed - %e', from.host, from.port, err)
    })
  }

  /**
   * Stop listening (the executor registers the session next)
   */
  stop (): EarlyPath | undefined {
    this.unregister?.()
    this.unregister = undefined
    return this.found
  }
}
