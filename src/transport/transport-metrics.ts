import type { CounterGroup, Metrics } from '@libp2p/interface'

export interface TransportMetrics {
  /** connections established, by direction */
  connections: CounterGroup
  /** failed handshakes and upgrades, by kind */
  handshakeErrors: CounterGroup
  /** dialer events (open, accepted, retry, timeout, abort, refused) */
  dialerEvents: CounterGroup
  /**
   * listener-side handshake events: accept, accept_verified, retry,
   * cookie_valid, cookie_expired, cookie_invalid, source_limited,
   * backlog_full, evicted, expired, reset
   */
  handshakeListenerEvents: CounterGroup
  /** per-connection events of inbound connections (end, abort, reset) */
  listenerEvents: CounterGroup
  /**
   * path health and migration: dead (no datagram within the dead timeout),
   * quiet, challenge_sent, validation_sent, response_sent, migrated,
   * migration_failed
   */
  pathEvents: CounterGroup
}

export function createTransportMetrics (metrics?: Metrics): TransportMetrics | undefined {
  if (metrics == null) {
    return undefined
  }

  return {
    connections: metrics.registerCounterGroup('libp2p_udx_connections_total', {
      label: 'direction',
      help: 'udx connections opened, by direction'
    }),
    handshakeErrors: metrics.registerCounterGroup('libp2p_udx_handshake_errors_total', {
      label: 'error',
      help: 'udx handshakes and upgrades that failed, by kind'
    }),
    dialerEvents: metrics.registerCounterGroup('libp2p_udx_dialer_events_total', {
      label: 'event',
      help: 'udx dialer events by type'
    }),
    handshakeListenerEvents: metrics.registerCounterGroup('libp2p_udx_handshake_listener_events_total', {
      label: 'event',
      help: 'Connection-open handshakes seen by udx listeners: entries admitted, RETRYs sent, cookies checked, OPENs dropped, entries evicted or expired'
    }),
    listenerEvents: metrics.registerCounterGroup('libp2p_udx_listener_events_total', {
      label: 'event',
      help: 'Events of inbound udx connections by type'
    }),
    pathEvents: metrics.registerCounterGroup('libp2p_udx_path_events_total', {
      label: 'event',
      help: 'Path health and migration of udx connections: paths found dead, quiet, path datagrams sent, migrations'
    })
  }
}
