import type { CounterGroup, Metrics } from '@libp2p/interface'

/**
 * Counters shared by every socket of one transport
 */
export interface SocketMetrics {
  /** datagrams dropped by the demultiplexer or a handler, by reason */
  droppedDatagrams: CounterGroup
  /** sockets opened and closed */
  sockets: CounterGroup
  /** sends the kernel refused */
  sendErrors: CounterGroup
}

export function createSocketMetrics (metrics?: Metrics): SocketMetrics | undefined {
  if (metrics == null) {
    return undefined
  }

  return {
    droppedDatagrams: metrics.registerCounterGroup('libp2p_udx_dropped_datagrams_total', {
      label: 'reason',
      help: 'Datagrams dropped by the udx socket layer, by reason'
    }),
    sockets: metrics.registerCounterGroup('libp2p_udx_sockets_total', {
      label: 'event',
      help: 'udx sockets opened and closed'
    }),
    sendErrors: metrics.registerCounterGroup('libp2p_udx_send_errors_total', {
      label: 'event',
      help: 'Datagrams the kernel refused to send'
    })
  }
}
