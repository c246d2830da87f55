import { PathDeadError } from '../errors.ts'
import { healthTickMs, PathHealth } from './path-health.ts'
import { PathValidator } from './path-validator.ts'
import type { PathRegistry } from './path-handler.ts'
import type { PathState } from './path-health.ts'
import type { PathMessage } from './path-message.ts'
import type { PathAction, PathAddress } from './path-validator.ts'
import type { PathMigratedEvent } from './types.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { RemoteInfo } from '../socket/datagram-socket.ts'
import type { CounterGroup, Logger } from '@libp2p/interface'
import type { UDXStream } from 'udx-native'

/**
 * Where a movable path sends to, and how it moves (MovablePath)
 */
export interface MovableRemote {
  remote(): PathAddress
  moveTo(to: PathAddress): void
}

/**
 * What a connection with a path key needs for challenges and migration
 */
export interface PathMigrationInit {
  /** the socket the stream is connected on */
  socket: BoundSocket
  /** the peer address the stream's packets go to, and how to move it */
  path: MovableRemote
  registry: PathRegistry
  key: Uint8Array
  localStreamId: number
  remoteStreamId: number
  initiator: boolean
  onMigrated?(event: PathMigratedEvent): void
}

export interface PathMonitorInit {
  stream: UDXStream
  /** > 0; Infinity: no dead verdict (path challenges only) */
  deadTimeoutMs: number
  /** the connection's keepalive interval: path challenges go out this often */
  keepaliveMs: number
  log: Logger
  /** the transport's path events (dead, quiet, migrated, ...) */
  metrics?: CounterGroup
  /** the path is dead: close the connection with this error */
  onDead(err: PathDeadError): void
  migration?: PathMigrationInit
  /** @default performance.now */
  now?(): number
}

/**
 * Watches one connection's path: checks its health every tick (reading the
 * stream's received-packet counter), runs the path challenges of a
 * connection with a path key, moves the path when a validated datagram
 * shows the peer's new address, and reports a dead path once.
 */
export class PathMonitor {
  private readonly stream: UDXStream
  private readonly init: PathMonitorInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly health: PathHealth
  private readonly tickMs: number
  private readonly validator?: PathValidator
  private readonly unregister?: () => void
  private timer?: ReturnType<typeof setTimeout>
  private state: PathState = 'alive'
  private stopped = false
  /** migrations made, for tests and diagnostics */
  migrations = 0

  constructor (init: PathMonitorInit) {
    this.init = init
    this.stream = init.stream
    this.log = init.log
    this.now = init.now ?? (() => performance.now())
    this.tickMs = healthTickMs(init.deadTimeoutMs)
    this.health = new PathHealth({
      deadTimeoutMs: init.deadTimeoutMs,
      tickMs: this.tickMs,
      now: this.now(),
      packets: this.stream.packetsReceived
    })

    const migration = init.migration

    if (migration != null) {
      this.validator = new PathValidator({
        key: migration.key,
        localStreamId: migration.localStreamId,
        remoteStreamId: migration.remoteStreamId,
        initiator: migration.initiator,
        remote: this.streamRemote(),
        challengeIntervalMs: init.keepaliveMs,
        now: this.now
      })
      this.unregister = migration.registry.add(migration.localStreamId, {
        socket: migration.socket,
        receive: (data, message, from) => { this.receive(data, message, from) }
      })
    }

    this.schedule(this.tickMs)
  }

  /** the peer address the connection sends to */
  get remote (): PathAddress {
    return this.streamRemote()
  }

  /** the current health verdict */
  get pathState (): PathState {
    return this.state
  }

  /**
   * Stop every timer and take the connection out of the path registry.
   * Idempotent.
   */
  stop (): void {
    if (this.stopped) {
      return
    }

    this.stopped = true
    clearTimeout(this.timer)
    this.unregister?.()
  }

  private schedule (ms: number): void {
    if (this.stopped) {
      return
    }

    this.timer = setTimeout(() => { this.tick() }, ms)
    // a connection's health must never keep the process alive by itself
    this.timer.unref?.()
  }

  private tick (): void {
    if (this.stopped) {
      return
    }

    const check = this.health.check(this.now(), this.stream.packetsReceived)

    if (check.state === 'dead') {
      const { host, port } = this.streamRemote()
      this.init.metrics?.increment({ dead: true })
      this.fail(new PathDeadError(`Nothing arrived from the peer at ${host}:${port} for ${Math.round(check.silentMs)} ms (dead timeout ${this.init.deadTimeoutMs} ms): the direct path is dead`))
      return
    }

    if (check.state !== this.state) {
      const { host, port } = this.streamRemote()
      this.log('path to %s:%d is %s (silent for %d ms)', host, port, check.state, Math.round(check.silentMs))

      if (check.state === 'quiet') {
        this.init.metrics?.increment({ quiet: true })
      }

      this.state = check.state
    }

    if (this.validator != null) {
      this.run(this.validator.tick(check.state === 'quiet'))
    }

    this.schedule(check.recheck ? 0 : this.tickMs)
  }

  private receive (data: Uint8Array, message: PathMessage, from: RemoteInfo): void {
    if (this.stopped || this.validator == null) {
      return
    }

    this.run(this.validator.receive(data, message, { host: from.host, port: from.port }))
  }

  private run (actions: PathAction[]): void {
    const migration = this.init.migration

    if (migration == null) {
      return
    }

    for (const action of actions) {
      if (this.stopped) {
        return
      }

      if (action.type === 'send') {
        this.init.metrics?.increment({ [`${action.kind}_sent`]: true })
        migration.socket.send(action.datagram, action.to.port, action.to.host).catch((err: Error) => {
          this.log.trace('could not send path %s to %s:%d - %e', action.kind, action.to.host, action.to.port, err)
        })
      } else if (action.type === 'heard') {
        this.health.heard(this.now())
      } else if (action.type === 'drop') {
        migration.socket.drop(action.reason)
      } else {
        this.migrate(action.from, action.to, migration)
      }
    }
  }

  /**
   * Point the path at the peer's validated new address
   */
  private migrate (from: PathAddress, to: PathAddress, migration: PathMigrationInit): void {
    try {
      migration.path.moveTo(to)
    } catch (err: any) {
      this.log('could not move the path from %s:%d to %s:%d - %e', from.host, from.port, to.host, to.port, err)
      this.init.metrics?.increment({ migration_failed: true })
      this.validator?.setRemote(from)
      return
    }

    this.migrations++
    this.init.metrics?.increment({ migrated: true })
    this.log('peer moved from %s:%d to %s:%d, path migrated', from.host, from.port, to.host, to.port)

    try {
      migration.onMigrated?.({ from: { ...from }, to: { ...to } })
    } catch (err: any) {
      this.log.error('onMigrated threw - %e', err)
    }
  }

  private fail (err: PathDeadError): void {
    if (this.stopped) {
      return
    }

    this.state = 'dead'
    this.log('%s', err.message)
    this.stop()
    this.init.onDead(err)
  }

  /** the peer's address (not the loopback relay of a movable path) */
  private streamRemote (): PathAddress {
    return this.init.migration?.path.remote() ?? { host: this.stream.remoteHost ?? '', port: this.stream.remotePort }
  }
}
